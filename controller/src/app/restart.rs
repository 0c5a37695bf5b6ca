//! `ps:restart`: a new generation of one process type (or of every type), whose
//! processes the scheduler starts beside the old ones; each old one drains once its
//! replacement is healthy, as in a rollout. Not a release.

use paas_core::api::{Restart, RestartRequest};
use paas_core::ProcessType;

use super::access::{app_for, Need};
use super::formation::formation_of;
use crate::auth::Caller;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::State;

/// Bumps the generation of the requested type (every type of the formation when none
/// is named); an unknown type is a 404 naming the known ones.
pub async fn restart(
    state: &State,
    caller: &Caller,
    name: &str,
    request: RestartRequest,
) -> ApiResult<Restart> {
    let wanted = request.process_type.as_deref().map(ProcessType::parse).transpose()?;
    let (app, types) = {
        let mut conn = state.db.pool.acquire().await?;
        let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
        let known: Vec<String> =
            formation_of(&mut conn, &app).await?.into_iter().map(|f| f.process_type).collect();
        let types = match &wanted {
            Some(t) if known.iter().any(|k| k == t.as_str()) => vec![t.to_string()],
            Some(t) => {
                let hint = if known.is_empty() {
                    format!("{name} has no processes yet: deploy first")
                } else {
                    format!("its process types are: {}", known.join(", "))
                };
                return Err(ApiError::not_found(format!("{name} has no process type {t}")).with_hint(hint));
            }
            None if known.is_empty() => {
                return Err(ApiError::conflict(format!("{name} has no processes to restart"))
                    .with_hint("deploy first, then scale a process type"))
            }
            None => known,
        };
        (app, types)
    };
    let mut tx = state.db.begin_write().await?;
    for t in &types {
        db::process_settings::process_generation_bump(&mut tx, app.id, t).await?;
    }
    db::events::event_insert(&mut tx, &caller.username, "ps.restart", Some(name), &types.join(" ")).await?;
    tx.commit().await?;
    super::processes_changed(state);
    Ok(Restart { types })
}
