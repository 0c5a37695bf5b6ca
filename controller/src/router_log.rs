//! The routers' access lines, as the controller keeps them for `paas logs`: the newest
//! [`KEPT_PER_APP`] of each app in memory (like Heroku's log buffer, they do not
//! survive a restart), and a broadcast of every new one for followed logs.
//!
//! Routers post [`AccessBatch`]es to [`ACCESS_PATH`](paas_core::access::ACCESS_PATH);
//! each record becomes a [`LogLine`] of source `paas`, process `router`, whose text is
//! [`AccessRecord::render`](paas_core::access::AccessRecord::render). Every batch is
//! also counted, records and dropped ones alike, in a [`RequestRate`] over the last
//! [`RATE_WINDOW_SECS`] seconds: the platform page's requests per second.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use paas_core::access::AccessBatch;
use paas_core::AppName;
use tokio::sync::{broadcast, mpsc};

use crate::db;
use crate::scheduler::logs::LogLine;

/// How many access lines are kept per app.
pub const KEPT_PER_APP: usize = 1500;
/// How many new lines a slow follower may fall behind before it misses some.
const BROADCAST: usize = 4096;
/// The process name router lines carry.
pub const ROUTER_PROCESS: &str = "router";

/// How many seconds [`RequestRate`] looks back.
pub const RATE_WINDOW_SECS: usize = 60;

/// Requests counted by the second they were reported in, over the last
/// [`RATE_WINDOW_SECS`] seconds: one bucket per second, reused as time goes round. Pure:
/// the time comes in, in Unix milliseconds.
#[derive(Debug, Clone)]
pub struct RequestRate {
    /// `(second, count)` by `second % RATE_WINDOW_SECS`.
    buckets: [(i64, u64); RATE_WINDOW_SECS],
}

impl Default for RequestRate {
    fn default() -> Self {
        Self { buckets: [(i64::MIN, 0); RATE_WINDOW_SECS] }
    }
}

impl RequestRate {
    const WINDOW: i64 = RATE_WINDOW_SECS as i64;

    /// Counts `requests` at `now_ms`.
    pub fn record(&mut self, now_ms: i64, requests: u64) {
        let second = now_ms.div_euclid(1000);
        let bucket = &mut self.buckets[Self::slot(second)];
        if bucket.0 != second {
            *bucket = (second, 0);
        }
        bucket.1 = bucket.1.saturating_add(requests);
    }

    /// The requests counted in the window that ends at `now_ms` (its second included).
    pub fn total(&self, now_ms: i64) -> u64 {
        let now = now_ms.div_euclid(1000);
        self.buckets
            .iter()
            .filter(|(second, _)| *second <= now && now.saturating_sub(*second) < Self::WINDOW)
            .map(|(_, count)| count)
            .fold(0u64, |sum, count| sum.saturating_add(*count))
    }

    /// [`RequestRate::total`] per second of the window.
    pub fn per_second(&self, now_ms: i64) -> f64 {
        #[allow(clippy::cast_precision_loss)] // Shown with one decimal.
        let total = self.total(now_ms) as f64;
        total / RATE_WINDOW_SECS as f64
    }

    fn slot(second: i64) -> usize {
        usize::try_from(second.rem_euclid(Self::WINDOW)).unwrap_or_default()
    }
}

/// The access lines of every app.
pub struct RouterLog {
    recent: Mutex<HashMap<AppName, VecDeque<LogLine>>>,
    live: broadcast::Sender<(AppName, LogLine)>,
    rate: Mutex<RequestRate>,
}

impl Default for RouterLog {
    fn default() -> Self {
        Self {
            recent: Mutex::new(HashMap::new()),
            live: broadcast::Sender::new(BROADCAST),
            rate: Mutex::new(RequestRate::default()),
        }
    }
}

impl RouterLog {
    /// Keeps a router's batch, counts it, and tells the followers.
    pub fn append(&self, batch: AccessBatch) {
        if batch.dropped > 0 {
            tracing::warn!(dropped = batch.dropped, "a router dropped access lines");
        }
        let requests = u64::try_from(batch.records.len()).unwrap_or(u64::MAX).saturating_add(batch.dropped);
        self.rate.lock().unwrap_or_else(PoisonError::into_inner).record(db::now_ms(), requests);
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        for record in batch.records {
            let line = LogLine::router(i128::from(record.at), record.render());
            let kept = recent.entry(record.app.clone()).or_default();
            if kept.len() == KEPT_PER_APP {
                kept.pop_front();
            }
            kept.push_back(line.clone());
            // Nobody following is fine.
            let _ = self.live.send((record.app, line));
        }
    }

