//! `domains`, `domains:add`, `domains:remove`.

use paas_core::api::{Domain, DomainCreate};
use paas_core::Hostname;

use super::Ctx;
use crate::output::{self, Step};
use crate::views;

/// `paas domains`.
pub(super) fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let value = ctx.api()?.get(&format!("/apps/{app}/domains"))?;
    ctx.show(value, |domains: Vec<Domain>| {
        output::say(format!("=== {app} Domains"));
        output::data(&views::domains(&domains))
    })
}

/// `paas domains:add HOST`.
pub(super) fn add(ctx: &Ctx, hostname: &str) -> anyhow::Result<()> {
    let hostname = Hostname::parse(hostname)?;
    let app = ctx.app()?;
    let api = ctx.api()?;
    let step = Step::start(format!("Adding {hostname} to {app}"));
    let _: Domain =
        api.post_as(&format!("/apps/{app}/domains"), &DomainCreate { hostname: hostname.to_string() })?;
    step.done("");
    Ok(())
}

/// `paas domains:remove HOST`.
pub(super) fn remove(ctx: &Ctx, hostname: &str) -> anyhow::Result<()> {
    let hostname = Hostname::parse(hostname)?;
    let app = ctx.app()?;
    let api = ctx.api()?;
    let step = Step::start(format!("Removing {hostname} from {app}"));
    api.delete(&format!("/apps/{app}/domains/{hostname}"))?;
    step.done("");
    Ok(())
}
