//! `apps`, `apps:create`, `apps:info`, `apps:destroy`.

use paas_core::api::{App, AppCreate, AppInfo};
use paas_core::AppName;

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Step};
use crate::remote::REMOTE;
use crate::views;

/// `paas apps`.
pub(super) fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let value = ctx.api()?.get("/apps")?;
    ctx.show(value, |apps: Vec<App>| {
        if apps.is_empty() {
            output::say("You have no apps yet; create one with paas apps:create NAME");
            return Ok(());
        }
        output::data(&views::apps(&apps))
    })
}

/// `paas apps:create NAME`: prints the app's URL and how to push to it.
pub(super) fn create(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let name = AppName::parse(name)?;
    let api = ctx.api()?;
    let step = Step::start(format!("Creating app {name}"));
    let app: App = api.post_as("/apps", &AppCreate { name: name.to_string() })?;
    step.done("");
    // The git URL is only in the app's info; the app exists whether or not it comes.
    match api.get_as::<AppInfo>(&format!("/apps/{name}")) {
        Ok(info) => {
            output::data_line(format!("{} | {}", app.url, info.git_url))?;
            output::say(format!(
                "Push to it with: git remote add {REMOTE} {} && git push {REMOTE} main",
                info.git_url
            ));
        }
        Err(_) => output::data_line(&app.url)?,
    }
    Ok(())
}

/// `paas apps:info`.
pub(super) fn info(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let value = ctx.api()?.get(&format!("/apps/{app}"))?;
    ctx.show(value, |info: AppInfo| {
        output::say(format!("=== {app}"));
        output::data(&views::app_info(&info))
    })
}

/// `paas apps:destroy --confirm NAME`: refuses unless NAME is the app.
pub(super) fn destroy(ctx: &Ctx, confirm: Option<&str>) -> anyhow::Result<()> {
    let app = ctx.app()?;
    if confirm != Some(app.as_str()) {
        let message = match confirm {
            None => {
                format!("apps:destroy deletes {app} and everything in it; confirm with its name")
            }
            Some(other) => format!("--confirm {other} does not match the app {app}"),
        };
        return Err(CliError::new(message)
            .hint(format!("run paas apps:destroy -a {app} --confirm {app}"))
            .into());
    }
    let api = ctx.api()?;
    let step = Step::start(format!("Destroying {app} (including all its releases)"));
    api.delete(&format!("/apps/{app}"))?;
    step.done("");
    Ok(())
}
