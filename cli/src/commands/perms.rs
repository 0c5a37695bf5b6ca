//! `perms`, `perms:add`, `perms:remove`: an app's collaborators.

use paas_core::api::{Collaborator, CollaboratorAdd};
use paas_core::Username;

use super::Ctx;
use crate::output::{self, Step};
use crate::views;

/// `paas perms`: the owner and the collaborators.
pub(super) fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let value = ctx.api()?.get(&format!("/apps/{app}/collaborators"))?;
    ctx.show(value, |collaborators: Vec<Collaborator>| {
        output::say(format!("=== {app} Access"));
        output::data(&views::collaborators(&collaborators))
    })
}

/// `paas perms:add USER`.
pub(super) fn add(ctx: &Ctx, username: &str) -> anyhow::Result<()> {
    let username = Username::parse(username)?;
    let app = ctx.app()?;
    let api = ctx.api()?;
    let step = Step::start(format!("Adding {username} to {app} collaborators"));
    let _: Collaborator = api.post_as(
        &format!("/apps/{app}/collaborators"),
        &CollaboratorAdd { username: username.to_string() },
    )?;
    step.done("");
    Ok(())
}

/// `paas perms:remove USER`.
pub(super) fn remove(ctx: &Ctx, username: &str) -> anyhow::Result<()> {
    let username = Username::parse(username)?;
    let app = ctx.app()?;
    let api = ctx.api()?;
    let step = Step::start(format!("Removing {username} from {app} collaborators"));
    api.delete(&format!("/apps/{app}/collaborators/{username}"))?;
    step.done("");
    Ok(())
}
