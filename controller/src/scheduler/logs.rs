//! The logs of an app's processes, from the Docker engine: what their containers wrote
//! to stdout and stderr, with the engine's timestamps, each line prefixed Heroku style
//! with its process: `2026-12-01T20:31:02.123456Z app[web.1]: listening on 5000`.
//!
//! [`recent`] reads the newest lines of every container of the app (running or
//! stopped: a crashed process's last words are what one looks for) and merges them in
//! time order. [`follow`] sends the same, then keeps going: it follows the log of every
//! live container and lists the app's containers again every [`RELIST_INTERVAL`], so
//! that processes started later (a scale, a new release, a restart) join the stream. It
//! ends when its receiver is dropped (the client went away) or the controller stops.
//!
//! Each container's position is the timestamp (in nanoseconds) of the last line sent
//! of it; a follow that starts again after a restart asks the engine from that second
//! on and drops what it already sent, so no line is sent twice or lost.
//!
//! Which process a container runs comes from its labels ([`Engine::list`]), never its
//! name; a [`LogFilter`] keeps the containers of one process type or one release
//! (`paas.type`, `paas.release`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::errors::Error;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::{Stream, StreamExt};
use paas_core::ErrorChain;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::docker::Engine;
use super::plan::{ContainerState, ProcessKey};

/// How often a follow looks for containers of the app that it does not follow yet.
pub const RELIST_INTERVAL: Duration = Duration::from_secs(1);

/// How many lines may wait for a slow client before the followers stop reading.
const BUFFERED_LINES: usize = 256;

/// One line of a process's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When the engine received it: nanoseconds since the Unix epoch.
    pub at: i128,
    /// Who wrote it: `app` for the app's processes, `paas` for the platform (the
    /// router's access lines, [`crate::router_log`]).
    pub source: &'static str,
    /// The process, e.g. `web.1`, or `router`.
    pub process: String,
    /// What the process wrote, without the line break.
    pub text: String,
}

impl LogLine {
    /// A line a process wrote.
    pub fn app(at: i128, process: &str, text: String) -> Self {
        Self { at, source: "app", process: process.to_owned(), text }
    }

    /// An access line of the router.
    pub fn router(at: i128, text: String) -> Self {
        Self { at, source: "paas", process: crate::router_log::ROUTER_PROCESS.to_owned(), text }
    }

    /// The line as shown: `<time in UTC, microseconds> <source>[<process>]: <text>` and
    /// a line break.
    pub fn render(&self) -> String {
        let format =
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
        let at = OffsetDateTime::from_unix_timestamp_nanos(self.at)
            .ok()
            .and_then(|t| t.format(&format).ok())
            .unwrap_or_default();
        format!("{at} {}[{}]: {}\n", self.source, self.process, self.text)
    }
}

/// Which of an app's processes to read: all of them by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only processes of this type (`web`, `worker`).
    pub process_type: Option<String>,
    /// Only processes of this release.
    pub release: Option<i64>,
}

impl LogFilter {
    /// Whether the process `key` is wanted.
    pub fn matches(&self, key: &ProcessKey) -> bool {
        self.process_type.as_ref().is_none_or(|t| *t == key.process_type)
            && self.release.is_none_or(|r| r == key.release)
    }
}

/// The newest `lines` lines of the app's containers, oldest first.
pub async fn recent(engine: &Engine, app: &str, lines: usize) -> Result<Vec<LogLine>, Error> {
    recent_matching(engine, app, &LogFilter::default(), lines).await
}

/// The newest `lines` lines of the app's containers that `filter` wants, oldest first.
pub async fn recent_matching(
    engine: &Engine,
    app: &str,
    filter: &LogFilter,
    lines: usize,
) -> Result<Vec<LogLine>, Error> {
    Ok(backlog(engine, app, filter, lines).await?.0)
}

/// Lines from elsewhere to merge into a followed log: the router's access lines.
#[derive(Debug, Default)]
pub struct AlsoLines {
    /// The newest of them, merged with the containers' in time order.
    pub backlog: Vec<LogLine>,
    /// The later ones, sent as they come.
    pub live: Option<mpsc::Receiver<LogLine>>,
}

