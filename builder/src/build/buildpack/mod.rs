//! Buildpack builds, Heroku's classic interface: each buildpack is a directory with
//! `bin/detect BUILD_DIR` (exit 0: it applies; its output names it), `bin/compile
//! BUILD_DIR CACHE_DIR ENV_DIR` and `bin/release BUILD_DIR` (YAML: `release`).
//!
//! The build runs in one build container made from the stack image (`container`): the
//! app's tree goes to `/app` (BUILD_DIR, where the app also runs) and the support
//! archive (`support`: buildpacks, ENV_DIR, an empty CACHE_DIR, the CA bundle) to
//! [`support::SUPPORT_DIR`], both by the engine's archive upload; `/app` is given to
//! the app user; the buildpacks are tried in order and the first whose `detect`
//! succeeds compiles, as the app user, its output reaching the user line by line
//! (`output`), then says what it releases. Then the container is stopped (ending
//! whatever the steps left running), started again to delete the support directory,
//! stopped, and committed as one layer on the stack image: user `app`, working
//! directory `/app`, the stack's command, its environment with `bin/release`'s
//! `config_vars` on top (the Python buildpack puts its virtualenv first on `PATH`
//! there). The container is removed whatever happens.
//!
//! The process types are the app's Procfile when it has one, else `bin/release`'s
//! `default_process_types`; with neither, the push is refused. The time limit covers
//! everything up to the commit; the CA bundle and the extra compile environment reach
//! `bin/compile` only.

mod container;
mod output;
pub mod release;
pub mod support;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use bollard::models::ContainerConfig;
use bollard::Docker;
use paas_core::{AppName, ConfigVars, ProcessType, Procfile};

use self::container::{BuildContainer, Exited, Output, Step};
use self::release::Release;
use self::support::SUPPORT_DIR;
use super::dockerfile::file_chunks;
use super::{BuildLimits, LABEL_APP};
use crate::handler::Progress;

/// The stack image buildpack builds run in and their images are made of.
pub const DEFAULT_STACK_IMAGE: &str = "paas/stack:bookworm";

/// How build containers are named: `paas-build-<app>-<short sha>-<nonce>`.
pub const BUILD_CONTAINER_PREFIX: &str = "paas-build-";

/// The user buildpacks run as and apps run as, in the stack image.
const APP_USER: &str = "app";
/// Where the app is built and runs.
const APP_DIR: &str = "/app";

/// Where buildpack builds get their buildpacks, stack and network settings.
#[derive(Clone, PartialEq, Eq)]
pub struct BuildpackConfig {
    /// The buildpacks' directory: one subdirectory per buildpack.
    pub dir: PathBuf,
    /// The buildpacks tried, in order: names of subdirectories of `dir`.
    pub order: Vec<String>,
    /// The stack image.
    pub stack_image: String,
    /// A CA bundle for `bin/compile` (pointed at by `SSL_CERT_FILE`, `PIP_CERT` and
    /// `REQUESTS_CA_BUNDLE`), for a package index behind a proxy with its own CA.
    pub ca_bundle: Option<PathBuf>,
    /// More environment for `bin/compile` (such as `PIP_INDEX_URL`); values may hold
    /// credentials, so `Debug` shows only the names.
    pub compile_env: BTreeMap<String, String>,
}

impl Default for BuildpackConfig {
    /// The repository's `buildpacks/` (python, then procfile), the default stack, no
    /// CA bundle, no extra environment.
    fn default() -> Self {
        Self {
            dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../buildpacks")),
            order: vec!["python".to_owned(), "procfile".to_owned()],
            stack_image: DEFAULT_STACK_IMAGE.to_owned(),
            ca_bundle: None,
            compile_env: BTreeMap::new(),
        }
    }
}

impl std::fmt::Debug for BuildpackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildpackConfig")
            .field("dir", &self.dir)
            .field("order", &self.order)
            .field("stack_image", &self.stack_image)
            .field("ca_bundle", &self.ca_bundle)
            .field("compile_env", &self.compile_env.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What a buildpack build is given.
#[derive(Debug)]
pub struct Job<'a> {
    /// The app.
    pub app: &'a AppName,
    /// The image to make, `paas/<app>:<short sha>`: its repository.
    pub repo: &'a str,
    /// Its tag, the short sha.
    pub tag: &'a str,
    /// The app's tree as a tar archive.
    pub context: File,
    /// The app's Procfile, when it has one.
    pub procfile: Option<&'a Procfile>,
    /// The app's config vars, for ENV_DIR.
    pub env: &'a ConfigVars,
}

/// What a buildpack build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The image id.
    pub image_id: String,
    /// The Procfile's process types, or else the buildpack's defaults.
    pub process_types: Procfile,
}

