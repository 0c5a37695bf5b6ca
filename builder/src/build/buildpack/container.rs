//! The build container, through bollard: made from the stack image with the build's
//! limits (memory without swap, CPUs, processes), on the default bridge network, with
//! no mounts, no privileges and `no-new-privileges`; files go in by the engine's
//! archive upload, steps run by `exec`, and the result leaves by `commit`.
//!
//! Its main process is a root shell waiting on `sleep infinity`: it does nothing but reap
//! the orphans of the steps (so they do not hold on to the process limit) and stop on
//! SIGTERM. A [`BuildContainer`] is removed by [`BuildContainer::remove`], or, should
//! the build be dropped half-way, by a task its `Drop` starts.

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerConfig, ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CommitContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    StatsOptionsBuilder, StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;

use super::output::{format_line, Lines};
use crate::build::BuildLimits;
use crate::handler::Progress;

/// The main process: waits, reaping whatever the steps leave behind, until stopped.
const KEEPER: &str = "trap 'exit 0' TERM; sleep infinity & wait";

/// How long a stop waits for the main process before killing it.
const STOP_SECONDS: i32 = 5;

/// The most of a step's kept output, per stream, in bytes.
pub const MAX_KEPT: usize = 64 * 1024;

/// Where a step's output goes.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    /// Line by line to the user, formatted Heroku style.
    Show(&'a Progress),
    /// Kept (up to [`MAX_KEPT`] per stream) for the caller.
    Keep,
}

/// How a step ended.
#[derive(Debug, Default)]
pub struct Exited {
    /// Its exit code.
    pub code: i64,
    /// Its standard output, when kept.
    pub stdout: Vec<u8>,
    /// Its standard error, when kept.
    pub stderr: Vec<u8>,
}

/// A command to run in the build container.
#[derive(Debug)]
pub struct Step<'a> {
    /// The program and its arguments.
    pub cmd: Vec<String>,
    /// The user it runs as.
    pub user: &'a str,
    /// Its environment on top of the image's, as `KEY=value`; never logged.
    pub env: Vec<String>,
}

/// A build container; removed by [`BuildContainer::remove`] or, failing that, on drop.
pub struct BuildContainer {
    docker: Docker,
    id: String,
    removed: bool,
}

impl std::fmt::Debug for BuildContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContainer").field("id", &self.id).finish_non_exhaustive()
    }
}

