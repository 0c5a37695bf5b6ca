//! paasd's side of git pushes: the builder's question "may these credentials push to
//! this app?", answered by the controller's users, tokens and collaborators; and what a
//! push does when the platform runs without Docker (nothing can be built: it says so).

use std::sync::Arc;

use paas_builder::auth::{AuthUnavailable, BoxFuture};
use paas_builder::{Access, Credentials, Progress, Push, PushAuthorizer, PushHandler, Rejection};
use paas_controller::app::git::{authorize_push, PushAccess};
use paas_controller::app::releases::{wait_rollout, Rollout};
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
                Ok(PushAccess::Allowed { username }) => Ok(Access::Allowed { pusher: username }),
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

/// Gives buildpack builds the app's current config vars.
pub struct ControllerBuildEnv(pub Arc<State>);

impl paas_builder::build::BuildEnv for ControllerBuildEnv {
    fn config_vars<'a>(
        &'a self,
        app: &'a AppName,
    ) -> BoxFuture<'a, Result<paas_core::ConfigVars, Rejection>> {
        Box::pin(async move {
            paas_controller::app::builds::config_for_build(&self.0, app)
                .await
                .map_err(|e| Rejection(format!("the app's config cannot be read: {}", e.message)))
        })
    }
}

/// Turns each finished build into a release that the scheduler then rolls out, and
/// waits for the rollout, showing the output of its release command as it comes:
/// `-----> v5 is up`, or the reason it failed and the failing process's last log lines,
/// and the push is rejected (git exits non-zero).
pub struct ReleaseBuilds(pub Arc<State>);

impl paas_builder::BuildSink for ReleaseBuilds {
    fn built<'a>(
        &'a self,
        result: paas_builder::BuildResult,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            let build = paas_controller::app::builds::FinishedBuild {
                app: result.app.clone(),
                commit: result.commit.to_string(),
                image: result.image.clone(),
                process_types: result.process_types,
                created_by: result.pusher,
            };
            let version = paas_controller::app::builds::release_build(&self.0, build)
                .await
                .map_err(|e| Rejection(format!("the build could not be released: {}", e.message)))?;
            progress.line(&format!("-----> Released v{version}: {}", result.image)).await;
            progress.line(&format!("-----> Launching v{version}...")).await;
            let rollout = wait_rollout(&self.0, &result.app, version);
            let mut rollout = std::pin::pin!(rollout);
            let outcomes = &self.0.rollouts;
            let mut seen = 0;
            let outcome = loop {
                tokio::select! {
                    outcome = &mut rollout => break outcome,
                    lines = outcomes.phase_lines(result.app.as_str(), version, seen) => {
                        seen += lines.len();
                        for line in &lines {
                            progress.line(line).await;
                        }
                    }
                }
            };
            let rest = outcomes.phase_lines_now(result.app.as_str(), version, seen);
            for line in &rest {
                progress.line(line).await;
            }
            let phase_shown = seen + rest.len() > 0;
            match outcome {
                Ok(Rollout::Up) => {
                    progress.line(&format!("-----> v{version} is up")).await;
                    Ok(())
                }
                Ok(Rollout::StillRolling) => {
                    progress
                        .line(&format!(
                            "-----> v{version} is still starting; see `paas releases -a {}` and `paas ps`",
                            result.app
                        ))
                        .await;
                    Ok(())
                }
                Ok(Rollout::Failed { reason, logs }) => {
                    progress.line(&format!(" !     v{version} failed: {reason}")).await;
                    if !logs.is_empty() && !phase_shown {
                        progress.line(" !     Its last log lines:").await;
                        for line in &logs {
                            progress.line(&format!("       {line}")).await;
                        }
                    }
                    Err(Rejection(format!(
                        "v{version} failed ({reason}); the previous release keeps serving"
                    )))
                }
                Err(e) => Err(Rejection(format!("cannot follow the rollout of v{version}: {}", e.message))),
            }
        })
    }
}