/// Why a buildpack build failed; the message is for the user.
#[derive(Debug, thiserror::Error)]
pub enum BuildpackError {
    /// No buildpack applies.
    #[error("No Dockerfile, and no buildpack detected an app ({0})")]
    NoneDetected(String),
    /// A step failed.
    #[error("failed to compile {name} app: bin/{step} exited with code {code}{hint}")]
    Failed {
        /// The detected app's name.
        name: String,
        /// `compile` or `release`.
        step: &'static str,
        /// Its exit code.
        code: i64,
        /// Why it most likely failed, when the build ran out of memory or processes.
        hint: String,
    },
    /// `bin/release` printed what cannot be read.
    #[error("the {buildpack} buildpack's bin/release printed YAML this builder cannot read: {error}")]
    Release {
        /// The buildpack.
        buildpack: String,
        /// Where and what.
        error: release::ReleaseError,
    },
    /// Neither a Procfile nor the buildpack names a process.
    #[error("no process types: add a Procfile with a line `web: <command>` (the {buildpack} buildpack declares none)")]
    NoProcessTypes {
        /// The buildpack.
        buildpack: String,
    },
    /// The build took too long.
    #[error("the build took longer than {0:?} and was stopped")]
    TimedOut(Duration),
    /// The stack image is not in the engine.
    #[error("the stack image {0} is missing from the Docker engine (`cargo xtask stack` makes it)")]
    NoStack(String),
    /// The buildpacks or the CA bundle cannot be read.
    #[error(transparent)]
    Support(#[from] support::SupportError),
    /// The task making the support archive failed.
    #[error("the support archive task failed: {0}")]
    Task(String),
    /// A step of the builder's own in the build container failed.
    #[error("the build container could not {action}: the command exited with code {code}")]
    Setup {
        /// What was being done.
        action: &'static str,
        /// The command's exit code.
        code: i64,
    },
    /// The engine failed.
    #[error("the Docker engine failed to {action}: {source}")]
    Engine {
        /// What was being done.
        action: &'static str,
        /// The engine's error.
        source: bollard::errors::Error,
    },
}

fn engine(action: &'static str) -> impl FnOnce(bollard::errors::Error) -> BuildpackError {
    move |source| BuildpackError::Engine { action, source }
}

/// Builds `job` with the buildpacks of `config` into `repo:tag`.
pub async fn build(
    docker: &Docker,
    config: &BuildpackConfig,
    job: Job<'_>,
    limits: BuildLimits,
    progress: &Progress,
) -> Result<Built, BuildpackError> {
    let stack = match docker.inspect_image(&config.stack_image).await {
        Ok(image) => image.config.unwrap_or_default(),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
            return Err(BuildpackError::NoStack(config.stack_image.clone()));
        }
        Err(e) => return Err(engine("inspect the stack image")(e)),
    };
    let (dir, order, env, ca) =
        (config.dir.clone(), config.order.clone(), job.env.clone(), config.ca_bundle.clone());
    let support = tokio::task::spawn_blocking(move || support::make(&dir, &order, &env, ca.as_deref()))
        .await
        .map_err(|e| BuildpackError::Task(e.to_string()))??;

    let name = format!("{BUILD_CONTAINER_PREFIX}{}-{}-{}", job.app, job.tag, nonce());
    let container = BuildContainer::create(docker, &config.stack_image, &name, limits)
        .await
        .map_err(engine("create the build container"))?;
    tracing::debug!(container = %container.id(), app = %job.app, "build container created");
    let run = steps(&container, config, job.context, support, job.procfile, limits, progress);
    let outcome = match tokio::time::timeout(limits.timeout, run).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => {
            container.remove().await;
            return Err(e);
        }
        Err(_) => {
            container.remove().await;
            return Err(BuildpackError::TimedOut(limits.timeout));
        }
    };

    progress.line(&format!("-----> Committing {}:{}", job.repo, job.tag)).await;
    let image = image_config(&stack, &outcome.release, job.app);
    let committed = container.commit(job.repo, job.tag, image).await.map_err(engine("commit the build"));
    container.remove().await;
    Ok(Built { image_id: committed?, process_types: outcome.process_types })
}

/// What the steps found.
struct Outcome {
    release: Release,
    process_types: Procfile,
}

