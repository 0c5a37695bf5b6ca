//! Collaborators: who besides the owner may act on an app.

use paas_core::api::{Collaborator, CollaboratorAdd};
use paas_core::Username;

use super::access::{app_for, Need};
use crate::auth::Caller;
use crate::db::{self, apps::AppRow, Conn};
use crate::error::{is_unique_violation, ApiError, ApiResult};
use crate::State;

/// The owner first, then collaborators by name.
pub async fn collaborators_of(conn: &mut Conn, app: &AppRow) -> ApiResult<Vec<Collaborator>> {
    let owner = Collaborator { username: app.owner.clone(), role: "owner".into() };
    let others = db::apps::collaborator_list_for_app(conn, app.id)
        .await?
        .into_iter()
        .map(|username| Collaborator { username, role: "collaborator".into() });
    Ok(std::iter::once(owner).chain(others).collect())
}

/// The app's owner and collaborators.
pub async fn list(state: &State, caller: &Caller, name: &str) -> ApiResult<Vec<Collaborator>> {
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    collaborators_of(&mut conn, &app).await
}

/// The app (which the caller must own or administer) and the user named.
async fn app_and_user(
    state: &State,
    caller: &Caller,
    name: &str,
    username: &str,
) -> ApiResult<(AppRow, i64)> {
    let username = Username::parse(username)?;
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Own).await?;
    let user = db::users::user_by_name(&mut conn, username.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {username} not found")))?;
    if user.id == app.owner_id {
        return Err(ApiError::conflict(format!("{username} owns {name}")));
    }
    Ok((app, user.id))
}

/// Lets a user act on an app.
pub async fn add(
    state: &State,
    caller: &Caller,
    name: &str,
    request: CollaboratorAdd,
) -> ApiResult<Collaborator> {
    let (app, user_id) = app_and_user(state, caller, name, &request.username).await?;
    let mut tx = state.db.begin_write().await?;
    match db::apps::collaborator_insert(&mut tx, app.id, user_id).await {
        Ok(()) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::already_exists(format!(
                "{} already collaborates on {name}",
                request.username
            )))
        }
        Err(e) => return Err(e.into()),
    }
    db::events::event_insert(&mut tx, &caller.username, "perms.add", Some(name), &request.username).await?;
    tx.commit().await?;
    Ok(Collaborator { username: request.username, role: "collaborator".into() })
}

/// Stops a user from acting on an app.
pub async fn remove(state: &State, caller: &Caller, name: &str, username: &str) -> ApiResult<()> {
    let (app, user_id) = app_and_user(state, caller, name, username).await?;
    let mut tx = state.db.begin_write().await?;
    if !db::apps::collaborator_delete(&mut tx, app.id, user_id).await? {
        return Err(ApiError::not_found(format!("{username} does not collaborate on {name}")));
    }
    db::events::event_insert(&mut tx, &caller.username, "perms.remove", Some(name), username).await?;
    tx.commit().await?;
    Ok(())
}
