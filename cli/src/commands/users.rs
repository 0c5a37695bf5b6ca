//! `users`, `users:disable`, `users:enable`, `users:promote`, `registration:set`: for
//! admins.

use paas_core::api::{RegistrationSettings, RegistrationUpdate, User, UserUpdate};
use paas_core::{RegistrationMode, Username};

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Step};
use crate::views;

/// `paas users`.
pub(super) fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let value = ctx.api()?.get("/users")?;
    ctx.show(value, |users: Vec<User>| output::data(&views::users(&users)))
}

/// `paas users:disable USER`.
pub(super) fn disable(ctx: &Ctx, username: &str) -> anyhow::Result<()> {
    let update = UserUpdate { disabled: Some(true), ..UserUpdate::default() };
    change(ctx, username, "Disabling", update)
}

/// `paas users:enable USER`.
pub(super) fn enable(ctx: &Ctx, username: &str) -> anyhow::Result<()> {
    let update = UserUpdate { disabled: Some(false), ..UserUpdate::default() };
    change(ctx, username, "Enabling", update)
}

/// `paas users:promote USER`: makes them an admin.
pub(super) fn promote(ctx: &Ctx, username: &str) -> anyhow::Result<()> {
    let update = UserUpdate { admin: Some(true), ..UserUpdate::default() };
    change(ctx, username, "Promoting", update)
}

fn change(ctx: &Ctx, username: &str, verb: &str, update: UserUpdate) -> anyhow::Result<()> {
    let username = Username::parse(username)?;
    let api = ctx.api()?;
    let step = Step::start(format!("{verb} {username}"));
    let _: User = api.patch_as(&format!("/users/{username}"), &update)?;
    step.done("");
    Ok(())
}

/// `paas registration:set MODE`: who may register from now on.
pub(super) fn registration_set(ctx: &Ctx, mode: &str) -> anyhow::Result<()> {
    let mode = RegistrationMode::parse(mode)
        .map_err(|e| CliError::from(e).hint("paas registration:set open|admin_only|disabled"))?;
    let api = ctx.api()?;
    let step = Step::start(format!("Setting registration to {mode}"));
    let update = RegistrationUpdate { mode: mode.as_str().to_owned() };
    let _: RegistrationSettings = api.put_as("/platform/registration", &update)?;
    step.done("");
    Ok(())
}
