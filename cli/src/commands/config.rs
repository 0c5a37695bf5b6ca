//! `config`, `config:set`, `config:unset`. Values are secrets to the parsers: a bad
//! assignment is reported without its value.

use std::collections::BTreeMap;

use paas_core::api::{Config, ConfigUpdate};
use paas_core::config::parse_assignment;
use paas_core::ConfigKey;

use super::Ctx;
use crate::output::{self, Step};
use crate::views;

/// `paas config`: `KEY: value` lines, aligned.
pub(super) fn show(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let value = ctx.api()?.get(&format!("/apps/{app}/config"))?;
    ctx.show(value, |config: Config| {
        if config.values.is_empty() {
            output::say(format!("{app} has no config vars."));
            return Ok(());
        }
        output::say(format!("=== {app} Config Vars"));
        output::data(&views::config(&config.values))
    })
}

/// `paas config:set K=V...`: one request, so one release for all the keys.
pub(super) fn set(ctx: &Ctx, assignments: &[String]) -> anyhow::Result<()> {
    let mut changes = Vec::new();
    for a in assignments {
        let (key, value) = parse_assignment(a)?;
        changes.push((key, Some(String::from(value))));
    }
    update(ctx, "Setting", changes)
}

/// `paas config:unset K...`.
pub(super) fn unset(ctx: &Ctx, keys: &[String]) -> anyhow::Result<()> {
    let mut changes = Vec::new();
    for k in keys {
        changes.push((ConfigKey::parse(k)?, None));
    }
    update(ctx, "Unsetting", changes)
}

/// Sends the changes in one `PATCH`; a key given twice counts once, its last value.
fn update(ctx: &Ctx, verb: &str, changes: Vec<(ConfigKey, Option<String>)>) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let api = ctx.api()?;
    let mut keys: Vec<String> = Vec::new();
    let mut values = BTreeMap::new();
    for (key, value) in changes {
        if !values.contains_key(key.as_str()) {
            keys.push(key.to_string());
        }
        values.insert(key.to_string(), value);
    }
    let step = Step::start(format!("{verb} {} and restarting {app}", keys.join(", ")));
    let config: Config = api.patch_as(&format!("/apps/{app}/config"), &ConfigUpdate { values })?;
    step.done(format!(", {}", views::version(config.release)));
    Ok(())
}
