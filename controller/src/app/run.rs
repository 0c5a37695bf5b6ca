//! One-off processes (`paas run`): a command run once in a container of the app's
//! current release, with its config, the caller attached to it through the run stream
//! ([`paas_core::run_stream`]) over a WebSocket until it ends with its exit status.
//!
//! [`start`] checks the request and the caller, and starts the process
//! ([`crate::scheduler::oneoff`]); nothing starts for a request it refuses, which is
//! answered before the WebSocket's `101`. [`attach`] then carries the client's `Stdin`
//! and `Resize` frames to the process and its output back as `Stdout`/`Stderr` frames,
//! then one `Exit` frame (or one `Error` frame), closes the WebSocket and removes the
//! container. A client that closes the WebSocket or goes away, or a controller that
//! stops, ends the process.

use std::collections::BTreeMap;

use actix_ws::{AggregatedMessage, CloseCode, MessageStream, Session};
use futures_util::StreamExt;
use paas_core::api::{RunCommand, RunRequest};
use paas_core::run_stream::{Frame, FrameDecoder, HEADER_LEN, MAX_PAYLOAD};
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

/// The largest WebSocket message read from a client: one whole frame.
const MAX_MESSAGE: usize = HEADER_LEN + MAX_PAYLOAD;

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

/// Streams a started one-off over the WebSocket of `session` and `messages`, on a
/// task of its own (on the HTTP server's thread, where the request body stays), until
/// it ends, the client goes, or the controller stops.
pub fn attach(state: &State, mut oneoff: OneOff, session: Session, messages: MessageStream) {
    let stop = state.shutdown.subscribe();
    let input = oneoff.take_input();
    actix_web::rt::spawn(async move {
        let mut client = actix_web::rt::spawn(pump_input(input, messages, session.clone()));
        follow(oneoff, session, &mut client, stop).await;
        // Its clone of the session goes with it, which ends the response.
        client.abort();
    });
}

/// Sends the process's output, then its exit status, and closes; returns early, which
/// drops the process and so ends it, when the client is gone (`client` ended or a send
/// failed).
async fn follow(
    mut oneoff: OneOff,
    mut session: Session,
    client: &mut JoinHandle<()>,
    mut stop: watch::Receiver<bool>,
) {
    let last = loop {
        let output = tokio::select! {
            output = oneoff.next_output() => output,
            _ = &mut *client => {
                tracing::debug!(process = %oneoff.process, "the run client went away: ending the one-off");
                let _ = session.close(None).await;
                return;
            }
            () = async {
                // Inside a block: the guard `wait_for` gives is not `Send`.
                let _ = stop.wait_for(|stopped| *stopped).await;
            } => {
                drop(oneoff);
                break Frame::Error("the platform is stopping: the one-off process was ended".into());
            }
        };
        let frame = match output {
            Some(Ok(Output::Stdout(bytes))) => Frame::Stdout(bytes.to_vec()),
            Some(Ok(Output::Stderr(bytes))) => Frame::Stderr(bytes.to_vec()),
            Some(Err(e)) => {
                tracing::warn!(error = %ErrorChain(&e), "lost the output of a one-off");
                drop(oneoff);
                break Frame::Error("the Docker engine stopped sending the one-off's output".into());
            }
            None => {
                break match oneoff.exit_status().await {
                    Ok(code) => Frame::Exit(exit_code(code)),
                    Err(e) => {
                        tracing::warn!(error = %ErrorChain(&e), "cannot read the exit status of a one-off");
                        Frame::Error("the Docker engine did not give the one-off's exit status".into())
                    }
                };
            }
        };
        if session.binary(frame.to_bytes()).await.is_err() {
            tracing::debug!(process = %oneoff.process, "the run client went away: ending the one-off");
            return;
        }
    };
    let _ = session.binary(last.to_bytes()).await;
    let _ = session.close(Some(CloseCode::Normal.into())).await;
}

/// Carries the client's frames to the process, and answers pings, until the client
/// closes the WebSocket or its connection ends. An empty `Stdin` frame closes stdin;
/// so does what a client should not send (a frame only the controller sends, a text
/// message, a broken frame), after which its frames are dropped, but the client is
/// still followed.
async fn pump_input(mut input: Option<Input>, messages: MessageStream, mut session: Session) {
    let mut messages =
        messages.max_frame_size(MAX_MESSAGE).aggregate_continuations().max_continuation_size(MAX_MESSAGE);
    let mut decoder = FrameDecoder::new();
    let mut open = input.is_some();
    while let Some(message) = messages.next().await {
        let bytes = match message {
            Ok(AggregatedMessage::Binary(bytes)) => bytes,
            Ok(AggregatedMessage::Ping(bytes)) => {
                let _ = session.pong(&bytes).await;
                continue;
            }
            Ok(AggregatedMessage::Pong(_)) => continue,
            Ok(AggregatedMessage::Text(_)) => {
                tracing::debug!("a run client sent a text message");
                if let Some(writer) = input.as_mut().filter(|_| open) {
                    let _ = writer.close().await;
                }
                open = false;
                continue;
            }
            Ok(AggregatedMessage::Close(_)) => return,
            Err(e) => {
                tracing::debug!(error = %e, "a run client's WebSocket broke");
                return;
            }
        };
        let Some(writer) = input.as_mut().filter(|_| open) else { continue };
        decoder.push(&bytes);
        loop {
            match decoder.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Stdin(bytes))) if bytes.is_empty() => {
                    let _ = writer.close().await;
                }
                Ok(Some(Frame::Stdin(bytes))) => {
                    if writer.write(&bytes).await.is_err() {
                        // The process closed its stdin or ended.
                        open = false;
                        break;
                    }
                }
                Ok(Some(Frame::Resize { cols, rows })) => {
                    if let Err(e) = writer.resize(cols, rows).await {
                        tracing::debug!(error = %ErrorChain(&e), "cannot resize a one-off's terminal");
                    }
                }
                Ok(Some(_)) => {
                    tracing::debug!("a run client sent a frame that only the controller sends");
                    open = false;
                    let _ = writer.close().await;
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "a run client's stream broke");
                    open = false;
                    let _ = writer.close().await;
                    break;
                }
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
