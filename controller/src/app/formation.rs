//! Formation: read, and scale. Scaling is not a release. The `release` type (the
//! release command) is no process: it is neither listed nor scaled.

use std::collections::BTreeMap;

use paas_core::api::{FormationUpdate, ProcessFormation};
use paas_core::{ProcessType, Quantity};

use super::access::{app_for, Need};
use crate::auth::Caller;
use crate::db::{self, apps::AppRow, Conn};
use crate::error::{ApiError, ApiResult};
use crate::scheduler::desired::RELEASE_TYPE;
use crate::State;

/// The process types of the app's current build that run as processes (all but
/// `release`), when it has one.
async fn build_types(conn: &mut Conn, app: &AppRow) -> ApiResult<Option<Vec<ProcessType>>> {
    let (_, build_id) = super::config::current(conn, app.id, app.last_release).await?;
    let Some(build_id) = build_id else { return Ok(None) };
    let Some(json) = db::releases::build_process_types(conn, build_id).await? else { return Ok(None) };
    let types: BTreeMap<ProcessType, String> =
        serde_json::from_str(&json).map_err(|e| ApiError::internal("reading a build's process types", e))?;
    Ok(Some(types.into_keys().filter(|t| t.as_str() != RELEASE_TYPE).collect()))
}

/// The app's formation: every stored quantity, and 0 for the build's other types.
pub async fn formation_of(conn: &mut Conn, app: &AppRow) -> ApiResult<Vec<ProcessFormation>> {
    let mut quantities: BTreeMap<String, u32> = db::formations::formation_list_for_app(conn, app.id)
        .await?
        .into_iter()
        .filter(|row| row.process_type != RELEASE_TYPE)
        .map(|row| (row.process_type, u32::try_from(row.quantity).unwrap_or_default()))
        .collect();
    for t in build_types(conn, app).await?.unwrap_or_default() {
        quantities.entry(t.to_string()).or_insert(0);
    }
    Ok(quantities
        .into_iter()
        .map(|(process_type, quantity)| ProcessFormation { process_type, quantity })
        .collect())
}

/// The app's formation.
pub async fn get(state: &State, caller: &Caller, name: &str) -> ApiResult<Vec<ProcessFormation>> {
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    formation_of(&mut conn, &app).await
}

/// Sets quantities of process types. When the app has a build, only its types may be
/// scaled.
pub async fn scale(
    state: &State,
    caller: &Caller,
    name: &str,
    update: FormationUpdate,
) -> ApiResult<Vec<ProcessFormation>> {
    if update.updates.is_empty() {
        return Err(ApiError::invalid("nothing to scale: `updates` is empty"));
    }
    let mut wanted: BTreeMap<ProcessType, Quantity> = BTreeMap::new();
    for u in &update.updates {
        if u.process_type == RELEASE_TYPE {
            return Err(ApiError::invalid("the release type cannot be scaled")
                .with_hint("the Procfile's `release:` command runs once per release, before it rolls out"));
        }
        wanted.insert(ProcessType::parse(&u.process_type)?, Quantity::new(u.quantity)?);
    }
    let app = {
        let mut conn = state.db.pool.acquire().await?;
        let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
        if let Some(types) = build_types(&mut conn, &app).await? {
            if let Some(unknown) = wanted.keys().find(|t| !types.contains(t)) {
                let known: Vec<&str> = types.iter().map(ProcessType::as_str).collect();
                return Err(ApiError::invalid(format!("{name} has no process type {unknown}"))
                    .with_hint(format!("its Procfile defines: {}", known.join(", "))));
            }
        }
        app
    };
    let mut tx = state.db.begin_write().await?;
    for (process_type, quantity) in &wanted {
        db::formations::formation_upsert(&mut tx, app.id, process_type.as_str(), i64::from(quantity.get()))
            .await?;
    }
    let detail: Vec<String> = wanted.iter().map(|(t, q)| format!("{t}={}", q.get())).collect();
    db::events::event_insert(&mut tx, &caller.username, "formation.scale", Some(name), &detail.join(" "))
        .await?;
    let formation = formation_of(&mut tx, &app).await?;
    tx.commit().await?;
    super::processes_changed(state);
    Ok(formation)
}
