//! One-off processes (`paas run`): a container of an app's release that runs one
//! command with the caller attached to its stdin and output, and goes when it ends.
//!
//! A one-off is labelled like a process ([`LABEL_PLATFORM`], [`LABEL_APP`],
//! [`LABEL_RELEASE`], [`LABEL_TYPE`] `run`, [`LABEL_INDEX`] its number) and with
//! [`LABEL_ONEOFF`], which makes [`Engine::list`] leave it out, so the reconciler never
//! adopts or removes it. It gets what a process gets and nothing more: the image, the
//! command, the environment, the platform network; no mounts, no privileges, never the
//! Docker socket, no restart policy.
//!
//! The container is removed once its exit status is read, or when the [`OneOff`] is
//! dropped (the client went away). Should the controller die meanwhile, the next
//! [`start`] removes every one-off of the platform that has stopped.

use std::collections::HashMap;
use std::pin::Pin;

use bollard::container::LogOutput;
use bollard::errors::Error;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder,
    ResizeContainerTTYOptionsBuilder,
};
use futures_util::{Stream, StreamExt};
use paas_core::ErrorChain;
use rand::Rng;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

use super::docker::{
    is_status, network_name, Engine, LABEL_APP, LABEL_INDEX, LABEL_PLATFORM, LABEL_RELEASE, LABEL_TYPE,
};

/// Marks a one-off process's container (value `1`).
pub const LABEL_ONEOFF: &str = "paas.oneoff";

/// The process type of one-off processes: `DYNO=run.<n>`.
pub const PROCESS_TYPE: &str = "run";

/// How many names a start tries when another one-off holds the one it drew.
const NAME_ATTEMPTS: usize = 5;

/// Whether a container's labels make it a one-off process.
pub fn is_oneoff(labels: &HashMap<String, String>) -> bool {
    labels.contains_key(LABEL_ONEOFF)
}

/// What to run.
#[derive(Clone)]
pub struct OneOffSpec {
    /// The app's name.
    pub app: String,
    /// The release whose image and config it runs.
    pub release: i64,
    /// The release's image.
    pub image: String,
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// `KEY=value`, without `DYNO` (which [`start`] adds).
    pub env: Vec<String>,
    /// Whether it gets a terminal.
    pub tty: bool,
}

impl std::fmt::Debug for OneOffSpec {
    // The environment holds config values: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneOffSpec")
            .field("app", &self.app)
            .field("release", &self.release)
            .field("image", &self.image)
            .field("tty", &self.tty)
            .finish_non_exhaustive()
    }
}

/// What a one-off process wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// To stdout, or to its terminal.
    Stdout(actix_web::web::Bytes),
    /// To stderr.
    Stderr(actix_web::web::Bytes),
}

/// A started one-off process, attached.
pub struct OneOff {
    /// Its process name, `run.<n>`.
    pub process: String,
    output: Pin<Box<dyn Stream<Item = Result<LogOutput, Error>> + Send>>,
    input: Option<Input>,
    wait: Option<JoinHandle<Result<i64, Error>>>,
    container: Container,
}

/// The way into a one-off process: its stdin and its terminal's size.
pub struct Input {
    writer: Option<Pin<Box<dyn AsyncWrite + Send>>>,
    tty: bool,
    engine: Engine,
    id: String,
}

/// Removes the container when dropped, unless it is gone already.
struct Container {
    engine: Engine,
    id: String,
    removed: bool,
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let (engine, id) = (self.engine.clone(), self.id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = engine.remove(&id).await {
                    tracing::warn!(container = %short(&id), error = %ErrorChain(&e), "cannot remove a one-off");
                }
            });
        }
    }
}

/// Creates, attaches to and starts a one-off process of `spec`; pulls the image when
/// the engine lacks it.
pub async fn start(engine: &Engine, spec: OneOffSpec) -> Result<OneOff, Error> {
    start_as(engine, spec, PROCESS_TYPE).await
}

/// [`start`] with another process type than `run` (the release phase's `release`):
/// `DYNO=<type>.<n>`, label [`LABEL_TYPE`] `<type>`.
pub async fn start_as(engine: &Engine, spec: OneOffSpec, process_type: &str) -> Result<OneOff, Error> {
    sweep(engine).await;
    engine.ensure_network().await?;
    let (container, process) = create(engine, &spec, process_type).await?;
    let options =
        AttachContainerOptionsBuilder::new().stdin(true).stdout(true).stderr(true).stream(true).build();
    let attached = engine.docker().attach_container(&container.id, Some(options)).await?;
    engine.docker().start_container(&container.id, None).await?;
    // Started before the process can end; without auto-removal the container stays
    // until it is removed, so the wait cannot miss it.
    let wait = {
        let docker = engine.docker().clone();
        let id = container.id.clone();
        tokio::spawn(async move {
            let mut wait = docker.wait_container(&id, None);
            match wait.next().await {
                Some(Ok(response)) => Ok(response.status_code),
                Some(Err(Error::DockerContainerWaitError { code, .. })) => Ok(code),
                Some(Err(e)) => Err(e),
                None => Err(Error::DockerStreamError { error: "the engine's wait ended early".into() }),
            }
        })
    };
    tracing::info!(app = %spec.app, release = spec.release, %process, container = %short(&container.id),
        "one-off started");
    let input = Input {
        writer: Some(attached.input),
        tty: spec.tty,
        engine: engine.clone(),
        id: container.id.clone(),
    };
    Ok(OneOff { process, output: attached.output, input: Some(input), wait: Some(wait), container })
}

