//! The processes an app runs, as the scheduler last saw them.

use paas_core::api::Process;

use super::access::{find_app, Need};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The app's processes by type and index; empty when none run (or no scheduler does).
pub async fn list(state: &State, caller: &Caller, name: &str) -> ApiResult<Vec<Process>> {
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    Ok(state.board.of_app(&app.name))
}