/// The newest `lines` lines of the app's containers (and of `also`), then every line
/// they and the app's later containers write, until the stream is dropped or `stop`
/// turns true. A failure to read the engine before the first line is the error; later
/// ones are logged and retried at the next listing.
pub async fn follow(
    engine: Engine,
    app: String,
    filter: LogFilter,
    lines: usize,
    stop: watch::Receiver<bool>,
    also: AlsoLines,
) -> Result<impl Stream<Item = String> + 'static, Error> {
    let (mut first, positions) = backlog(&engine, &app, &filter, lines).await?;
    merge_newest(&mut first, also.backlog, lines);
    let (tx, rx) = mpsc::channel::<String>(BUFFERED_LINES);
    tokio::spawn(pump(engine, app, filter, positions, tx, stop, also.live));
    let first: String = first.iter().map(LogLine::render).collect();
    let rest =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|line| (line, rx)) });
    Ok(futures_util::stream::iter((!first.is_empty()).then_some(first)).chain(rest))
}

/// Adds `more` to `lines` (both oldest first), keeping the newest `keep` in time order.
pub fn merge_newest(lines: &mut Vec<LogLine>, more: Vec<LogLine>, keep: usize) {
    if more.is_empty() {
        return;
    }
    lines.extend(more);
    // Stable: lines of one source with the same time keep their order.
    lines.sort_by_key(|l| l.at);
    lines.drain(..lines.len().saturating_sub(keep));
}

/// A container of the app.
#[derive(Debug, Clone)]
struct AppContainer {
    id: String,
    process: String,
    live: bool,
}

async fn containers(engine: &Engine, app: &str, filter: &LogFilter) -> Result<Vec<AppContainer>, Error> {
    Ok(engine
        .list()
        .await?
        .into_iter()
        .filter_map(|c| {
            let key = c.key?;
            (key.app == app && filter.matches(&key)).then(|| AppContainer {
                id: c.id,
                process: key.process_name(),
                live: c.state == ContainerState::Live,
            })
        })
        .collect())
}

/// The newest `lines` lines over all the app's containers, and each container's
/// position: its last line's time, `None` when it has written nothing.
async fn backlog(
    engine: &Engine,
    app: &str,
    filter: &LogFilter,
    lines: usize,
) -> Result<(Vec<LogLine>, HashMap<String, Option<i128>>), Error> {
    let mut all = Vec::new();
    let mut positions = HashMap::new();
    for container in containers(engine, app, filter).await? {
        // One line at least, to learn where the container is even when none are wanted.
        let tail = lines.max(1).to_string();
        let options = options(false).tail(&tail).build();
        let mut stream = engine.docker().logs(&container.id, Some(options));
        let mut clock = 0;
        let mut own = Vec::new();
        while let Some(frame) = stream.next().await {
            match frame {
                Ok(frame) => own.extend(parse_frame(frame.as_ref(), &container.process, &mut clock)),
                // Removed since the listing: it has nothing more to say.
                Err(e) if is_not_found(&e) => break,
                Err(e) => return Err(e),
            }
        }
        positions.insert(container.id, own.last().map(|l: &LogLine| l.at));
        all.extend(own);
    }
    // Stable: lines of one container with the same time keep their order.
    all.sort_by_key(|l| l.at);
    all.drain(..all.len().saturating_sub(lines));
    Ok((all, positions))
}

/// Follows the live containers of the app, sending their lines to `out`, and looks for
/// new ones every [`RELIST_INTERVAL`].
async fn pump(
    engine: Engine,
    app: String,
    filter: LogFilter,
    mut positions: HashMap<String, Option<i128>>,
    out: mpsc::Sender<String>,
    mut stop: watch::Receiver<bool>,
    mut also: Option<mpsc::Receiver<LogLine>>,
) {
    let (lines_tx, mut lines_rx) = mpsc::channel::<LogLine>(BUFFERED_LINES);
    let mut followers: JoinSet<(String, Option<i128>)> = JoinSet::new();
    let mut following: HashSet<String> = HashSet::new();
    let mut relist = tokio::time::interval(RELIST_INTERVAL);
    relist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = relist.tick() => {
                if out.is_closed() {
                    break;
                }
                let now = match containers(&engine, &app, &filter).await {
                    Ok(now) => now,
                    Err(e) => {
                        // The scheduler warns about an engine that fails; no flood from here.
                        tracing::debug!(app, error = %ErrorChain(&e),
                            "cannot list the app's containers for its logs");
                        continue;
                    }
                };
                for container in now {
                    if !container.live || following.contains(&container.id) {
                        continue;
                    }
                    let after = positions.get(&container.id).copied().flatten();
                    following.insert(container.id.clone());
                    followers.spawn(follow_one(engine.clone(), container, after, lines_tx.clone()));
                }
            }
            Some(line) = lines_rx.recv() => {
                if out.send(line.render()).await.is_err() {
                    break;
                }
            }
            line = next_also(&mut also), if also.is_some() => match line {
                Some(line) => {
                    if out.send(line.render()).await.is_err() {
                        break;
                    }
                }
                None => also = None,
            },
            Some(done) = followers.join_next() => {
                // A follower never panics; should one, its container stays unfollowed.
                if let Ok((id, last)) = done {
                    following.remove(&id);
                    if last.is_some() {
                        positions.insert(id, last);
                    }
                }
            }
            () = async {
                // Inside a block: the guard `wait_for` gives is not `Send`.
                let _ = stop.wait_for(|stopped| *stopped).await;
            } => break,
        }
    }
    // Dropping the followers aborts them.
}