async fn create(
    engine: &Engine,
    spec: &OneOffSpec,
    process_type: &str,
) -> Result<(Container, String), Error> {
    let mut pulled = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let index: u32 = rand::thread_rng().gen_range(1000..10_000);
        let process = format!("{process_type}.{index}");
        let name = format!("paas-{}-{}-{process}", engine.platform(), spec.app);
        let mut env = spec.env.clone();
        env.push(format!("DYNO={process}"));
        let labels = HashMap::from([
            (LABEL_PLATFORM.to_owned(), engine.platform().to_owned()),
            (LABEL_APP.to_owned(), spec.app.clone()),
            (LABEL_RELEASE.to_owned(), spec.release.to_string()),
            (LABEL_TYPE.to_owned(), process_type.to_owned()),
            (LABEL_INDEX.to_owned(), index.to_string()),
            (LABEL_ONEOFF.to_owned(), "1".to_owned()),
        ]);
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(spec.argv.clone()),
            env: Some(env),
            labels: Some(labels),
            tty: Some(spec.tty),
            open_stdin: Some(true),
            stdin_once: Some(true),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some(network_name(engine.platform())),
                init: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        match engine.docker().create_container(Some(options), body).await {
            Ok(created) => {
                return Ok((Container { engine: engine.clone(), id: created.id, removed: false }, process))
            }
            Err(e) if is_status(&e, 404) && !pulled => {
                engine.pull(&spec.image).await?;
                pulled = true;
            }
            // Another one-off drew the same number.
            Err(e) if is_status(&e, 409) && attempt < NAME_ATTEMPTS => {}
            Err(e) => return Err(e),
        }
    }
}

/// Removes the one-offs of the platform that have stopped: those whose controller
/// died before it could remove them.
async fn sweep(engine: &Engine) {
    let filters = HashMap::from([
        ("label", vec![format!("{LABEL_PLATFORM}={}", engine.platform()), format!("{LABEL_ONEOFF}=1")]),
        ("status", vec!["exited".to_owned(), "dead".to_owned()]),
    ]);
    let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    let stopped = match engine.docker().list_containers(Some(options)).await {
        Ok(stopped) => stopped,
        Err(e) => {
            tracing::debug!(error = %ErrorChain(&e), "cannot list stopped one-offs");
            return;
        }
    };
    for id in stopped.into_iter().filter_map(|c| c.id) {
        if let Err(e) = engine.remove(&id).await {
            tracing::debug!(container = %short(&id), error = %ErrorChain(&e), "cannot remove a stopped one-off");
        }
    }
}

impl OneOff {
    /// The way into the process; `None` once taken.
    pub fn take_input(&mut self) -> Option<Input> {
        self.input.take()
    }

    /// The next piece of output; `None` when the process closed its output (it ended).
    pub async fn next_output(&mut self) -> Option<Result<Output, Error>> {
        loop {
            return match self.output.next().await? {
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                    Some(Ok(Output::Stdout(message)))
                }
                Ok(LogOutput::StdErr { message }) => Some(Ok(Output::Stderr(message))),
                // The engine echoes no stdin on attach; should it, it is not output.
                Ok(LogOutput::StdIn { .. }) => continue,
                Err(e) => Some(Err(e)),
            };
        }
    }

    /// Waits for the process to end, removes its container and returns its exit status.
    pub async fn exit_status(mut self) -> Result<i64, Error> {
        let status = match self.wait.take() {
            Some(wait) => wait.await.map_err(|e| Error::IOError { err: std::io::Error::other(e) })?,
            None => Err(Error::DockerStreamError { error: "no wait for the one-off".into() }),
        };
        match self.container.engine.remove(&self.container.id).await {
            Ok(()) => self.container.removed = true,
            Err(e) => {
                tracing::warn!(container = %short(&self.container.id), error = %ErrorChain(&e),
                    "cannot remove a one-off");
            }
        }
        if let Ok(code) = &status {
            tracing::info!(process = %self.process, container = %short(&self.container.id), status = code,
                "one-off ended");
        }
        status
    }
}

impl Drop for OneOff {
    fn drop(&mut self) {
        if let Some(wait) = self.wait.take() {
            wait.abort();
        }
    }
}

impl Input {
    /// Writes `bytes` to the process's stdin; after [`Input::close`], does nothing.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.writer {
            Some(writer) => {
                writer.write_all(bytes).await?;
                writer.flush().await
            }
            None => Ok(()),
        }
    }

    /// Closes the process's stdin: it reads end of file. Not with a TTY, where the end
    /// of input is a key (Ctrl-D) and the engine would stop sending the output instead.
    pub async fn close(&mut self) -> std::io::Result<()> {
        if self.tty {
            return Ok(());
        }
        match self.writer.take() {
            Some(mut writer) => writer.shutdown().await,
            None => Ok(()),
        }
    }

    /// Sets the size of the process's terminal.
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), Error> {
        let options = ResizeContainerTTYOptionsBuilder::new().w(i32::from(cols)).h(i32::from(rows)).build();
        self.engine.docker().resize_container_tty(&self.id, options).await
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn one_offs_are_told_apart_by_their_label() {
        let process = labels(&[
            (LABEL_PLATFORM, "p"),
            (LABEL_APP, "a"),
            (LABEL_RELEASE, "1"),
            (LABEL_TYPE, "web"),
            (LABEL_INDEX, "1"),
        ]);
        assert!(!is_oneoff(&process));
        let mut oneoff = process.clone();
        oneoff.insert(LABEL_TYPE.into(), PROCESS_TYPE.into());
        oneoff.insert(LABEL_INDEX.into(), "4821".into());
        oneoff.insert(LABEL_ONEOFF.into(), "1".into());
        assert!(is_oneoff(&oneoff));
    }
}
