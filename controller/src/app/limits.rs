//! Resource limits per process type (`limits`, `limits:set`, `limits:unset`): memory
//! (no swap) and CPU, applied to the type's containers. A change bumps the type's
//! generation, so its processes are replaced rolling, like `ps:restart`. Not a release.

use std::collections::BTreeMap;

use paas_core::api::{LimitsUpdate, ProcessLimits};
use paas_core::{CpuLimit, MemoryLimit, ProcessType};

use super::access::{app_for, Need};
use super::formation::formation_of;
use crate::auth::Caller;
use crate::db::{self, apps::AppRow, process_settings::ProcessSettingRow, Conn};
use crate::error::{ApiError, ApiResult};
use crate::State;

fn view(row: &ProcessSettingRow) -> Option<ProcessLimits> {
    let memory = row.memory_bytes.and_then(|b| MemoryLimit::from_bytes(u64::try_from(b).ok()?));
    let cpu = row.nano_cpus.and_then(|n| CpuLimit::from_nano(u64::try_from(n).ok()?));
    (memory.is_some() || cpu.is_some()).then(|| ProcessLimits {
        process_type: row.process_type.clone(),
        memory: memory.map(|m| m.to_string()),
        memory_bytes: memory.map(MemoryLimit::bytes),
        cpu: cpu.map(|c| c.to_string()),
    })
}

async fn limits_of(conn: &mut Conn, app: &AppRow) -> ApiResult<Vec<ProcessLimits>> {
    let rows = db::process_settings::process_setting_list_for_app(conn, app.id).await?;
    Ok(rows.iter().filter_map(view).collect())
}

/// The app's limits: the types that have any.
pub async fn get(state: &State, caller: &Caller, name: &str) -> ApiResult<Vec<ProcessLimits>> {
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    limits_of(&mut conn, &app).await
}

/// A type's new memory limit (bytes) and CPU limit (nano CPUs); `None` keeps the old.
type NewLimits = (Option<i64>, Option<i64>);

/// The new limits of each type; a bad size is a 400 and nothing changes.
fn parse(update: &LimitsUpdate) -> ApiResult<BTreeMap<ProcessType, NewLimits>> {
    if update.updates.is_empty() {
        return Err(ApiError::invalid("nothing to set: `updates` is empty"));
    }
    let mut out = BTreeMap::new();
    for u in &update.updates {
        let t = ProcessType::parse(&u.process_type)?;
        if u.memory.is_none() && u.cpu.is_none() {
            return Err(ApiError::invalid(format!("no limit given for {t}"))
                .with_hint("e.g. paas limits:set web=512M"));
        }
        let memory = u
            .memory
            .as_deref()
            .map(|m| {
                MemoryLimit::parse(m)
                    .map_err(|e| ApiError::from(e).with_hint("sizes look like 256M or 1G, from 16M to 64G"))
            })
            .transpose()?;
        let cpu = u
            .cpu
            .as_deref()
            .map(|c| {
                CpuLimit::parse(c).map_err(|e| ApiError::from(e).with_hint("e.g. --cpu web=0.5 (0.01 to 64)"))
            })
            .transpose()?;
        let bytes = memory.map(|m| i64::try_from(m.bytes()).unwrap_or(i64::MAX));
        let nano = cpu.map(|c| i64::try_from(c.nano()).unwrap_or(i64::MAX));
        out.insert(t, (bytes, nano));
    }
    Ok(out)
}

async fn known_types(conn: &mut Conn, app: &AppRow, name: &str, wanted: &[&ProcessType]) -> ApiResult<()> {
    let known: Vec<String> = formation_of(conn, app).await?.into_iter().map(|f| f.process_type).collect();
    if let Some(unknown) = wanted.iter().find(|t| !known.iter().any(|k| k == t.as_str())) {
        let hint = if known.is_empty() {
            "deploy first: limits apply to the process types of the app's build".to_owned()
        } else {
            format!("its process types are: {}", known.join(", "))
        };
        return Err(ApiError::invalid(format!("{name} has no process type {unknown}")).with_hint(hint));
    }
    Ok(())
}

/// Sets limits; the types' processes are replaced, rolling.
pub async fn set(
    state: &State,
    caller: &Caller,
    name: &str,
    update: LimitsUpdate,
) -> ApiResult<Vec<ProcessLimits>> {
    let wanted = parse(&update)?;
    let (app, current) = {
        let mut conn = state.db.pool.acquire().await?;
        let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
        known_types(&mut conn, &app, name, &wanted.keys().collect::<Vec<_>>()).await?;
        let current = db::process_settings::process_setting_list_for_app(&mut conn, app.id).await?;
        (app, current)
    };
    let mut tx = state.db.begin_write().await?;
    let mut detail = Vec::new();
    for (t, (memory, cpu)) in &wanted {
        let row = current.iter().find(|r| r.process_type == t.as_str());
        let memory = memory.or(row.and_then(|r| r.memory_bytes));
        let cpu = cpu.or(row.and_then(|r| r.nano_cpus));
        db::process_settings::process_limits_set(&mut tx, app.id, t.as_str(), memory, cpu).await?;
        detail.push(t.to_string());
    }
    db::events::event_insert(&mut tx, &caller.username, "limits.set", Some(name), &detail.join(" ")).await?;
    let limits = limits_of(&mut tx, &app).await?;
    tx.commit().await?;
    super::processes_changed(state);
    Ok(limits)
}

/// Removes a type's limits; its processes are replaced, rolling, when it had any.
pub async fn unset(
    state: &State,
    caller: &Caller,
    name: &str,
    process_type: &str,
) -> ApiResult<Vec<ProcessLimits>> {
    let t = ProcessType::parse(process_type)?;
    let (app, had) = {
        let mut conn = state.db.pool.acquire().await?;
        let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
        let rows = db::process_settings::process_setting_list_for_app(&mut conn, app.id).await?;
        let had = rows
            .iter()
            .any(|r| r.process_type == t.as_str() && (r.memory_bytes.is_some() || r.nano_cpus.is_some()));
        (app, had)
    };
    if !had {
        return Err(ApiError::not_found(format!("{name} has no limits for {t}"))
            .with_hint(format!("see `paas limits -a {name}`")));
    }
    let mut tx = state.db.begin_write().await?;
    db::process_settings::process_limits_set(&mut tx, app.id, t.as_str(), None, None).await?;
    db::events::event_insert(&mut tx, &caller.username, "limits.unset", Some(name), t.as_str()).await?;
    let limits = limits_of(&mut tx, &app).await?;
    tx.commit().await?;
    super::processes_changed(state);
    Ok(limits)
}
