//! The route feed: follows the controller's watch stream (see `paas_core::routes` for
//! the wire format), publishes each new table and saves it to disk.
//!
//! When the stream breaks, cannot be opened or goes silent for longer than the idle
//! timeout, the feed waits (exponential backoff with jitter, capped) and opens it
//! again; the backoff starts over once a snapshot arrives. Meanwhile the proxy keeps
//! serving the last table.
//!
//! After each message it takes, the feed tells the controller which version it serves
//! on that stream (`paas_core::routes::Applied`, posted by a task of its own so that a
//! slow controller never holds the table back; only the newest version waits to be
//! posted). The controller waits for that before it calls a release up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{ACCEPT, AUTHORIZATION, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use paas_core::routes::{Applied, WatchMessage, APPLIED_PATH, WATCH_CONTENT_TYPE, WATCH_ID_HEADER};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::config::FeedConfig;
use crate::controller::{Controller, PostError};
use crate::error::ErrorChain;
use crate::persist;
use crate::table::{Routes, Update};

/// The longest line the feed accepts: a snapshot of a very large platform.
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// How long opening the connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a watch stream ended.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// No TCP connection.
    #[error("cannot connect to {host}:{port}")]
    Connect {
        /// The host connected to.
        host: String,
        /// The port.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// HTTP failed.
    #[error("HTTP error on the route stream")]
    Http(#[from] hyper::Error),
    /// The controller refused or failed the request.
    #[error("the controller answered {0} instead of the route stream")]
    Status(StatusCode),
    /// Nothing arrived, not even a heartbeat, for too long.
    #[error("the route stream was silent for {0:?}")]
    Silent(Duration),
    /// A line is longer than [`MAX_LINE`].
    #[error("a line of the route stream is longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// A line is not a message.
    #[error("line {line} of the route stream is not a valid message")]
    Decode {
        /// Which line of the response, from 1.
        line: u64,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A line is not UTF-8.
    #[error("line {line} of the route stream is not UTF-8")]
    NotUtf8 {
        /// Which line of the response, from 1.
        line: u64,
    },
    /// The stream broke the protocol.
    #[error("the route stream sent changes before its snapshot")]
    ChangesBeforeSnapshot,
}

/// Follows the feed until `stop` changes.
pub(crate) async fn follow(
    routes: Arc<Routes>,
    config: FeedConfig,
    state_dir: PathBuf,
    mut stop: watch::Receiver<()>,
) {
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let (served, to_post) = watch::channel(None);
    let _poster = AbortOnDrop(tokio::spawn(post_applied(Controller::new(&config), to_post)));
    let mut session =
        Session { routes, config: &config, state_dir, line: 0, snapshot_seen: false, watch: None, served };
    loop {
        tokio::select! {
            ended = session.run() => match ended {
                Ok(()) => tracing::info!(url = %config.url, "the controller closed the route stream"),
                Err(e) => tracing::warn!(url = %config.url, error = %ErrorChain(&e), "route stream failed; serving the last table"),
            },
            _ = stop.changed() => return,
        }
        if session.snapshot_seen {
            backoff.reset();
        }
        let wait = backoff.next();
        tracing::debug!(?wait, "reconnecting to the route stream after a pause");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

struct Session<'a> {
    routes: Arc<Routes>,
    config: &'a FeedConfig,
    state_dir: PathBuf,
    /// Lines read on the current response.
    line: u64,
    /// Whether the current response has delivered its snapshot.
    snapshot_seen: bool,
    /// The current response's stream number, when the controller gave one.
    watch: Option<u64>,
    /// What to tell the controller the router serves.
    served: watch::Sender<Option<Applied>>,
}

impl Session<'_> {
    /// One response of the watch stream, from connecting to its end.
    async fn run(&mut self) -> Result<(), FeedError> {
        self.line = 0;
        self.snapshot_seen = false;
        self.watch = None;
        let (host, port) = self.config.url.connect_to();
        let stream =
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port))).await {
                Ok(connected) => connected,
                Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out")),
            }
            .map_err(|source| FeedError::Connect { host, port, source })?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let _driver = AbortOnDrop(tokio::spawn(connection));
        let mut request = Request::get(self.config.url.path_and_query().as_str())
            .header(HOST, self.config.url.authority().as_str())
            .header(ACCEPT, WATCH_CONTENT_TYPE)
            .body(Empty::<Bytes>::new())
            .expect("a path, a host and an accept header make a request");
        if let Some(token) = &self.config.token {
            request.headers_mut().insert(AUTHORIZATION, token.header().clone());
        }
        let idle = self.config.idle_timeout;
        let response = tokio::time::timeout(idle, sender.send_request(request))
            .await
            .map_err(|_| FeedError::Silent(idle))??;
        if response.status() != StatusCode::OK {
            return Err(FeedError::Status(response.status()));
        }
        self.watch = response
            .headers()
            .get(WATCH_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        tracing::info!(url = %self.config.url, watch = self.watch, "following the route stream");
        let mut body = response.into_body();
        let mut buffer: Vec<u8> = Vec::new();
        loop {
            let frame =
                tokio::time::timeout(idle, body.frame()).await.map_err(|_| FeedError::Silent(idle))?;
            let Some(frame) = frame else { return Ok(()) };
            let Ok(data) = frame?.into_data() else { continue };
            let scanned = buffer.len();
            buffer.extend_from_slice(&data);
            let mut start = 0;
            let mut from = scanned;
            while let Some(end) = buffer[from..].iter().position(|b| *b == b'\n').map(|i| from + i) {
                self.line += 1;
                self.receive_line(&buffer[start..end]).await?;
                start = end + 1;
                from = start;
            }
            buffer.drain(..start);
            if buffer.len() > MAX_LINE {
                return Err(FeedError::LineTooLong);
            }
        }
    }

    async fn receive_line(&mut self, line: &[u8]) -> Result<(), FeedError> {
        let text = std::str::from_utf8(line).map_err(|_| FeedError::NotUtf8 { line: self.line })?;
        let Some(message) =
            WatchMessage::from_line(text).map_err(|source| FeedError::Decode { line: self.line, source })?
        else {
            return Ok(());
        };
        match &message {
            WatchMessage::Snapshot { .. } => self.snapshot_seen = true,
            WatchMessage::Changes { .. } if !self.snapshot_seen => {
                return Err(FeedError::ChangesBeforeSnapshot)
            }
            WatchMessage::Changes { .. } => {}
        }
        let version = message.version();
        let update = self.routes.receive(message);
        if let Some(watch) = self.watch {
            let serving = self.routes.load().source.version;
            self.served.send_replace(Some(Applied { watch, version: serving }));
        }
        match update {
            Update::Published(table) => {
                tracing::info!(version, routes = table.routes.len(), "route table updated");
                let dir = self.state_dir.clone();
                match tokio::task::spawn_blocking(move || persist::save(&dir, &table)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %ErrorChain(&e), "cannot save the route table"),
                    Err(e) => tracing::error!(error = %e, "saving the route table panicked"),
                }
            }
            Update::Unchanged => tracing::debug!(version, "route snapshot unchanged"),
            Update::Stale { version, current } => {
                tracing::warn!(version, current, "ignored route changes not newer than the table");
            }
        }
        Ok(())
    }
}

