//! `builds`.

use paas_core::api::Build;

use super::Ctx;
use crate::output;
use crate::views;

/// `paas builds`: newest first.
pub(super) fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let value = ctx.api()?.get(&format!("/apps/{app}/builds"))?;
    ctx.show(value, |builds: Vec<Build>| {
        if builds.is_empty() {
            output::say(format!("{app} has no builds yet; deploy with git push paas main"));
            return Ok(());
        }
        output::say(format!("=== {app} Builds"));
        output::data(&views::builds(&builds))
    })
}
