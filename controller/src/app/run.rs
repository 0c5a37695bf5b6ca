//! One-off processes (`paas run`): a command run once in a container of the app's
//! current release, with its config, the caller attached to it through the run stream
//! ([`paas_core::run_stream`]) until it ends with its exit status.
//!
//! [`start`] checks the request and the caller, and starts the process
//! ([`crate::scheduler::oneoff`]); nothing starts for a request it refuses. [`attach`]
//! then carries the client's `Stdin` and `Resize` frames to the process and its output
//! back as `Stdout`/`Stderr` frames, then one `Exit` frame (or one `Error` frame), and
//! removes the container. A client that goes away, or a controller that stops, ends
//! the process.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};
use paas_core::api::{RunCommand, RunRequest};
use paas_core::run_stream::{Frame, FrameDecoder};
use paas_core::{ConfigKey, ConfigValue, ErrorChain};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::access::{find_app, Need};
use crate::auth::Caller;
use crate::db;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::scheduler::desired::PORT;
use crate::scheduler::oneoff::{self, Input, OneOff, OneOffSpec, Output};
use crate::State;

/// The body of a run response: run stream frames, as they come.
pub type RunStream = Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>>>>;

/// Starts a one-off process of the app's current release as `request` says.
pub async fn start(state: &State, caller: &Caller, name: &str, request: RunRequest) -> ApiResult<OneOff> {
    let argv = argv(request.command)?;
    let extra = extra_env(&request.env)?;
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let engine = state.engine.get().ok_or_else(no_engine)?;
    let release = {
        let mut conn = state.db.pool.acquire().await?;
        db::releases::release_by_version(&mut conn, app.id, app.last_release).await?
    };
    let Some((release, image)) = release.and_then(|r| r.image.clone().map(|image| (r, image))) else {
        return Err(ApiError::conflict(format!("app {} has no build to run yet", app.name))
            .with_hint(format!("deploy first: paas git:remote -a {0}, then git push paas main", app.name)));
    };
    let config: BTreeMap<String, String> = serde_json::from_str(&release.config)
        .map_err(|e| ApiError::internal("reading the release's config", e))?;
    let spec = OneOffSpec {
        app: app.name.clone(),
        release: release.version,
        image,
        argv,
        env: environment(config, extra),
        tty: request.tty,
    };
    oneoff::start(engine, spec).await.map_err(|e| ApiError {
        kind: ErrorKind::Unavailable,
        message: "the Docker engine could not start the one-off process".into(),
        hint: Some("try again; if it keeps happening, look at paasd's logs".into()),
        source: Some(Box::new(e)),
    })
}

/// The stream of a started one-off: `body` (the rest of the request's frames, after
/// those `decoder` holds already) goes to the process, its output comes back.
pub fn attach(
    state: &State,
    mut oneoff: OneOff,
    body: impl Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static,
    decoder: FrameDecoder,
) -> RunStream {
    // The request body is the HTTP server's, which stays on its thread.
    let input = oneoff.take_input().map(|input| actix_web::rt::spawn(pump_input(input, body, decoder)));
    let session = Session { oneoff: Some(oneoff), input, stop: state.shutdown.subscribe() };
    Box::pin(futures_util::stream::unfold(session, |mut session| async move {
        let frame = session.next_frame().await?;
        Some((Ok(Bytes::from(frame.to_bytes())), session))
    }))
}

/// A one-off being streamed; dropping it (the client went away) ends the process.
struct Session {
    oneoff: Option<OneOff>,
    input: Option<JoinHandle<()>>,
    stop: watch::Receiver<bool>,
}

