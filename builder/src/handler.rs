//! What happens to a push once its objects are stored and its ref moved: the seam
//! where builds plug in. A [`PushHandler`] gets the [`Push`] and a [`Progress`] sink
//! whose lines reach the user's terminal as `remote: ...`, and accepts or rejects.

use std::path::PathBuf;

use bytes::Bytes;
use git2::Oid;
use paas_core::AppName;
use tokio::sync::mpsc;

pub use crate::auth::BoxFuture;
use crate::protocol;

/// One ref update of a push, after its pack is stored.
#[derive(Debug, Clone)]
pub struct Push {
    /// The app pushed to.
    pub app: AppName,
    /// `refs/heads/main` or `refs/heads/master`.
    pub ref_name: String,
    /// What the ref was (zero: the first push).
    pub old: Oid,
    /// The commit pushed; present in the repository.
    pub new: Oid,
    /// The app's bare repository.
    pub repo_path: PathBuf,
    /// Who pushed, as the authorizer named them.
    pub pusher: String,
}

/// Why a handler refuses a push; shown to the user and ending `git push` in failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

/// Decides what a push does (later: build, push the image, ask for a release).
pub trait PushHandler: Send + Sync + 'static {
    /// Handles `push`. While it runs the ref already points at `push.new`; a rejection
    /// moves it back to `push.old`.
    fn handle<'a>(&'a self, push: Push, progress: Progress) -> BoxFuture<'a, Result<(), Rejection>>;
}

/// Accepts every push and says so: `-----> Received <short sha>`.
#[derive(Debug, Default, Clone, Copy)]
pub struct AcceptPushes;

impl PushHandler for AcceptPushes {
    fn handle<'a>(&'a self, push: Push, progress: Progress) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            let sha = push.new.to_string();
            progress.line(&format!("-----> Received {}", &sha[..7])).await;
            Ok(())
        })
    }
}

/// Writes progress lines to the client as side-band channel 2 packets. Lines are
/// dropped when the client cannot take side-band or has gone; like hook output in
/// git's own receive-pack, they are sent even when the client asked for `quiet`.
#[derive(Debug, Clone)]
pub struct Progress {
    out: Option<mpsc::Sender<Bytes>>,
}

impl Progress {
    pub(crate) fn new(out: mpsc::Sender<Bytes>, enabled: bool) -> Self {
        Self { out: enabled.then_some(out) }
    }

    /// A sink that drops everything (for tests of handlers).
    pub fn discard() -> Self {
        Self { out: None }
    }

    /// Sends one line (a `\n` is added).
    pub async fn line(&self, text: &str) {
        if let Some(out) = &self.out {
            let mut data = text.as_bytes().to_vec();
            data.push(b'\n');
            let _ = out.send(Bytes::from(protocol::sideband(protocol::BAND_PROGRESS, &data))).await;
        }
    }
}