/// Everything in the build container before the commit: upload, detect, compile,
/// release, clean up.
async fn steps(
    container: &BuildContainer,
    config: &BuildpackConfig,
    context: File,
    support: Vec<u8>,
    procfile: Option<&Procfile>,
    limits: BuildLimits,
    progress: &Progress,
) -> Result<Outcome, BuildpackError> {
    container
        .upload(APP_DIR, file_chunks(context))
        .await
        .map_err(engine("upload the app to the build container"))?;
    container
        .upload(support::SUPPORT_PARENT, futures_util::stream::iter([bytes::Bytes::from(support)]))
        .await
        .map_err(engine("upload the buildpacks to the build container"))?;
    container.start().await.map_err(engine("start the build container"))?;
    // The archive's files belong to root; the app owns its directory, as on Heroku.
    let chown = Step { cmd: strings(&["chown", "-R", "app:app", APP_DIR]), user: "root", env: Vec::new() };
    let exited = container.exec(chown, Output::Show(progress)).await.map_err(engine("run chown"))?;
    if exited.code != 0 {
        return Err(BuildpackError::Setup { action: "give /app to the app user", code: exited.code });
    }

    let (buildpack, name) = detect(container, config).await?;
    progress.line(&format!("-----> {name} app detected")).await;
    let bin = |script: &str| format!("{SUPPORT_DIR}/buildpacks/{buildpack}/bin/{script}");

    let compile = Step {
        cmd: vec![
            bin("compile"),
            APP_DIR.to_owned(),
            format!("{SUPPORT_DIR}/cache"),
            format!("{SUPPORT_DIR}/env"),
        ],
        user: APP_USER,
        env: compile_env(config),
    };
    let exited = container.exec(compile, Output::Show(progress)).await.map_err(engine("run bin/compile"))?;
    if exited.code != 0 {
        let hint = hint(container, exited.code, limits).await;
        return Err(BuildpackError::Failed { name, step: "compile", code: exited.code, hint });
    }

    let release = Step { cmd: vec![bin("release"), APP_DIR.to_owned()], user: APP_USER, env: Vec::new() };
    let exited = container.exec(release, Output::Keep).await.map_err(engine("run bin/release"))?;
    if exited.code != 0 {
        show_kept(progress, &exited).await;
        let hint = hint(container, exited.code, limits).await;
        return Err(BuildpackError::Failed { name, step: "release", code: exited.code, hint });
    }
    let text = String::from_utf8_lossy(&exited.stdout);
    let release = Release::parse(&text)
        .map_err(|error| BuildpackError::Release { buildpack: buildpack.clone(), error })?;

    progress.line("-----> Discovering process types").await;
    let process_types = match procfile {
        Some(procfile) => {
            progress.line(&format!("       Procfile declares types -> {}", type_list(procfile))).await;
            procfile.clone()
        }
        None if !release.default_process_types.0.is_empty() => {
            let defaults = &release.default_process_types;
            progress.line(&format!("       Default types for buildpack -> {}", type_list(defaults))).await;
            defaults.clone()
        }
        None => return Err(BuildpackError::NoProcessTypes { buildpack }),
    };

    // Stopping ends whatever the steps left running (and frees its processes); the
    // support directory is then deleted, and the container stopped for the commit.
    container.stop().await.map_err(engine("stop the build container"))?;
    container.start().await.map_err(engine("restart the build container"))?;
    let clean = Step { cmd: strings(&["rm", "-rf", SUPPORT_DIR]), user: "root", env: Vec::new() };
    let exited = container.exec(clean, Output::Show(progress)).await.map_err(engine("clean up"))?;
    if exited.code != 0 {
        return Err(BuildpackError::Setup {
            action: "delete the buildpacks from the build",
            code: exited.code,
        });
    }
    container.stop().await.map_err(engine("stop the build container"))?;
    Ok(Outcome { release, process_types })
}

/// Tries each buildpack's `bin/detect`; returns the first that applies and the name it
/// printed, or why none did.
async fn detect(
    container: &BuildContainer,
    config: &BuildpackConfig,
) -> Result<(String, String), BuildpackError> {
    let mut reasons = Vec::new();
    for buildpack in &config.order {
        let detect = Step {
            cmd: vec![format!("{SUPPORT_DIR}/buildpacks/{buildpack}/bin/detect"), APP_DIR.to_owned()],
            user: APP_USER,
            env: Vec::new(),
        };
        let exited = container.exec(detect, Output::Keep).await.map_err(engine("run bin/detect"))?;
        let said = first_line(&exited.stdout);
        if exited.code == 0 {
            let name = if said.is_empty() { buildpack.clone() } else { said };
            return Ok((buildpack.clone(), name));
        }
        let reason = Some(first_line(&exited.stderr)).filter(|r| !r.is_empty()).unwrap_or(said);
        tracing::debug!(%buildpack, code = exited.code, %reason, "not detected");
        reasons.push(if reason.is_empty() { buildpack.clone() } else { format!("{buildpack}: {reason}") });
    }
    Err(BuildpackError::NoneDetected(reasons.join("; ")))
}

/// The environment of `bin/compile`: the CA bundle's variables and the configured
/// extras.
fn compile_env(config: &BuildpackConfig) -> Vec<String> {
    let mut env = Vec::new();
    if config.ca_bundle.is_some() {
        for name in ["SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"] {
            env.push(format!("{name}={SUPPORT_DIR}/ca.crt"));
        }
    }
    env.extend(config.compile_env.iter().map(|(k, v)| format!("{k}={v}")));
    env
}

