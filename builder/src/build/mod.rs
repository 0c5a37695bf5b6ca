//! Building a push: [`BuildingHandler`] is the [`PushHandler`] that turns the pushed
//! commit into an image and hands the [`BuildResult`] to a [`BuildSink`].
//!
//! The steps: `context` streams the commit's tree into a tar archive (refusing `.git`
//! entries, escaping symlinks and submodules); a root `Procfile` is parsed (its errors,
//! with their line, reject the push); a root `Dockerfile` is built by the Docker engine
//! (`dockerfile`) into `paas/<app>:<short sha>`. Without a Dockerfile the push is
//! refused for now: buildpack builds come next.

pub mod context;
pub mod dockerfile;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bollard::Docker;
use paas_core::{AppName, ProcessType, Procfile};

pub use dockerfile::BuildLimits;

use crate::handler::{BoxFuture, Progress, Push, PushHandler, Rejection};

/// The label naming the app on the images the builder makes.
pub const LABEL_APP: &str = "paas.app";

/// What a successful build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildResult {
    /// The app built.
    pub app: AppName,
    /// The commit built.
    pub commit: git2::Oid,
    /// The image reference (`paas/<app>:<short sha>`, local to the engine for now).
    pub image: String,
    /// The process types and their commands: the Procfile's when the app has one, else
    /// `web` with an empty command, meaning the image's own `CMD`/`ENTRYPOINT`.
    pub process_types: Procfile,
}

/// Where finished builds go (later: the registry push and a new release). A rejection
/// fails the push.
pub trait BuildSink: Send + Sync + 'static {
    /// Takes the result of a successful build; `progress` reaches the user.
    fn built<'a>(
        &'a self,
        result: BuildResult,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<(), Rejection>>;
}

/// Logs builds and tells the user the image: the sink until releases plug in.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogBuilds;

impl BuildSink for LogBuilds {
    fn built<'a>(
        &'a self,
        result: BuildResult,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            let types: Vec<&str> = result.process_types.types().map(ProcessType::as_str).collect();
            tracing::info!(app = %result.app, image = %result.image, ?types, "built");
            progress.line(&format!("-----> Built {}", result.image)).await;
            Ok(())
        })
    }
}

/// Builds each push with the Docker engine and hands the result to a [`BuildSink`].
#[derive(Clone)]
pub struct BuildingHandler {
    docker: Docker,
    limits: BuildLimits,
    sink: Arc<dyn BuildSink>,
}

impl std::fmt::Debug for BuildingHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildingHandler").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl BuildingHandler {
    /// Connects to the local engine (`DOCKER_HOST` or the default socket) and agrees on
    /// an API version with it.
    pub async fn connect(sink: Arc<dyn BuildSink>) -> Result<Self, bollard::errors::Error> {
        let docker = Docker::connect_with_local_defaults()?.negotiate_version().await?;
        Ok(Self { docker, limits: BuildLimits::default(), sink })
    }

    /// The same handler with other build limits.
    pub fn with_limits(mut self, limits: BuildLimits) -> Self {
        self.limits = limits;
        self
    }

    async fn build(&self, push: Push, progress: &Progress) -> Result<BuildResult, Rejection> {
        let sha = push.new.to_string();
        let short = &sha[..7];
        progress.line(&format!("-----> Building {short}")).await;

        let (path, commit) = (push.repo_path.clone(), push.new);
        let context = tokio::task::spawn_blocking(move || context::make(&path, commit))
            .await
            .map_err(|e| Rejection(format!("the build context task failed: {e}")))?
            .map_err(|e| Rejection(e.to_string()))?;

        let process_types = match &context.procfile {
            Some(bytes) => {
                let procfile = Procfile::from_bytes(bytes).map_err(|e| Rejection(e.to_string()))?;
                let types: Vec<&str> = procfile.types().map(ProcessType::as_str).collect();
                progress.line(&format!("-----> Procfile declares types -> {}", types.join(", "))).await;
                procfile
            }
            None => image_cmd_only(),
        };
        if !context.has_dockerfile {
            return Err(Rejection("-----> No Dockerfile found; buildpack builds come next".into()));
        }

        progress.line("-----> Building with the Dockerfile").await;
        let image = format!("paas/{}:{short}", push.app.as_str());
        let labels = HashMap::from([(LABEL_APP.to_owned(), push.app.as_str().to_owned())]);
        dockerfile::build(&self.docker, &image, &labels, context.tar, self.limits, progress)
            .await
            .map_err(|e| Rejection(e.to_string()))?;
        Ok(BuildResult { app: push.app, commit: push.new, image, process_types })
    }
}

/// `web` with an empty command: the image's own `CMD`.
fn image_cmd_only() -> Procfile {
    let web = ProcessType::parse("web").unwrap_or_else(|_| unreachable!("`web` is a valid process type"));
    Procfile(BTreeMap::from([(web, String::new())]))
}

impl PushHandler for BuildingHandler {
    fn handle<'a>(&'a self, push: Push, progress: Progress) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = self.build(push, &progress).await?;
            progress.line(&format!("-----> Build finished in {:.1}s", started.elapsed().as_secs_f64())).await;
            self.sink.built(result, &progress).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_procfile_web_runs_the_image_cmd() {
        let procfile = image_cmd_only();
        let web = ProcessType::parse("web").unwrap();
        assert_eq!(procfile.command(&web), Some(""));
        assert_eq!(procfile.types().count(), 1);
    }
}
