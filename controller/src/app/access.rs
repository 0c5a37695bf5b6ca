//! Who may act on an app: its owner, its collaborators and admins. Anyone else is told
//! the app does not exist.

use crate::auth::Caller;
use crate::db::{self, apps::AppRow, Conn};
use crate::error::{ApiError, ApiResult};
use crate::State;

/// What the caller wants to do with an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read or change it: owner, collaborators, admins.
    Collaborate,
    /// Destroy it or change who may act on it: owner and admins.
    Own,
}

/// The app named `name` if the caller may act on it as needed; 404 when they may not
/// see it, 403 when they may see it but not do this.
pub async fn app_for(conn: &mut Conn, caller: &Caller, name: &str, need: Need) -> ApiResult<AppRow> {
    let not_found =
        || ApiError::not_found(format!("app {name} not found")).with_hint("see `paas apps` for your apps");
    let Some(app) = db::apps::app_by_name(conn, name).await? else {
        return Err(not_found());
    };
    let owns = caller.admin || app.owner_id == caller.id;
    if !owns && !db::apps::collaborator_exists(conn, app.id, caller.id).await? {
        return Err(not_found());
    }
    if need == Need::Own && !owns {
        return Err(ApiError::forbidden(format!("only the owner of {name} or an admin may do this")));
    }
    Ok(app)
}

/// [`app_for`] on a pooled connection of its own, given back before the caller opens a
/// write transaction (whose first statement must be a write; see `db`).
pub async fn find_app(state: &State, caller: &Caller, name: &str, need: Need) -> ApiResult<AppRow> {
    let mut conn = state.db.pool.acquire().await?;
    app_for(&mut conn, caller, name, need).await
}
