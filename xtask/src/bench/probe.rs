//! Polling an app over HTTP the way a user's traffic would reach it: a `GET` every
//! [`POLL_INTERVAL`], each on a new connection and a thread of its own, whether earlier
//! ones were answered or not, so that one that hangs delays none of the others; every
//! poll is kept with when it was sent, when it ended and what it got.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::blocking::Client;

/// How often a poll of the app goes out, whether earlier ones were answered or not.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long one poll may take: more than the router's connect timeout (5 s) and its
/// one retry, so that what the router answers in the end is seen.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(12);
/// Polls in flight at most; none goes out while this many wait.
pub const MAX_IN_FLIGHT: usize = 200;

/// Where an app answers: a URL and the `Host` to send.
pub struct Target {
    pub url: String,
    pub host: Option<String>,
}

impl Target {
    /// Sends a poll every [`POLL_INTERVAL`] until one for which `enough` is true has
    /// ended, or `stop` is set, or `timeout` has passed since `start`; then waits for the
    /// polls in flight and returns every poll, in no particular order.
    pub fn record(
        &self,
        start: Instant,
        timeout: Duration,
        stop: &AtomicBool,
        enough: impl Fn(&Poll) -> bool + Sync,
    ) -> anyhow::Result<Vec<Poll>> {
        // A new connection per poll: a kept-alive one could outlive the container.
        let client = Client::builder()
            .no_proxy()
            .timeout(PROBE_TIMEOUT)
            .pool_max_idle_per_host(0)
            .build()
            .context("could not build the HTTP client")?;
        let polls = Mutex::new(Vec::new());
        let done = AtomicBool::new(false);
        let in_flight = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let mut tick = Instant::now();
            while !(done.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed) || start.elapsed() > timeout)
            {
                if in_flight.load(Ordering::Relaxed) < MAX_IN_FLIGHT {
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    let (client, polls, done, in_flight, enough) =
                        (&client, &polls, &done, &in_flight, &enough);
                    scope.spawn(move || {
                        let poll = self.poll(client, start);
                        if enough(&poll) {
                            done.store(true, Ordering::Relaxed);
                        }
                        polls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(poll);
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                    });
                }
                tick += POLL_INTERVAL;
                std::thread::sleep(tick.saturating_duration_since(Instant::now()));
            }
        });
        Ok(polls.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// One `GET`: when it was sent and answered, and what it got.
    pub fn poll(&self, client: &Client, start: Instant) -> Poll {
        let sent = start.elapsed();
        let mut request = client.get(&self.url);
        if let Some(host) = &self.host {
            request = request.header(reqwest::header::HOST, host);
        }
        let answer = match request.send() {
            Ok(response) => {
                let status = response.status();
                match (status, response.text()) {
                    (reqwest::StatusCode::OK, Ok(body)) => Answer::Ok(body.trim().to_owned()),
                    (status, body) => {
                        let body = body.unwrap_or_default();
                        let shown = body.trim().chars().take(200).collect::<String>();
                        Answer::Failed {
                            kind: status.as_u16().to_string(),
                            shown: format!("{status} {shown:?}"),
                        }
                    }
                }
            }
            Err(err) => {
                let kind = if err.is_timeout() {
                    "timeout"
                } else if err.is_connect() {
                    "no connection"
                } else {
                    "error"
                };
                Answer::Failed { kind: kind.to_owned(), shown: format!("{err:#}") }
            }
        };
        Poll { sent, at: start.elapsed(), answer }
    }

    /// `<url> (Host: <host>)`, for messages.
    pub fn shown(&self) -> String {
        let host = self.host.as_deref().map(|h| format!(" (Host: {h})")).unwrap_or_default();
        format!("{}{host}", self.url)
    }
}

/// One poll: when it was sent and answered (from the clock's start) and what it got.
#[derive(Debug)]
pub struct Poll {
    pub sent: Duration,
    pub at: Duration,
    pub answer: Answer,
}

#[derive(Debug)]
pub enum Answer {
    /// 200, and the body, trimmed.
    Ok(String),
    /// Anything else: a status, `no connection`, `timeout` or `error`, and the detail.
    Failed { kind: String, shown: String },
}

impl Answer {
    /// The first word of a 200's body.
    pub fn first_word(&self) -> Option<&str> {
        match self {
            Self::Ok(body) => Some(body.split_whitespace().next().unwrap_or_default()),
            Self::Failed { .. } => None,
        }
    }

    /// What it was, for messages: `200 starting "v1"`, or the failure.
    pub fn shown(&self) -> String {
        match self {
            Self::Ok(body) => format!("200 {:?}", body.chars().take(200).collect::<String>()),
            Self::Failed { shown, .. } => shown.clone(),
        }
    }
}