impl BuildContainer {
    /// Creates (does not start) a build container of `image` named `name` with
    /// `limits`. (Not labels: a commit would copy them into the image.)
    pub async fn create(
        docker: &Docker,
        image: &str,
        name: &str,
        limits: BuildLimits,
    ) -> Result<Self, bollard::errors::Error> {
        let memory = i64::try_from(limits.memory_bytes).unwrap_or(i64::MAX);
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd: Some(["/bin/sh", "-c", KEEPER].map(str::to_owned).to_vec()),
            // The engine gives an `exec` as root the capabilities of root only when the
            // container's own user is root; under `no-new-privileges` the steps of the
            // app user then have none.
            user: Some("root".to_owned()),
            host_config: Some(HostConfig {
                memory: Some(memory),
                // Swap on top of the memory: none.
                memory_swap: Some(memory),
                nano_cpus: Some(i64::from(limits.millicpus) * 1_000_000),
                pids_limit: Some(i64::from(limits.pids)),
                security_opt: Some(vec!["no-new-privileges:true".to_owned()]),
                privileged: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        let created = docker.create_container(Some(options), body).await?;
        Ok(Self { docker: docker.clone(), id: created.id, removed: false })
    }

    /// The container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Extracts a tar archive into the directory `path`, which must exist.
    pub async fn upload(
        &self,
        path: &str,
        tar: impl futures_util::Stream<Item = Bytes> + Send + 'static,
    ) -> Result<(), bollard::errors::Error> {
        let options = UploadToContainerOptionsBuilder::new().path(path).build();
        self.docker.upload_to_container(&self.id, Some(options), bollard::body_stream(tar)).await
    }

    /// Starts the main process.
    pub async fn start(&self) -> Result<(), bollard::errors::Error> {
        self.docker.start_container(&self.id, None).await
    }

    /// Stops the container; every process in it ends.
    pub async fn stop(&self) -> Result<(), bollard::errors::Error> {
        let options = StopContainerOptionsBuilder::new().t(STOP_SECONDS).build();
        self.docker.stop_container(&self.id, Some(options)).await
    }

    /// Runs `step` to its end, its output going to `output`.
    pub async fn exec(&self, step: Step<'_>, output: Output<'_>) -> Result<Exited, bollard::errors::Error> {
        let options = CreateExecOptions {
            cmd: Some(step.cmd),
            user: Some(step.user.to_owned()),
            env: Some(step.env),
            working_dir: Some("/app".to_owned()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = self.docker.create_exec(&self.id, options).await?;
        let mut exited = Exited::default();
        if let StartExecResults::Attached { output: mut stream, .. } =
            self.docker.start_exec(&exec.id, None).await?
        {
            let (mut out_lines, mut err_lines) = (Lines::default(), Lines::default());
            while let Some(chunk) = stream.next().await {
                let (bytes, lines, kept) = match chunk? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        (message, &mut out_lines, &mut exited.stdout)
                    }
                    LogOutput::StdErr { message } => (message, &mut err_lines, &mut exited.stderr),
                    LogOutput::StdIn { .. } => continue,
                };
                match output {
                    Output::Show(progress) => show(progress, lines.push(&bytes)).await,
                    Output::Keep => {
                        let room = (MAX_KEPT + 1).saturating_sub(kept.len());
                        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
                    }
                }
            }
            if let Output::Show(progress) = output {
                show(progress, out_lines.finish().into_iter().chain(err_lines.finish())).await;
            }
        }
        exited.code = self.exit_code(&exec.id).await?;
        Ok(exited)
    }

    /// The exit code of a finished exec; the engine may take a moment to record it.
    async fn exit_code(&self, exec: &str) -> Result<i64, bollard::errors::Error> {
        for _ in 0..100 {
            let inspected = self.docker.inspect_exec(exec).await?;
            if inspected.running != Some(true) {
                if let Some(code) = inspected.exit_code {
                    return Ok(code);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The output ended, so the process did; an unknown code is a failure.
        Ok(-1)
    }

    /// Whether the kernel killed a process of the container for want of memory.
    pub async fn oom_killed(&self) -> bool {
        match self.docker.inspect_container(&self.id, None).await {
            Ok(inspected) => inspected.state.and_then(|s| s.oom_killed).unwrap_or(false),
            Err(e) => {
                tracing::warn!(container = %self.id, error = %e, "cannot inspect the build container");
                false
            }
        }
    }

    /// How many processes the container has, and its limit.
    pub async fn pids(&self) -> Option<(u64, u64)> {
        let options = StatsOptionsBuilder::new().stream(false).one_shot(true).build();
        let stats = self.docker.stats(&self.id, Some(options)).next().await?.ok()?;
        let pids = stats.pids_stats?;
        Some((pids.current?, pids.limit?))
    }

    /// Commits the container's file system as the image `repo:tag` with `config`;
    /// returns the image id.
    pub async fn commit(
        &self,
        repo: &str,
        tag: &str,
        config: ContainerConfig,
    ) -> Result<String, bollard::errors::Error> {
        let options =
            CommitContainerOptionsBuilder::new().container(&self.id).repo(repo).tag(tag).pause(false).build();
        Ok(self.docker.commit_container(options, config).await?.id)
    }

    /// Kills and removes the container.
    pub async fn remove(mut self) {
        self.removed = true;
        remove(&self.docker, &self.id).await;
    }
}

impl Drop for BuildContainer {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let (docker, id) = (self.docker.clone(), std::mem::take(&mut self.id));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { remove(&docker, &id).await });
            }
            Err(_) => {
                tracing::error!(container = %id, "the build container is left behind: no runtime to remove it")
            }
        }
    }
}

async fn remove(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => {}
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
        Err(e) => tracing::error!(container = %id, error = %e, "cannot remove the build container"),
    }
}

async fn show(progress: &Progress, lines: impl IntoIterator<Item = String>) {
    for line in lines {
        if let Some(line) = format_line(&line) {
            progress.line(&line).await;
        }
    }
}
