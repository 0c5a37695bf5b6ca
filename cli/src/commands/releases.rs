//! `releases`, `releases:info`, `rollback`.

use paas_core::api::{Release, ReleaseInfo, RollbackRequest};
use paas_core::ReleaseVersion;

use super::Ctx;
use crate::output::{self, Step};
use crate::views;

/// `paas releases`: newest first.
pub(super) fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let value = ctx.api()?.get(&format!("/apps/{app}/releases"))?;
    ctx.show(value, |releases: Vec<Release>| {
        output::say(format!("=== {app} Releases"));
        output::data(&views::releases(&releases))
    })
}

/// `paas releases:info vN`: the release, then its config vars.
pub(super) fn info(ctx: &Ctx, version: &str) -> anyhow::Result<()> {
    let version = ReleaseVersion::parse(version)?;
    let app = ctx.app()?;
    let value = ctx.api()?.get(&format!("/apps/{app}/releases/{}", version.get()))?;
    ctx.show(value, |info: ReleaseInfo| {
        output::say(format!("=== {app} Release {version}"));
        output::data(&views::release_info(&info.release))?;
        if !info.config.is_empty() {
            output::say(format!("=== {app} Config Vars of {version}"));
            output::data(&views::config(&info.config))?;
        }
        Ok(())
    })
}

/// `paas rollback [vN]`: a new release with the code and config of vN (by default the
/// one before the current one).
pub(super) fn rollback(ctx: &Ctx, version: Option<&str>) -> anyhow::Result<()> {
    let version = version.map(ReleaseVersion::parse).transpose()?;
    let app = ctx.app()?;
    let api = ctx.api()?;
    let step = Step::start(match version {
        Some(v) => format!("Rolling back {app} to {v}"),
        None => format!("Rolling back {app}"),
    });
    let release: Release = api.post_as(
        &format!("/apps/{app}/rollback"),
        &RollbackRequest { version: version.map(ReleaseVersion::get) },
    )?;
    step.done(format!(", {} ({})", views::version(release.version), release.summary));
    Ok(())
}
