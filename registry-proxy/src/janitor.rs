//! Letting go of images: deleting manifests through the registry's HTTP API and
//! running its garbage collection.
//!
//! A [`Janitor`] is a handle; its jobs are carried out inside [`crate::platform::run_with`],
//! which holds the signing key. A manifest is deleted with `DELETE
//! /v2/<repository>/manifests/<digest>` straight to the registry on loopback, with a
//! token the janitor signs itself for the subject `gc` and exactly the scope
//! `repository:<repository>:delete` (Distribution 2.8 wants the `delete` action for a
//! `DELETE`); no client credentials can ask for it, since the token endpoint's
//! principals are never allowed `delete`. Deleting a manifest also removes the tags
//! that point at it. The blobs are freed by `docker-registry garbage-collect`, which
//! the registry's supervisor runs with the registry stopped (Distribution's documented
//! safe way: a registry that accepts uploads while it collects may lose a layer being
//! pushed, and its in-memory blob cache would still name the deleted blobs), then
//! starts it again; callers keep pushes from overlapping (paasd holds them back).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, oneshot};

use crate::scope::Scope;
use crate::token::TokenIssuer;

/// The subject of the janitor's tokens.
pub const SUBJECT: &str = "gc";
/// How long the registry may take to answer again after a garbage collection.
const RESTART_LIMIT: Duration = Duration::from_secs(20);
/// How long one registry request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the janitor could not do a job.
#[derive(Debug, thiserror::Error)]
pub enum JanitorError {
    /// The registry is not running (paasd or the proxy stops).
    #[error("the registry is not running")]
    Stopped,
    /// The repository or digest is not one the registry's API accepts.
    #[error("{0:?} is no repository and digest")]
    Reference(String),
    /// A token could not be signed.
    #[error(transparent)]
    Sign(#[from] crate::token::SignError),
    /// The registry could not be reached.
    #[error("the registry cannot be reached: {0}")]
    Unreachable(String),
    /// The registry refused the delete.
    #[error("the registry answered {status} to deleting {what}: {body}")]
    Refused {
        /// What was deleted.
        what: String,
        /// The status.
        status: StatusCode,
        /// The start of its body.
        body: String,
    },
    /// The garbage collection failed.
    #[error("garbage collection failed: {0}")]
    Collect(String),
}

/// How a delete went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The manifest was deleted.
    Deleted,
    /// There was no such manifest.
    Absent,
}

pub(crate) enum Job {
    Delete { repository: String, digest: String, reply: oneshot::Sender<Result<Deleted, JanitorError>> },
    Collect { reply: oneshot::Sender<Result<(), JanitorError>> },
}

/// Asks the registry to let go of images. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Janitor {
    tx: mpsc::Sender<Job>,
}

/// The jobs of a [`Janitor`], for [`crate::platform::run_with`].
#[derive(Debug)]
pub struct JanitorJobs {
    pub(crate) rx: mpsc::Receiver<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Delete { repository, digest, .. } => write!(f, "Delete({repository}@{digest})"),
            Job::Collect { .. } => f.write_str("Collect"),
        }
    }
}

/// A janitor and its jobs.
pub fn janitor() -> (Janitor, JanitorJobs) {
    let (tx, rx) = mpsc::channel(16);
    (Janitor { tx }, JanitorJobs { rx })
}

/// Whether `digest` is `sha256:` and 64 lowercase hex digits.
fn is_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether `repository` is a path of components a registry accepts: lowercase letters
/// and digits, with `.`, `_` or `-` only between them.
fn is_repository(repository: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    repository.split('/').all(|part| {
        let bytes = part.as_bytes();
        bytes.first().is_some_and(|&b| alnum(b))
            && bytes.last().is_some_and(|&b| alnum(b))
            && bytes.iter().all(|&b| alnum(b) || b"._-".contains(&b))
    })
}