async fn next_also(also: &mut Option<mpsc::Receiver<LogLine>>) -> Option<LogLine> {
    match also {
        Some(rx) => rx.recv().await,
        None => None,
    }
}

/// Follows one container's log from after `after` until it stops; returns its id and
/// the time of the last line sent (or `after`).
async fn follow_one(
    engine: Engine,
    container: AppContainer,
    after: Option<i128>,
    lines: mpsc::Sender<LogLine>,
) -> (String, Option<i128>) {
    let mut options = options(true);
    if let Some(after) = after {
        // The engine takes whole seconds; the lines of that second already sent are dropped.
        let second = after.div_euclid(1_000_000_000);
        options = options.since(i32::try_from(second).unwrap_or(0));
    }
    let mut stream = engine.docker().logs(&container.id, Some(options.build()));
    let mut last = after;
    let mut clock = after.unwrap_or(0);
    while let Some(frame) = stream.next().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                if !is_not_found(&e) {
                    tracing::debug!(container = %container.id, error = %ErrorChain(&e), "a log follow ended");
                }
                break;
            }
        };
        for line in parse_frame(frame.as_ref(), &container.process, &mut clock) {
            if after.is_some_and(|after| line.at <= after) {
                continue;
            }
            last = Some(line.at);
            if lines.send(line).await.is_err() {
                return (container.id, last);
            }
        }
    }
    (container.id, last)
}

fn options(follow: bool) -> LogsOptionsBuilder {
    LogsOptionsBuilder::new().stdout(true).stderr(true).timestamps(true).follow(follow)
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::DockerResponseServerError { status_code: 404, .. })
}

/// The lines of one frame of the engine's log stream: `<RFC 3339 time> <text>` each. A
/// line without a time (which the engine does not send) takes the time of the one
/// before, `clock`.
fn parse_frame(frame: &[u8], process: &str, clock: &mut i128) -> Vec<LogLine> {
    let text = String::from_utf8_lossy(frame);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    text.split('\n')
        .map(|raw| {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let (stamp, rest) = raw.split_once(' ').unwrap_or((raw, ""));
            match OffsetDateTime::parse(stamp, &Rfc3339) {
                Ok(at) => {
                    *clock = at.unix_timestamp_nanos();
                    LogLine::app(*clock, process, rest.to_owned())
                }
                Err(_) => LogLine::app(*clock, process, raw.to_owned()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_lines_with_their_time() {
        let mut clock = 0;
        let lines = parse_frame(b"2026-12-01T20:31:02.123456789Z listening on 5000\n", "web.1", &mut clock);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "listening on 5000");
        assert_eq!(lines[0].render(), "2026-12-01T20:31:02.123456Z app[web.1]: listening on 5000\n");
        assert_eq!(clock, lines[0].at);
    }

    #[test]
    fn odd_frames_still_make_lines() {
        let mut clock = 0;
        // Go trims trailing zeros of the fraction, down to none.
        let lines = parse_frame(b"2026-12-01T20:31:02Z \r\nno time here\n", "worker.2", &mut clock);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].render(), "2026-12-01T20:31:02.000000Z app[worker.2]: \n");
        assert_eq!(lines[1].at, lines[0].at, "a line without a time takes the one before");
        assert_eq!(lines[1].text, "no time here");
        let lines = parse_frame(b"2026-12-01T20:31:02.5Z caf\xc3\xa9 \xff\n", "web.1", &mut clock);
        assert_eq!(lines[0].render(), "2026-12-01T20:31:02.500000Z app[web.1]: caf\u{e9} \u{fffd}\n");
    }
}
