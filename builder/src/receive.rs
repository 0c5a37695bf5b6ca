//! `POST /<app>.git/git-receive-pack`: read the commands, store the pack, then for
//! each command move the ref by compare-and-swap and hand the push to the
//! [`PushHandler`](crate::PushHandler), streaming its progress and the report back.
//!
//! The request is read whole (within the size limit and the request timeout) before
//! the response starts; the response then streams while the handler works.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use paas_core::AppName;
use tokio::sync::mpsc;

use crate::body::ResponseBody;
use crate::error::ErrorChain;
use crate::handler::{Progress, Push};
use crate::http::{no_cache, text};
use crate::protocol::{self, Command, Commands};
use crate::repo::{self, Swap};
use crate::Shared;

/// The refs a push may update.
pub const DEPLOY_REFS: [&str; 2] = ["refs/heads/main", "refs/heads/master"];

/// A limit in words.
fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Handles one push request.
pub(crate) async fn receive(
    shared: Arc<Shared>,
    app: AppName,
    pusher: String,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let limit = shared.config.max_push_bytes;
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("The push is larger than the {} limit.", human_bytes(limit)),
        )
    };
    let headers = req.headers();
    if headers.get(header::CONTENT_ENCODING).is_some_and(|v| v.as_bytes() != b"identity") {
        return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Compressed push requests are not supported.");
    }
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large();
    }
    let read =
        tokio::time::timeout(shared.config.request_timeout, read_request(&shared, &app, req.into_body()));
    let (commands, repo_path, unpack) = match read.await {
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "The push took too long to arrive."),
        Ok(Err(ReadError::Response(response))) => return response,
        Ok(Err(ReadError::TooLarge)) => return too_large(),
        Ok(Ok(Read::Probe)) => {
            // Git's probe (`0000`) before a large push, or a push with nothing to do.
            return result_response(ResponseBody::from(Vec::new()));
        }
        Ok(Ok(Read::Push { commands, repo_path, unpack })) => (commands, repo_path, unpack),
    };
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(finish(shared, app, pusher, repo_path, commands, unpack, tx));
    result_response(ResponseBody::Stream(rx))
}

fn result_response(body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-git-receive-pack-result"));
    no_cache(&mut response);
    response
}

enum Read {
    Probe,
    Push { commands: Commands, repo_path: PathBuf, unpack: Result<(), String> },
}

enum ReadError {
    Response(Response<ResponseBody>),
    TooLarge,
}

fn bad_request(message: &str) -> ReadError {
    ReadError::Response(text(StatusCode::BAD_REQUEST, message))
}

fn internal(message: &str) -> ReadError {
    ReadError::Response(text(StatusCode::INTERNAL_SERVER_ERROR, message))
}

async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>, ReadError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => {
                tracing::debug!(error = %ErrorChain(&e), "the push request broke off");
                return Err(bad_request("The push request broke off."));
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

async fn read_request(shared: &Arc<Shared>, app: &AppName, mut body: Incoming) -> Result<Read, ReadError> {
    let limit = shared.config.max_push_bytes;
    let mut buf = Vec::new();
    let (commands, used) = loop {
        match protocol::parse_commands(&buf) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => {}
            Err(e) => return Err(bad_request(&format!("Not a git push: {e}."))),
        }
        match next_chunk(&mut body).await? {
            Some(chunk) => buf.extend_from_slice(&chunk),
            None => return Err(bad_request("Not a git push: the request ends inside the commands.")),
        }
        if buf.len() as u64 > limit {
            return Err(ReadError::TooLarge);
        }
    };
    if commands.list.is_empty() {
        return Ok(Read::Probe);
    }

    let opened = {
        let shared = shared.clone();
        let app = app.clone();
        tokio::task::spawn_blocking(move || shared.repos.open_or_init(&app).map(|_| shared.repos.path(&app)))
            .await
    };
    let repo_path = match opened {
        Ok(Ok(path)) => path,
        Ok(Err(e)) => {
            tracing::error!(%app, error = %ErrorChain(&e), "cannot open the app's repository");
            return Err(internal("The app's repository cannot be opened."));
        }
        Err(e) => {
            tracing::error!(%app, error = %e, "the repository task failed");
            return Err(internal("The app's repository cannot be opened."));
        }
    };

    let (pack_tx, pack_rx) = mpsc::channel::<Bytes>(8);
    let writer = {
        let path = repo_path.clone();
        tokio::task::spawn_blocking(move || repo::write_pack(&path, pack_rx))
    };
    let mut total = buf.len() as u64;
    let mut over = false;
    let mut pack_tx = Some(pack_tx);
    let rest = Bytes::from(buf).slice(used..);
    let mut next = if rest.is_empty() { next_chunk(&mut body).await? } else { Some(rest) };
    while let Some(chunk) = next {
        if !over {
            total += chunk.len() as u64;
            if total > limit {
                // Keep reading (and dropping) so the client hears the reason, not a reset.
                over = true;
                pack_tx = None;
            } else if let Some(tx) = &pack_tx {
                if tx.send(chunk).await.is_err() {
                    // The writer stopped on a bad pack; drain the rest for the report.
                    pack_tx = None;
                }
            }
        }
        next = next_chunk(&mut body).await?;
    }
    drop(pack_tx);
    let written = writer.await;
    let unpack = if over {
        Err(format!("the push is larger than the {} limit", human_bytes(limit)))
    } else {
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(repo::UnpackError::Pack(reason))) => {
                tracing::info!(%app, %reason, "push refused: unusable pack");
                Err(reason)
            }
            Ok(Err(e)) => {
                tracing::error!(%app, error = %ErrorChain(&e), "cannot store a pack");
                Err("the repository cannot be written".into())
            }
            Err(e) => {
                tracing::error!(%app, error = %e, "the pack writer task failed");
                Err("the repository cannot be written".into())
            }
        }
    };
    Ok(Read::Push { commands, repo_path, unpack })
}