impl Session {
    /// The next frame for the client; `None` after the last.
    async fn next_frame(&mut self) -> Option<Frame> {
        let oneoff = self.oneoff.as_mut()?;
        let stop = &mut self.stop;
        let output = tokio::select! {
            output = oneoff.next_output() => output,
            () = async {
                // Inside a block: the guard `wait_for` gives is not `Send`.
                let _ = stop.wait_for(|stopped| *stopped).await;
            } => {
                self.oneoff = None;
                return Some(Frame::Error("the platform is stopping: the one-off process was ended".into()));
            }
        };
        match output {
            Some(Ok(Output::Stdout(bytes))) => Some(Frame::Stdout(bytes.to_vec())),
            Some(Ok(Output::Stderr(bytes))) => Some(Frame::Stderr(bytes.to_vec())),
            Some(Err(e)) => {
                tracing::warn!(error = %ErrorChain(&e), "lost the output of a one-off");
                self.oneoff = None;
                Some(Frame::Error("the Docker engine stopped sending the one-off's output".into()))
            }
            None => {
                let oneoff = self.oneoff.take()?;
                Some(match oneoff.exit_status().await {
                    Ok(code) => Frame::Exit(exit_code(code)),
                    Err(e) => {
                        tracing::warn!(error = %ErrorChain(&e), "cannot read the exit status of a one-off");
                        Frame::Error("the Docker engine did not give the one-off's exit status".into())
                    }
                })
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(input) = self.input.take() {
            input.abort();
        }
    }
}

/// Carries the client's frames to the process until the request body ends, the client
/// closes stdin, or the stream breaks; stdin is closed after.
async fn pump_input(
    mut input: Input,
    mut body: impl Stream<Item = Result<Bytes, PayloadError>> + Unpin,
    mut decoder: FrameDecoder,
) {
    loop {
        loop {
            match decoder.next_frame() {
                Ok(Some(Frame::Stdin(bytes))) if bytes.is_empty() => {
                    let _ = input.close().await;
                }
                Ok(Some(Frame::Stdin(bytes))) => {
                    if input.write(&bytes).await.is_err() {
                        // The process closed its stdin or ended.
                        return;
                    }
                }
                Ok(Some(Frame::Resize { cols, rows })) => {
                    if let Err(e) = input.resize(cols, rows).await {
                        tracing::debug!(error = %ErrorChain(&e), "cannot resize a one-off's terminal");
                    }
                }
                Ok(Some(_)) => {
                    tracing::debug!("a run client sent a frame that only the controller sends");
                    let _ = input.close().await;
                    return;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "a run client's stream broke");
                    let _ = input.close().await;
                    return;
                }
            }
        }
        match body.next().await {
            Some(Ok(bytes)) => decoder.push(&bytes),
            Some(Err(_)) | None => {
                let _ = input.close().await;
                return;
            }
        }
    }
}

/// The program and its arguments: a list as it is, a string through `/bin/sh -c`.
fn argv(command: RunCommand) -> ApiResult<Vec<String>> {
    let argv = match command {
        RunCommand::Argv(argv) => argv,
        RunCommand::Shell(line) if line.trim().is_empty() => Vec::new(),
        RunCommand::Shell(line) => vec!["/bin/sh".into(), "-c".into(), line],
    };
    if argv.first().is_none_or(|program| program.trim().is_empty()) {
        return Err(ApiError::invalid("the command is empty")
            .with_hint("name the command after `--`, e.g. paas run -- python3 manage.py migrate"));
    }
    if argv.iter().any(|arg| arg.contains('\0')) {
        return Err(ApiError::invalid("the command must not contain a NUL byte"));
    }
    Ok(argv)
}

/// The request's own environment, checked like config vars.
fn extra_env(env: &BTreeMap<String, String>) -> ApiResult<BTreeMap<String, String>> {
    env.iter()
        .map(|(key, value)| {
            let key = ConfigKey::parse(key)?;
            let value = ConfigValue::parse(value)?;
            Ok((key.as_str().to_owned(), value.as_str().to_owned()))
        })
        .collect()
}

/// Config, then the request's environment, then `PORT`; `DYNO` is the one-off's own.
fn environment(config: BTreeMap<String, String>, extra: BTreeMap<String, String>) -> Vec<String> {
    let mut env = config;
    env.extend(extra);
    env.remove("DYNO");
    env.insert("PORT".into(), PORT.to_string());
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// An engine's exit status as the stream carries it.
fn exit_code(code: i64) -> i32 {
    i32::try_from(code).unwrap_or(if code < 0 { i32::MIN } else { i32::MAX })
}

fn no_engine() -> ApiError {
    ApiError::new(ErrorKind::Unavailable, "this platform runs no Docker engine, so it cannot run processes")
        .with_hint(format!(
            "one-off processes need the Docker engine: start paasd with {}=on",
            paas_core::settings::DOCKER.name
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_lists_or_shell_lines_and_never_empty() {
        let list = |args: &[&str]| RunCommand::Argv(args.iter().map(|a| (*a).to_owned()).collect());
        assert_eq!(argv(list(&["python3", "-V"])).unwrap(), ["python3", "-V"]);
        assert_eq!(argv(RunCommand::Shell("echo $PORT".into())).unwrap(), ["/bin/sh", "-c", "echo $PORT"]);
        for empty in [list(&[]), list(&[" "]), RunCommand::Shell(" \n".into())] {
            let err = argv(empty).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidRequest);
            assert!(err.hint.is_some());
        }
        assert_eq!(argv(list(&["sh", "a\0b"])).unwrap_err().kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn the_environment_is_config_then_request_then_the_platform() {
        let config = BTreeMap::from([("GREETING".to_owned(), "hi".to_owned()), ("PORT".into(), "1".into())]);
        let extra =
            extra_env(&BTreeMap::from([("EXTRA".into(), "x".into()), ("DYNO".into(), "web.1".into())]))
                .unwrap();
        assert_eq!(environment(config, extra), ["EXTRA=x", "GREETING=hi", "PORT=5000"]);
        let err = extra_env(&BTreeMap::from([("bad key".into(), "s3cr3t".into())])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(!err.message.contains("s3cr3t"));
    }

    #[test]
    fn exit_codes_fit() {
        assert_eq!(exit_code(3), 3);
        assert_eq!(exit_code(i64::MAX), i32::MAX);
        assert_eq!(exit_code(-1), -1);
    }
}