/// Why a step most likely failed, when the build ran out of memory or processes.
async fn hint(container: &BuildContainer, code: i64, limits: BuildLimits) -> String {
    if code == 137 || container.oom_killed().await {
        let mib = limits.memory_bytes >> 20;
        return format!(" (killed: most likely out of memory; a build may use {mib} MiB)");
    }
    match container.pids().await {
        // Still at 90% of the limit after the step ended: it most likely hit it.
        Some((current, limit)) if limit > 0 && current * 10 >= limit * 9 => {
            format!(" (most likely out of processes; a build may run {limit} at once)")
        }
        _ => String::new(),
    }
}

/// The image's configuration: the stack's, as the app user in `/app`, with the
/// release's config vars in its environment and the app's label.
fn image_config(stack: &bollard::models::ImageConfig, release: &Release, app: &AppName) -> ContainerConfig {
    let mut env: Vec<String> = stack
        .env
        .iter()
        .flatten()
        .filter(|entry| {
            let name = entry.split_once('=').map_or(entry.as_str(), |(name, _)| name);
            !release.config_vars.keys().any(|key| key.as_str() == name)
        })
        .cloned()
        .collect();
    env.extend(release.config_vars.iter().map(|(key, value)| format!("{key}={value}")));
    ContainerConfig {
        user: Some(APP_USER.to_owned()),
        working_dir: Some(APP_DIR.to_owned()),
        env: Some(env),
        cmd: stack.cmd.clone(),
        entrypoint: stack.entrypoint.clone(),
        labels: Some(HashMap::from([(LABEL_APP.to_owned(), app.as_str().to_owned())])),
        ..Default::default()
    }
}

async fn show_kept(progress: &Progress, exited: &Exited) {
    let mut lines = output::Lines::default();
    for bytes in [&exited.stdout, &exited.stderr] {
        for line in lines.push(bytes).into_iter().chain(lines.finish()) {
            if let Some(line) = output::format_line(&line) {
                progress.line(&line).await;
            }
        }
    }
}

/// A suffix telling apart build containers of the same commit: two pushes of it, or
/// builders in several processes.
fn nonce() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let count = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{:x}{count:x}{nanos:08x}", std::process::id())
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_owned()
}

fn type_list(procfile: &Procfile) -> String {
    procfile.types().map(ProcessType::as_str).collect::<Vec<_>>().join(", ")
}

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use paas_core::ConfigKey;

    #[test]
    fn the_image_keeps_the_stack_and_takes_the_release_vars() {
        let stack = bollard::models::ImageConfig {
            env: Some(vec!["PATH=/usr/bin:/bin".to_owned(), "LANG=C.UTF-8".to_owned()]),
            cmd: Some(vec!["/bin/bash".to_owned()]),
            user: Some("app".to_owned()),
            ..Default::default()
        };
        let release = Release {
            config_vars: BTreeMap::from([(
                ConfigKey::parse("PATH").unwrap(),
                "/app/.venv/bin:/usr/bin:/bin".to_owned(),
            )]),
            ..Release::default()
        };
        let config = image_config(&stack, &release, &AppName::parse("hello").unwrap());
        assert_eq!(config.env.unwrap(), ["LANG=C.UTF-8", "PATH=/app/.venv/bin:/usr/bin:/bin"]);
        assert_eq!(config.cmd.unwrap(), ["/bin/bash"]);
        assert_eq!(config.user.as_deref(), Some("app"));
        assert_eq!(config.working_dir.as_deref(), Some("/app"));
        assert_eq!(config.labels.unwrap()["paas.app"], "hello");
    }

    #[test]
    fn compile_gets_the_ca_and_the_extras_and_debug_hides_their_values() {
        let config = BuildpackConfig {
            ca_bundle: Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")),
            compile_env: BTreeMap::from([(
                "PIP_INDEX_URL".to_owned(),
                "https://u:s3cret@mirror/simple".to_owned(),
            )]),
            ..BuildpackConfig::default()
        };
        assert_eq!(
            compile_env(&config),
            [
                "SSL_CERT_FILE=/tmp/paas-build/ca.crt",
                "PIP_CERT=/tmp/paas-build/ca.crt",
                "REQUESTS_CA_BUNDLE=/tmp/paas-build/ca.crt",
                "PIP_INDEX_URL=https://u:s3cret@mirror/simple",
            ]
        );
        let debug = format!("{config:?}");
        assert!(debug.contains("PIP_INDEX_URL") && !debug.contains("s3cret"), "{debug}");
        assert!(compile_env(&BuildpackConfig::default()).is_empty());
    }
}
