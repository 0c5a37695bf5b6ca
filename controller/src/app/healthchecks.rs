//! Health checks per process type: list, set, unset. A `web` process must pass its
//! app's check (or, without one, [`DEFAULT`]: its port accepts a connection and
//! answers HTTP) before it enters the route table; other types count as healthy once
//! running.

use std::ops::RangeInclusive;

use paas_core::api::{Healthcheck, HealthcheckUpdate};
use paas_core::ProcessType;

use super::access::{app_for, Need};
use crate::auth::Caller;
use crate::db::{self, healthchecks::HealthcheckRow};
use crate::error::{ApiError, ApiResult};
use crate::State;

/// Milliseconds one attempt may take, unless set.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Milliseconds between attempts, unless set.
pub const DEFAULT_INTERVAL_MS: u64 = 1_000;
/// Attempts before a new process counts as failed, unless set.
pub const DEFAULT_ATTEMPTS: u32 = 30;
/// The allowed timeouts and intervals, in milliseconds.
pub const MS_RANGE: RangeInclusive<u64> = 100..=60_000;
/// The allowed numbers of attempts.
pub const ATTEMPTS_RANGE: RangeInclusive<u32> = 1..=100;
/// The longest path.
pub const MAX_PATH: usize = 1024;

/// The check of a process type without a stored one: no path (any HTTP answer on a
/// connection to the port will do), with the default timing.
pub const DEFAULT: HealthcheckDefault = HealthcheckDefault {
    timeout_ms: DEFAULT_TIMEOUT_MS,
    interval_ms: DEFAULT_INTERVAL_MS,
    attempts: DEFAULT_ATTEMPTS,
};

/// The timing of the default check.
#[derive(Debug, Clone, Copy)]
pub struct HealthcheckDefault {
    /// Milliseconds one attempt may take.
    pub timeout_ms: u64,
    /// Milliseconds between attempts.
    pub interval_ms: u64,
    /// Attempts.
    pub attempts: u32,
}

fn view(row: HealthcheckRow) -> Healthcheck {
    Healthcheck {
        process_type: row.process_type,
        path: row.path,
        timeout_ms: u64::try_from(row.timeout_ms).unwrap_or_default(),
        interval_ms: u64::try_from(row.interval_ms).unwrap_or_default(),
        attempts: u32::try_from(row.attempts).unwrap_or_default(),
    }
}

/// Reads an update: the path starts with `/` and holds no space or control character;
/// the numbers are in range.
pub fn parse_update(process_type: &ProcessType, update: &HealthcheckUpdate) -> ApiResult<HealthcheckRow> {
    let path = &update.path;
    if !path.starts_with('/')
        || path.len() > MAX_PATH
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::invalid(format!(
            "the health check path must start with `/` and have no spaces (at most {MAX_PATH} bytes), got {path:?}"
        ))
        .with_hint("e.g. `--path /health`"));
    }
    let ms = |what: &str, value: Option<u64>, default: u64| -> ApiResult<i64> {
        let value = value.unwrap_or(default);
        if MS_RANGE.contains(&value) {
            Ok(i64::try_from(value).unwrap_or_default())
        } else {
            Err(ApiError::invalid(format!(
                "the health check {what} must be {} to {} ms, got {value}",
                MS_RANGE.start(),
                MS_RANGE.end()
            ))
            .with_hint(format!("e.g. `--{what} 5s`")))
        }
    };
    let timeout_ms = ms("timeout", update.timeout_ms, DEFAULT_TIMEOUT_MS)?;
    let interval_ms = ms("interval", update.interval_ms, DEFAULT_INTERVAL_MS)?;
    let attempts = update.attempts.unwrap_or(DEFAULT_ATTEMPTS);
    if !ATTEMPTS_RANGE.contains(&attempts) {
        return Err(ApiError::invalid(format!(
            "the health check attempts must be {} to {}, got {attempts}",
            ATTEMPTS_RANGE.start(),
            ATTEMPTS_RANGE.end()
        ))
        .with_hint("e.g. `--attempts 30`"));
    }
    Ok(HealthcheckRow {
        process_type: process_type.to_string(),
        path: path.clone(),
        timeout_ms,
        interval_ms,
        attempts: i64::from(attempts),
    })
}

/// The app's stored health checks, by process type.
pub async fn list(state: &State, caller: &Caller, name: &str) -> ApiResult<Vec<Healthcheck>> {
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    Ok(db::healthchecks::healthcheck_list_for_app(&mut conn, app.id).await?.into_iter().map(view).collect())
}

/// Sets the check of one process type; it applies to processes started from now on.
pub async fn set(
    state: &State,
    caller: &Caller,
    name: &str,
    process_type: &str,
    update: HealthcheckUpdate,
) -> ApiResult<Healthcheck> {
    let process_type = ProcessType::parse(process_type)?;
    let row = parse_update(&process_type, &update)?;
    let app = {
        let mut conn = state.db.pool.acquire().await?;
        app_for(&mut conn, caller, name, Need::Collaborate).await?
    };
    let mut tx = state.db.begin_write().await?;
    db::healthchecks::healthcheck_upsert(&mut tx, app.id, &row).await?;
    let detail = format!(
        "{process_type}: {} every {} ms, {} ms each, {} attempts",
        row.path, row.interval_ms, row.timeout_ms, row.attempts
    );
    db::events::event_insert(&mut tx, &caller.username, "healthcheck.set", Some(name), &detail).await?;
    tx.commit().await?;
    Ok(view(row))
}

/// Removes the check of one process type: the default applies again.
pub async fn unset(state: &State, caller: &Caller, name: &str, process_type: &str) -> ApiResult<()> {
    let process_type = ProcessType::parse(process_type)?;
    let app = {
        let mut conn = state.db.pool.acquire().await?;
        app_for(&mut conn, caller, name, Need::Collaborate).await?
    };
    let mut tx = state.db.begin_write().await?;
    if !db::healthchecks::healthcheck_delete(&mut tx, app.id, process_type.as_str()).await? {
        return Err(ApiError::not_found(format!("{name} has no health check for {process_type}"))
            .with_hint(format!("see `paas healthchecks -a {name}`")));
    }
    db::events::event_insert(
        &mut tx,
        &caller.username,
        "healthcheck.unset",
        Some(name),
        process_type.as_str(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