/// Posts the version the router serves whenever it changes; when several changes come
/// during one post, only the newest is posted after it. A failed post is logged once
/// until one goes through, and not repeated: the next table's post says more.
async fn post_applied(controller: Controller, mut to_post: watch::Receiver<Option<Applied>>) {
    let mut failing = false;
    while to_post.changed().await.is_ok() {
        let Some(applied) = *to_post.borrow_and_update() else { continue };
        let body = serde_json::to_vec(&applied).expect("two numbers serialize");
        match controller.post_json(APPLIED_PATH, body).await {
            Ok(()) => failing = false,
            // The stream ended (the controller restarted, say): the next one's number
            // comes with its snapshot.
            Err(PostError::Status(StatusCode::NOT_FOUND)) => {}
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, version = applied.version, "cannot tell the controller which route table is served");
                }
                failing = true;
            }
        }
    }
}

/// Ends a spawned task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Exponential backoff with jitter: each wait is drawn from the upper half of a window
/// that doubles from `min` up to `max`.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    window: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Self { min, max, window: min }
    }

    /// The next wait.
    pub fn next(&mut self) -> Duration {
        let window = self.window;
        self.window = (self.window * 2).min(self.max);
        let half = window / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// Starts over from `min`.
    pub fn reset(&mut self) {
        self.window = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let windows = [100, 200, 400, 800, 1000, 1000];
        for window in windows {
            let wait = b.next();
            let window = Duration::from_millis(window);
            assert!(wait >= window / 2 && wait <= window, "{wait:?} outside {window:?}");
        }
        b.reset();
        assert!(b.next() <= Duration::from_millis(100));
    }
}
