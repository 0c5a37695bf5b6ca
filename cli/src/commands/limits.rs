//! `limits`, `limits:set TYPE=SIZE... [--cpu TYPE=N...]`, `limits:unset TYPE`, and
//! `ps:restart [TYPE]`.

use std::collections::BTreeMap;

use paas_core::api::{LimitUpdate, LimitsUpdate, ProcessLimits, Restart, RestartRequest};
use paas_core::{CpuLimit, MemoryLimit, ProcessType};

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Step};
use crate::table::Table;

fn table(limits: &[ProcessLimits]) -> String {
    let mut t = Table::new(["TYPE", "MEMORY", "CPU"]);
    for l in limits {
        let none = || "-".to_owned();
        t.row([
            l.process_type.clone(),
            l.memory.clone().unwrap_or_else(none),
            l.cpu.clone().unwrap_or_else(none),
        ]);
    }
    t.render()
}

/// `paas limits`: the limits of the app's types that have any.
pub(super) fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let value = ctx.api()?.get(&format!("/apps/{app}/limits"))?;
    ctx.show(value, |limits: Vec<ProcessLimits>| {
        if limits.is_empty() {
            output::say(format!("{app} has no limits; set some with paas limits:set web=512M -a {app}"));
            return Ok(());
        }
        output::say(format!("=== {app} limits"));
        output::data(&table(&limits))
    })
}

/// `TYPE=VALUE`, the type parsed.
fn pair(text: &str, example: &str) -> Result<(ProcessType, String), CliError> {
    let (t, v) = text.split_once('=').ok_or_else(|| {
        CliError::new(format!("{text:?} is not TYPE=VALUE")).hint(format!("e.g. {example}"))
    })?;
    let t = ProcessType::parse(t).map_err(|e| CliError::new(e.to_string()))?;
    Ok((t, v.to_owned()))
}

/// `paas limits:set web=512M worker=1G --cpu web=0.5`: checked here first, then by the
/// server; the types' processes are replaced, rolling.
pub(super) fn set(ctx: &Ctx, memory: &[String], cpu: &[String]) -> anyhow::Result<()> {
    let mut updates: BTreeMap<ProcessType, (Option<String>, Option<String>)> = BTreeMap::new();
    for m in memory {
        let (t, size) = pair(m, "web=512M")?;
        MemoryLimit::parse(&size)
            .map_err(|e| CliError::new(e.to_string()).hint("sizes look like 256M or 1G"))?;
        updates.entry(t).or_default().0 = Some(size);
    }
    for c in cpu {
        let (t, n) = pair(c, "web=0.5")?;
        CpuLimit::parse(&n).map_err(|e| CliError::new(e.to_string()).hint("e.g. --cpu web=0.5"))?;
        updates.entry(t).or_default().1 = Some(n);
    }
    if updates.is_empty() {
        return Err(CliError::new("nothing to set")
            .hint("e.g. paas limits:set web=512M --cpu web=0.5")
            .into());
    }
    let app = ctx.app()?;
    let update = LimitsUpdate {
        updates: updates
            .into_iter()
            .map(|(t, (memory, cpu))| LimitUpdate { process_type: t.to_string(), memory, cpu })
            .collect(),
    };
    let step = Step::start(format!("Setting limits of {app} and restarting its processes"));
    let limits: Vec<ProcessLimits> = ctx.api()?.patch_as(&format!("/apps/{app}/limits"), &update)?;
    step.done("");
    output::data(&table(&limits))
}

/// `paas limits:unset web`.
pub(super) fn unset(ctx: &Ctx, process_type: &str) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let step = Step::start(format!("Removing the {process_type} limits of {app} and restarting it"));
    ctx.api()?.delete(&format!("/apps/{app}/limits/{process_type}"))?;
    step.done("");
    Ok(())
}

/// `paas ps:restart [TYPE]`: rolling, without downtime.
pub(super) fn restart(ctx: &Ctx, process_type: Option<&str>) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let what = process_type.map_or_else(|| "every process".to_owned(), |t| format!("the {t} processes"));
    let step = Step::start(format!("Restarting {what} of {app}"));
    let request = RestartRequest { process_type: process_type.map(str::to_owned) };
    let restart: Restart = ctx.api()?.post_as(&format!("/apps/{app}/processes/restart"), &request)?;
    step.done(format!(" ({}); see paas ps", restart.types.join(", ")));
    Ok(())
}