impl Janitor {
    /// Deletes the manifest `digest` (`sha256:...`) of `repository` (`paas/<app>`).
    pub async fn delete_manifest(&self, repository: &str, digest: &str) -> Result<Deleted, JanitorError> {
        if !is_repository(repository) || !is_digest(digest) {
            return Err(JanitorError::Reference(format!("{repository}@{digest}")));
        }
        let (reply, answer) = oneshot::channel();
        let job = Job::Delete { repository: repository.to_owned(), digest: digest.to_owned(), reply };
        self.tx.send(job).await.map_err(|_| JanitorError::Stopped)?;
        answer.await.map_err(|_| JanitorError::Stopped)?
    }

    /// Runs the registry's garbage collection (the registry stops meanwhile) and waits
    /// until it answers again.
    pub async fn collect_garbage(&self) -> Result<(), JanitorError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job::Collect { reply }).await.map_err(|_| JanitorError::Stopped)?;
        answer.await.map_err(|_| JanitorError::Stopped)?
    }
}

/// A request for the supervisor: collect garbage, then answer.
pub(crate) type CollectRequest = oneshot::Sender<Result<(), String>>;

/// Carries out jobs until every [`Janitor`] is dropped or the supervisor is gone.
pub(crate) async fn serve(
    mut jobs: JanitorJobs,
    issuer: TokenIssuer,
    registry: SocketAddr,
    supervisor: mpsc::Sender<CollectRequest>,
) {
    let client: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    while let Some(job) = jobs.rx.recv().await {
        match job {
            Job::Delete { repository, digest, reply } => {
                let result = delete(&client, &issuer, registry, &repository, &digest).await;
                let _ = reply.send(result);
            }
            Job::Collect { reply } => {
                let (done, answer) = oneshot::channel();
                let result = match supervisor.send(done).await {
                    Err(_) => Err(JanitorError::Stopped),
                    Ok(()) => match answer.await {
                        Err(_) => Err(JanitorError::Stopped),
                        Ok(Err(e)) => Err(JanitorError::Collect(e)),
                        Ok(Ok(())) => {
                            if crate::platform::wait_ready(registry, RESTART_LIMIT).await {
                                Ok(())
                            } else {
                                Err(JanitorError::Collect("the registry did not come back".into()))
                            }
                        }
                    },
                };
                let _ = reply.send(result);
            }
        }
    }
}

async fn delete(
    client: &Client<HttpConnector, Empty<Bytes>>,
    issuer: &TokenIssuer,
    registry: SocketAddr,
    repository: &str,
    digest: &str,
) -> Result<Deleted, JanitorError> {
    let what = format!("{repository}@{digest}");
    let scope = Scope::parse(&format!("repository:{repository}:delete"))
        .map_err(|_| JanitorError::Reference(what.clone()))?;
    let token = issuer.issue(SUBJECT, vec![scope])?;
    let request = Request::builder()
        .method(Method::DELETE)
        .uri(format!("http://{registry}/v2/{repository}/manifests/{digest}"))
        .header(AUTHORIZATION, format!("Bearer {}", token.token))
        .body(Empty::new())
        .map_err(|_| JanitorError::Reference(what.clone()))?;
    let response = tokio::time::timeout(REQUEST_TIMEOUT, client.request(request))
        .await
        .map_err(|_| JanitorError::Unreachable("timed out".into()))?
        .map_err(|e| JanitorError::Unreachable(crate::error::ErrorChain(&e).to_string()))?;
    let status = response.status();
    match status {
        StatusCode::ACCEPTED | StatusCode::OK => Ok(Deleted::Deleted),
        StatusCode::NOT_FOUND => Ok(Deleted::Absent),
        _ => {
            let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let body = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            Err(JanitorError::Refused { what, status, body })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_repositories_and_digests_are_sent() {
        let digest = format!("sha256:{}", "a1".repeat(32));
        assert!(is_digest(&digest));
        assert!(!is_digest("sha256:abc"));
        assert!(!is_digest(&format!("sha512:{}", "a1".repeat(32))));
        assert!(!is_digest(&format!("sha256:{}", "A1".repeat(32))));
        assert!(is_repository("paas/hello-world"));
        for bad in ["", "paas/", "/paas", "paas/../x", "Paas/x", "paas/x?y", "paas//x"] {
            assert!(!is_repository(bad), "{bad}");
        }
    }
}