    /// The newest `lines` access lines of `app`, oldest first.
    pub fn recent(&self, app: &AppName, lines: usize) -> Vec<LogLine> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<LogLine> =
            recent.get(app).map(|kept| kept.iter().cloned().collect()).unwrap_or_default();
        out.sort_by_key(|l| l.at);
        out.drain(..out.len().saturating_sub(lines));
        out
    }

    /// The newest `lines` access lines of `app`, and every later one until the
    /// receiver is dropped. Lines no newer than the backlog's last are left out of the
    /// rest, so none comes twice.
    pub fn follow(&self, app: &AppName, lines: usize) -> (Vec<LogLine>, mpsc::Receiver<LogLine>) {
        let mut live = self.live.subscribe();
        let backlog = self.recent(app, lines);
        let after = backlog.last().map(|l| l.at);
        let (tx, rx) = mpsc::channel(256);
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tx.closed() => break,
                    received = live.recv() => match received {
                        Ok((of, line)) if of == app && after.is_none_or(|after| line.at > after) => {
                            if tx.send(line).await.is_err() {
                                break;
                            }
                        }
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
        });
        (backlog, rx)
    }

    /// The requests routers reported over the last [`RATE_WINDOW_SECS`] seconds, as of
    /// `now_ms`: their number and the rate per second.
    pub fn request_rate(&self, now_ms: i64) -> (u64, f64) {
        let rate = self.rate.lock().unwrap_or_else(PoisonError::into_inner);
        (rate.total(now_ms), rate.per_second(now_ms))
    }

    /// Forgets a destroyed app's lines.
    pub fn forget(&self, app: &AppName) {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner).remove(app);
    }
}

#[cfg(test)]
mod tests {
    use paas_core::access::AccessRecord;

    use super::*;

    fn record(app: &str, at: i64, path: &str) -> AccessRecord {
        AccessRecord {
            at,
            app: AppName::parse(app).unwrap(),
            method: "GET".into(),
            host: format!("{app}.localhost"),
            path: path.into(),
            status: 200,
            bytes: 2,
            service_us: 1000,
            upstream: Some("web.1".into()),
            request_id: "r".into(),
            client: "127.0.0.1".into(),
        }
    }

    #[test]
    fn keeps_the_newest_lines_of_each_app_in_time_order() {
        let log = RouterLog::default();
        let hello = AppName::parse("hello").unwrap();
        log.append(AccessBatch {
            records: vec![record("hello", 20, "/b"), record("hello", 10, "/a"), record("other", 15, "/x")],
            dropped: 0,
        });
        let lines = log.recent(&hello, 10);
        assert_eq!(lines.iter().map(|l| l.at).collect::<Vec<_>>(), [10, 20]);
        assert!(
            lines[0].render().contains(" paas[router]: at=info method=GET path=\"/a\" "),
            "{}",
            lines[0].render()
        );
        assert_eq!(log.recent(&hello, 1)[0].at, 20);
        let many = (0..KEPT_PER_APP as i64 + 5).map(|i| record("hello", 100 + i, "/")).collect();
        log.append(AccessBatch { records: many, dropped: 0 });
        assert_eq!(log.recent(&hello, usize::MAX).len(), KEPT_PER_APP);
        log.forget(&hello);
        assert!(log.recent(&hello, 10).is_empty());
    }

    #[test]
    fn the_rate_counts_the_last_sixty_seconds() {
        let mut rate = RequestRate::default();
        let t0 = 1_795_000_000_000;
        assert_eq!((rate.total(t0), rate.per_second(t0)), (0, 0.0));
        rate.record(t0, 30);
        rate.record(t0 + 999, 30);
        rate.record(t0 + 30_000, 60);
        assert_eq!(rate.total(t0 + 30_000), 120);
        assert!((rate.per_second(t0 + 30_000) - 2.0).abs() < f64::EPSILON);
        // The first second leaves the window 60 s later; the later one stays.
        assert_eq!(rate.total(t0 + 59_999), 120);
        assert_eq!(rate.total(t0 + 60_000), 60);
        assert_eq!(rate.total(t0 + 89_999), 60);
        assert_eq!(rate.total(t0 + 90_000), 0);
        // A bucket is reused for its second of a later minute, not added to.
        rate.record(t0 + 120_000, 5);
        assert_eq!(rate.total(t0 + 120_000), 5);
        // A clock going back does not count the future.
        assert_eq!(rate.total(t0 + 119_000), 0);
        // Before the epoch too.
        let mut early = RequestRate::default();
        early.record(-1500, 2);
        assert_eq!(early.total(-1001), 2);
    }

    #[test]
    fn batches_and_their_dropped_records_are_counted() {
        let log = RouterLog::default();
        log.append(AccessBatch {
            records: vec![record("hello", 1, "/"), record("other", 2, "/")],
            dropped: 4,
        });
        let (total, per_second) = log.request_rate(db::now_ms());
        assert_eq!(total, 6);
        assert!((per_second - 0.1).abs() < 1e-9);
    }

    #[tokio::test]
    async fn followers_get_only_their_apps_new_lines() {
        let log = RouterLog::default();
        let hello = AppName::parse("hello").unwrap();
        log.append(AccessBatch { records: vec![record("hello", 10, "/old")], dropped: 0 });
        let (backlog, mut rx) = log.follow(&hello, 5);
        assert_eq!(backlog.len(), 1);
        log.append(AccessBatch {
            records: vec![record("other", 30, "/x"), record("hello", 40, "/new")],
            dropped: 0,
        });
        let line = rx.recv().await.unwrap();
        assert_eq!(line.at, 40);
        assert!(line.text.contains("/new"));
    }
}
