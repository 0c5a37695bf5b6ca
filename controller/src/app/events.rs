//! The audit log: one event for every change.

use paas_core::api::Event;

use super::access::{app_for, Need};
use super::timestamp;
use crate::auth::Caller;
use crate::db::{self, events::EventRow};
use crate::error::{ApiError, ApiResult};
use crate::State;

/// The most events one listing returns.
pub const MAX_LIMIT: i64 = 1000;

fn event_view(row: EventRow) -> Event {
    Event {
        id: row.id,
        actor: row.actor,
        action: row.action,
        app: row.app,
        detail: row.detail,
        created_at: timestamp(row.created_at),
    }
}

fn limit(requested: Option<i64>) -> ApiResult<i64> {
    match requested {
        None => Ok(100),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit must be 1 to 1000")),
    }
}

/// The newest events of one app.
pub async fn list_for_app(
    state: &State,
    caller: &Caller,
    name: &str,
    requested: Option<i64>,
) -> ApiResult<Vec<Event>> {
    let limit = limit(requested)?;
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    let rows = db::events::event_list(&mut conn, Some(&app.name), limit).await?;
    Ok(rows.into_iter().map(event_view).collect())
}

/// The newest events of the platform, optionally of one app name (admins only; also
/// finds events of destroyed apps).
pub async fn list_all(
    state: &State,
    caller: &Caller,
    app: Option<&str>,
    requested: Option<i64>,
) -> ApiResult<Vec<Event>> {
    caller.require_admin()?;
    let limit = limit(requested)?;
    let mut conn = state.db.pool.acquire().await?;
    let rows = db::events::event_list(&mut conn, app, limit).await?;
    Ok(rows.into_iter().map(event_view).collect())
}