async fn finish(
    shared: Arc<Shared>,
    app: AppName,
    pusher: String,
    repo_path: PathBuf,
    commands: Commands,
    unpack: Result<(), String>,
    tx: mpsc::Sender<Bytes>,
) {
    let caps = commands.caps;
    // Like hook output in git's own receive-pack, build progress is sent even when the
    // client asked for `quiet` (which git does whenever stderr is not a terminal).
    let progress = Progress::new(tx.clone(), caps.side_band_64k);
    let mut results = Vec::with_capacity(commands.list.len());
    for command in commands.list {
        let result = apply(&shared, &app, &pusher, &repo_path, &command, &unpack, &progress).await;
        results.push((command.name, result));
    }
    drop(progress);
    let mut out = Vec::new();
    if caps.report_status {
        let report = protocol::report(&unpack, &results);
        if caps.side_band_64k {
            out.extend(protocol::sideband(protocol::BAND_DATA, &report));
        } else {
            out.extend(report);
        }
    }
    if caps.side_band_64k {
        paas_core::pktline::write_flush(&mut out);
    }
    let _ = tx.send(Bytes::from(out)).await;
}

async fn apply(
    shared: &Arc<Shared>,
    app: &AppName,
    pusher: &str,
    repo_path: &std::path::Path,
    command: &Command,
    unpack: &Result<(), String>,
    progress: &Progress,
) -> Result<(), String> {
    if unpack.is_err() {
        return Err("unpacker error".into());
    }
    if command.is_delete() {
        return Err("deleting is refused".into());
    }
    if !DEPLOY_REFS.contains(&command.name.as_str()) {
        return Err("only main or master deploys".into());
    }
    let swapped = {
        let (path, command) = (repo_path.to_owned(), command.clone());
        tokio::task::spawn_blocking(move || -> Result<Result<(), String>, repo::RepoError> {
            let repo = git2::Repository::open_bare(&path)
                .map_err(|source| repo::RepoError { action: "open the repository".into(), source })?;
            if repo.find_commit(command.new).is_err() {
                return Ok(Err("missing necessary objects".into()));
            }
            match repo::swap_ref(&repo, &command.name, command.old, command.new, "push")? {
                Swap::Done => Ok(Ok(())),
                Swap::Moved => Ok(Err("the branch moved during the push; fetch first".into())),
            }
        })
        .await
    };
    match swapped {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(reason))) => {
            tracing::info!(%app, ref_name = %command.name, %reason, "push refused");
            return Err(reason);
        }
        Ok(Err(e)) => {
            tracing::error!(%app, error = %ErrorChain(&e), "cannot update a ref");
            return Err("the branch cannot be updated".into());
        }
        Err(e) => {
            tracing::error!(%app, error = %e, "the ref update task failed");
            return Err("the branch cannot be updated".into());
        }
    }
    let push = Push {
        app: app.clone(),
        ref_name: command.name.clone(),
        old: command.old,
        new: command.new,
        repo_path: repo_path.to_owned(),
        pusher: pusher.to_owned(),
    };
    match shared.handler.handle(push, progress.clone()).await {
        Ok(()) => {
            tracing::info!(%app, ref_name = %command.name, old = %command.old, new = %command.new, "push accepted");
            Ok(())
        }
        Err(rejection) => {
            tracing::info!(%app, ref_name = %command.name, new = %command.new, reason = %rejection, "push rejected by the handler");
            progress.line(&format!(" !     {rejection}")).await;
            let (path, back) = (repo_path.to_owned(), command.clone());
            let reverted = tokio::task::spawn_blocking(move || {
                let repo = git2::Repository::open_bare(&path)
                    .map_err(|source| repo::RepoError { action: "open the repository".into(), source })?;
                repo::swap_ref(&repo, &back.name, back.new, back.old, "push rejected")
            })
            .await;
            match reverted {
                Ok(Ok(Swap::Done)) => {}
                Ok(Ok(Swap::Moved)) => {
                    tracing::warn!(%app, ref_name = %command.name, "not moving the branch back: another push moved it")
                }
                Ok(Err(e)) => tracing::error!(%app, error = %ErrorChain(&e), "cannot move the branch back"),
                Err(e) => tracing::error!(%app, error = %e, "the ref revert task failed"),
            }
            Err(rejection.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_in_words() {
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(human_bytes(64 << 10), "64 KiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }
}
