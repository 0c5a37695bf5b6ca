//! paasd's side of git pushes: the builder's question "may these credentials push to
//! this app?", answered by the controller's users, tokens and collaborators; and what a
//! push does when the platform runs without Docker (nothing can be built: it says so).

use std::sync::Arc;

use paas_builder::auth::{AuthUnavailable, BoxFuture};
use paas_builder::{Access, Credentials, Progress, Push, PushAuthorizer, PushHandler, Rejection};
use paas_controller::app::git::{authorize_push, PushAccess};
use paas_controller::State;
use paas_core::AppName;

/// Asks the controller's store.
pub struct ControllerPushAuthorizer(pub Arc<State>);

impl PushAuthorizer for ControllerPushAuthorizer {
    fn authorize<'a>(
        &'a self,
        credentials: &'a Credentials,
        app: &'a AppName,
    ) -> BoxFuture<'a, Result<Access, AuthUnavailable>> {
        Box::pin(async move {
            match authorize_push(&self.0, credentials.password(), app.as_str()).await {
                Ok(PushAccess::Allowed) => Ok(Access::Allowed),
                Ok(PushAccess::Denied) => Ok(Access::Denied),
                Ok(PushAccess::UnknownApp) => Ok(Access::UnknownApp),
                Err(e) => Err(AuthUnavailable(e.message)),
            }
        })
    }
}

/// Refuses every push, after the push was authorized: with `PAAS_DOCKER=off` there is no
/// engine to build on.
pub struct NoBuilds;

impl PushHandler for NoBuilds {
    fn handle<'a>(&'a self, _push: Push, _progress: Progress) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async {
            Err(Rejection(format!(
                "this platform runs without a Docker engine ({}=off): pushes cannot be built",
                paas_core::settings::DOCKER.name
            )))
        })
    }
}
