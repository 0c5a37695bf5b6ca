//! Who may push to an app over git: the builder asks with the HTTP basic credentials
//! git sent, whose password is an API token (or a login JWT).

use super::access::{app_for, Need};
use crate::auth;
use crate::error::{ApiError, ErrorKind};
use crate::State;

/// The answer to "may these credentials push to this app?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushAccess {
    /// Yes: the owner, a collaborator or an admin, named.
    Allowed {
        /// Their username.
        username: String,
    },
    /// The credentials prove nobody, or a disabled user: git asks again.
    Denied,
    /// No such app, or one the user may not see: they look alike.
    UnknownApp,
}

/// Decides a push; `Err` only when the store cannot answer.
pub async fn authorize_push(state: &State, password: &str, app: &str) -> Result<PushAccess, ApiError> {
    let caller = match auth::authenticate(state, Some(&format!("Bearer {}", password.trim()))).await {
        Ok(caller) => caller,
        Err(e) if matches!(e.kind, ErrorKind::Unauthenticated | ErrorKind::Forbidden) => {
            return Ok(PushAccess::Denied)
        }
        Err(e) => return Err(e),
    };
    let mut conn = state.db.pool.acquire().await?;
    match app_for(&mut conn, &caller, app, Need::Collaborate).await {
        Ok(_) => Ok(PushAccess::Allowed { username: caller.username }),
        Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::Forbidden) => Ok(PushAccess::UnknownApp),
        Err(e) => Err(e),
    }
}
