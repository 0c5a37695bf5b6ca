//! Building a push: [`BuildingHandler`] is the [`PushHandler`] that turns the pushed
//! commit into an image and hands the [`BuildResult`] to a [`BuildSink`].
//!
//! The steps: `context` streams the commit's tree into a tar archive (refusing `.git`
//! entries, escaping symlinks and submodules); a root `Procfile` is parsed (its errors,
//! with their line, reject the push); a root `Dockerfile` is built by the Docker engine
//! (`dockerfile`), anything else by buildpacks in a build container (`buildpack`),
//! into `paas/<app>:<short sha>`. A [`BuildEnv`] gives buildpack builds the app's
//! config vars.

pub mod buildpack;
pub mod context;
pub mod dockerfile;
pub mod publish;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bollard::Docker;
use paas_core::{AppName, ConfigVars, ProcessType, Procfile};

pub use buildpack::BuildpackConfig;
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
    /// The image reference: `paas/<app>:<short sha>` on the engine, or, once
    /// [`publish::PublishingSink`] pushed it, `<registry>/paas/<app>@sha256:...`.
    pub image: String,
    /// Who pushed it.
    pub pusher: String,
    /// The process types and their commands: the Procfile's when the app has one; else,
    /// for a buildpack build, the buildpack's `default_process_types`, and for a
    /// Dockerfile build `web` with an empty command, meaning the image's own
    /// `CMD`/`ENTRYPOINT`.
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

/// The app's config vars for a buildpack build: what `bin/compile` finds in ENV_DIR.
/// A rejection fails the push.
pub trait BuildEnv: Send + Sync + 'static {
    /// The config vars of `app`; values are secrets and are never logged.
    fn config_vars<'a>(&'a self, app: &'a AppName) -> BoxFuture<'a, Result<ConfigVars, Rejection>>;
}

/// Builds each push with the Docker engine and hands the result to a [`BuildSink`].
#[derive(Clone)]
pub struct BuildingHandler {
    docker: Docker,
    limits: BuildLimits,
    buildpacks: BuildpackConfig,
    env: Option<Arc<dyn BuildEnv>>,
    sink: Arc<dyn BuildSink>,
}

impl std::fmt::Debug for BuildingHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildingHandler")
            .field("limits", &self.limits)
            .field("buildpacks", &self.buildpacks)
            .field("env", &self.env.is_some())
            .finish_non_exhaustive()
    }
}

impl BuildingHandler {
    /// Connects to the local engine (`DOCKER_HOST` or the default socket) and agrees on
    /// an API version with it.
    pub async fn connect(sink: Arc<dyn BuildSink>) -> Result<Self, bollard::errors::Error> {
        let docker = Docker::connect_with_local_defaults()?.negotiate_version().await?;
        Ok(Self {
            docker,
            limits: BuildLimits::default(),
            buildpacks: BuildpackConfig::default(),
            env: None,
            sink,
        })
    }

    /// The same handler with other build limits.
    pub fn with_limits(mut self, limits: BuildLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The same handler with other buildpacks, stack or network settings.
    pub fn with_buildpacks(mut self, buildpacks: BuildpackConfig) -> Self {
        self.buildpacks = buildpacks;
        self
    }

    /// The same handler giving buildpack builds the config vars of `env` (without one,
    /// ENV_DIR is empty).
    pub fn with_build_env(mut self, env: Arc<dyn BuildEnv>) -> Self {
        self.env = Some(env);
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

        // Checked first, so a broken Procfile fails the push before any build.
        let procfile = match &context.procfile {
            Some(bytes) => Some(Procfile::from_bytes(bytes).map_err(|e| Rejection(e.to_string()))?),
            None => None,
        };
        let repo = format!("paas/{}", push.app.as_str());
        let image = format!("{repo}:{short}");

        if !context.has_dockerfile {
            let env = match &self.env {
                Some(env) => env.config_vars(&push.app).await?,
                None => ConfigVars::default(),
            };
            let job = buildpack::Job {
                app: &push.app,
                repo: &repo,
                tag: short,
                context: context.tar,
                procfile: procfile.as_ref(),
                env: &env,
            };
            let built = buildpack::build(&self.docker, &self.buildpacks, job, self.limits, progress)
                .await
                .map_err(|e| Rejection(e.to_string()))?;
            tracing::debug!(app = %push.app, id = %built.image_id, "committed");
            let process_types = built.process_types;
            return Ok(BuildResult {
                app: push.app,
                commit: push.new,
                image,
                pusher: push.pusher,
                process_types,
            });
        }

        if let Some(procfile) = &procfile {
            let types: Vec<&str> = procfile.types().map(ProcessType::as_str).collect();
            progress.line(&format!("-----> Procfile declares types -> {}", types.join(", "))).await;
        }
        progress.line("-----> Building with the Dockerfile").await;
        let labels = HashMap::from([(LABEL_APP.to_owned(), push.app.as_str().to_owned())]);
        dockerfile::build(&self.docker, &image, &labels, context.tar, self.limits, progress)
            .await
            .map_err(|e| Rejection(e.to_string()))?;
        let process_types = procfile.unwrap_or_else(image_cmd_only);
        Ok(BuildResult { app: push.app, commit: push.new, image, pusher: push.pusher, process_types })
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
