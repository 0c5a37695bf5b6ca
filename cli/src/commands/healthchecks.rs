//! `healthchecks`, `healthchecks:set TYPE --path P`, `healthchecks:unset TYPE`.

use paas_core::api::{Healthcheck, HealthcheckUpdate};

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Step};
use crate::views;

/// `paas healthchecks`: the stored checks; types without one use the default.
pub(super) fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let value = ctx.api()?.get(&format!("/apps/{app}/healthchecks"))?;
    ctx.show(value, |checks: Vec<Healthcheck>| {
        if checks.is_empty() {
            output::say(format!(
                "{app} has no health checks: a new web process is healthy once its port answers HTTP"
            ));
            return Ok(());
        }
        output::say(format!("=== {app} Health checks"));
        output::data(&views::healthchecks(&checks))
    })
}

/// Milliseconds from `500ms`, `5s` or `5` (seconds).
pub fn parse_duration_ms(text: &str) -> Result<u64, CliError> {
    let bad = || CliError::new(format!("{text:?} is not a duration")).hint("write it like 5s or 500ms");
    let (number, scale) = match text.strip_suffix("ms") {
        Some(n) => (n, 1),
        None => (text.strip_suffix('s').unwrap_or(text), 1000),
    };
    number.parse::<u64>().ok().and_then(|n| n.checked_mul(scale)).ok_or_else(bad)
}

/// `paas healthchecks:set web --path /health [--timeout 5s] [--interval 1s] [--attempts 30]`.
pub(super) fn set(
    ctx: &Ctx,
    process_type: &str,
    path: String,
    timeout: Option<&str>,
    interval: Option<&str>,
    attempts: Option<u32>,
) -> anyhow::Result<()> {
    let update = HealthcheckUpdate {
        path,
        timeout_ms: timeout.map(parse_duration_ms).transpose()?,
        interval_ms: interval.map(parse_duration_ms).transpose()?,
        attempts,
    };
    let app = ctx.app()?;
    let step = Step::start(format!("Setting the {process_type} health check of {app}"));
    let check: Healthcheck =
        ctx.api()?.put_as(&format!("/apps/{app}/healthchecks/{process_type}"), &update)?;
    step.done("");
    output::data(&views::healthchecks(&[check]))
}

/// `paas healthchecks:unset web`.
pub(super) fn unset(ctx: &Ctx, process_type: &str) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let step = Step::start(format!("Removing the {process_type} health check of {app}"));
    ctx.api()?.delete(&format!("/apps/{app}/healthchecks/{process_type}"))?;
    step.done("; the default check applies");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read() {
        assert_eq!(parse_duration_ms("500ms").ok(), Some(500));
        assert_eq!(parse_duration_ms("5s").ok(), Some(5000));
        assert_eq!(parse_duration_ms("2").ok(), Some(2000));
        assert!(parse_duration_ms("fast").is_err());
        assert!(parse_duration_ms("-1s").is_err());
    }
}
