//! Dockerfile builds: the build context goes to the Docker engine's `/build` through
//! bollard, with the build's memory and CPU limits; the engine's output lines reach the
//! user indented by 7 spaces, and its error ends the build. Intermediate containers are
//! removed whether the build succeeds or not (`rm`, `forcerm`); a failed build tags
//! nothing.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::handler::Progress;

/// The limits of one build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildLimits {
    /// Memory of each build step's container, in bytes; swap is not allowed on top.
    pub memory_bytes: u64,
    /// CPUs of each build step's container, in thousandths of a CPU.
    pub millicpus: u32,
    /// Processes (and threads) the build container may have at once. Buildpack builds
    /// only: the engine's image build API has no such limit.
    pub pids: u32,
    /// How long the whole build may take.
    pub timeout: Duration,
}

impl Default for BuildLimits {
    /// 2 GiB, 1 CPU, 1024 processes, 15 minutes.
    fn default() -> Self {
        Self { memory_bytes: 2 << 30, millicpus: 1000, pids: 1024, timeout: Duration::from_secs(15 * 60) }
    }
}

/// The engine's CPU period, in microseconds, against which the quota is counted.
const CPU_PERIOD_US: i32 = 100_000;

/// Why a Dockerfile build failed; the message is for the user.
#[derive(Debug, thiserror::Error)]
pub enum DockerBuildError {
    /// The engine reported an error (a failed step, a bad Dockerfile).
    #[error("the Docker build failed: {0}")]
    Engine(String),
    /// The build took longer than the limit.
    #[error("the Docker build took longer than {0:?}")]
    TimedOut(Duration),
    /// The engine could not be reached or answered badly.
    #[error("the Docker engine failed: {0}")]
    Unavailable(String),
    /// The engine's stream ended without an image.
    #[error("the Docker build ended without an image")]
    NoImage,
}

/// Builds `context` (a tar archive) into an image tagged `tag`, streaming the engine's
/// output to `progress`. Returns the image id.
///
/// A build whose cached step image went away under it (the engine's classic builder
/// picks a cache hit, then cannot find it: an image removal with its parents, by the
/// platform's image collection or an operator's prune, ran in between) is built once
/// more, which finds no such hit.
pub async fn build(
    docker: &Docker,
    tag: &str,
    labels: &HashMap<String, String>,
    mut context: File,
    limits: BuildLimits,
    progress: &Progress,
) -> Result<String, DockerBuildError> {
    let again = context.try_clone().map_err(|e| DockerBuildError::Unavailable(e.to_string()))?;
    match build_once(docker, tag, labels, context, limits, progress).await {
        Err(DockerBuildError::Engine(error)) if lost_cached_image(&error) => {
            progress.line("-----> A cached build step's image went away meanwhile; building again").await;
            context = again;
            context.seek(SeekFrom::Start(0)).map_err(|e| DockerBuildError::Unavailable(e.to_string()))?;
            build_once(docker, tag, labels, context, limits, progress).await
        }
        other => other,
    }
}

/// Whether the engine's error says a cached step image it chose is gone.
fn lost_cached_image(error: &str) -> bool {
    error.starts_with("unable to find image \"sha256:")
}

async fn build_once(
    docker: &Docker,
    tag: &str,
    labels: &HashMap<String, String>,
    context: File,
    limits: BuildLimits,
    progress: &Progress,
) -> Result<String, DockerBuildError> {
    // The engine's API counts memory in an i32 here: 2 GiB becomes 2 GiB less one byte.
    let memory = i32::try_from(limits.memory_bytes).unwrap_or(i32::MAX);
    let quota = i64::from(CPU_PERIOD_US) * i64::from(limits.millicpus) / 1000;
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(tag)
        .labels(labels)
        .rm(true)
        .forcerm(true)
        .memory(memory)
        .memswap(memory)
        .cpuperiod(CPU_PERIOD_US)
        .cpuquota(i32::try_from(quota).unwrap_or(i32::MAX))
        .build();
    let body = bollard::body_stream(file_chunks(context));
    let run = async {
        let mut stream = docker.build_image(options, None, Some(body));
        let mut image = None;
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(DockerBuildError::Engine(explain(error, limits)));
                }
                Err(e) => return Err(DockerBuildError::Unavailable(e.to_string())),
            };
            // Pull progress (`Downloading`, `Extracting` with byte counts) is left out.
            let pulling = info.progress_detail.as_ref().is_some_and(|d| d.current.is_some());
            let status = info.status.as_deref().filter(|_| !pulling);
            if let Some(text) = info.stream.as_deref().or(status) {
                for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                    progress.line(&format!("       {line}")).await;
                }
            }
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerBuildError::Engine(explain(detail, limits)));
            }
            if let Some(id) = info.aux.and_then(|aux| aux.id) {
                image = Some(id);
            }
        }
        image.ok_or(DockerBuildError::NoImage)
    };
    // Dropping the request on timeout closes the connection, which cancels the build.
    tokio::time::timeout(limits.timeout, run).await.map_err(|_| DockerBuildError::TimedOut(limits.timeout))?
}

/// The engine's error, with a hint when a step was killed (exit code 137), which under
/// the build's memory limit most likely means it ran out of memory.
fn explain(error: String, limits: BuildLimits) -> String {
    if error.ends_with("returned a non-zero code: 137") {
        let mib = limits.memory_bytes >> 20;
        format!("{error} (killed: most likely out of memory; a build step may use {mib} MiB)")
    } else {
        error
    }
}

/// The file's bytes as a stream of chunks, read on a blocking thread.
pub(crate) fn file_chunks(mut file: File) -> impl futures_util::Stream<Item = Bytes> + Send + 'static {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the build context");
                    break;
                }
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lost_cached_step_image_builds_again() {
        let lost = r#"unable to find image "sha256:5a82ad906e71ca153987777ec91aa28f36c85078eca041f118d8c9b998ff8b00""#;
        assert!(lost_cached_image(lost));
        for other in [
            "The command '/bin/sh -c false' returned a non-zero code: 1",
            r#"pull access denied for nosuch, repository does not exist"#,
            r#"unable to find image "nosuch:latest" locally"#,
        ] {
            assert!(!lost_cached_image(other), "{other}");
        }
    }
}
