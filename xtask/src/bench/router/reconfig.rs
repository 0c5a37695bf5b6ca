//! The reconfiguration run of `bench router`: traffic through a proxy while its one
//! route moves between the two backends [`CHANGES_PER_SECOND`] times a second,
//! counting every request that fails and how long each change takes to show.
//!
//! `wrk`'s connections send at a fixed pace (each waits a set time before each
//! request: below saturation, as a proxy runs in production) from a second before the
//! first change to a second after the last, with a script that counts which backend
//! each answer came from.
//! Meanwhile a probe (xtask's own client, one kept-alive connection, opened again
//! when it breaks) sends a request every millisecond or so and notes which backend
//! answered: a change has **shown** when the first request sent after it is answered
//! by the new backend, and that answer's arrival is the change's delay. A change not
//! shown before the next one is counted apart (the next one moves the route back).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::anyhow;

use super::load::{self, Client, Pace, Wrk};
use super::proxies::Proxy;

/// Route changes per second.
pub const CHANGES_PER_SECOND: u32 = 10;

/// What one reconfiguration run saw.
#[derive(Debug, Clone, Default)]
pub struct Reconfig {
    /// Changes made, and those whose command failed (with the first failure).
    pub changes: usize,
    pub change_failures: usize,
    pub first_failure: Option<String>,
    /// Changes started more than 10 ms after their time (the previous one took long).
    pub late: usize,
    /// The time each change command took, sorted.
    pub apply: Vec<Duration>,
    pub wrk: Wrk,
    pub probe_requests: u64,
    /// Probe requests that got no answer or one other than 200.
    pub probe_failures: u64,
    /// How long each shown change took to show, sorted.
    pub shown: Vec<Duration>,
    /// Changes not shown before the next one.
    pub not_shown: usize,
}

impl Reconfig {
    /// Failed requests of every kind: wrk's non-2xx and socket errors, and the probe's.
    pub fn errors(&self) -> u64 {
        self.wrk.non_2xx + self.wrk.socket_error_total() + self.probe_failures
    }
}

/// One probe request: when it was sent, when its answer came, and from which backend
/// (`None`: it failed).
struct Sample {
    sent: Instant,
    answered: Instant,
    body: Option<u8>,
}

/// Moves `proxy`'s route between `a` and `b` for `duration` under `connections` wrk
/// connections, each waiting `pause` before each request, all load on `cpu`.
pub fn run(
    proxy: &Proxy,
    dir: &Path,
    cpu: usize,
    (a, b): (SocketAddr, SocketAddr),
    (connections, pause): (usize, Duration),
    duration: Duration,
) -> anyhow::Result<Reconfig> {
    proxy.point_to(a)?;
    load::wait_for_body(proxy.http, b"a\n", Duration::from_secs(10))?;
    let period = Duration::from_secs(1) / CHANGES_PER_SECOND;
    let count = (duration.as_secs_f64() * f64::from(CHANGES_PER_SECOND)).round() as u32;
    let stop = AtomicBool::new(false);
    let samples = Mutex::new(Vec::<Sample>::new());
    let mut result = Reconfig::default();
    let mut made: Vec<(Instant, u8)> = Vec::new();

    let wrk = std::thread::scope(|scope| {
        let wrk = scope.spawn(|| {
            load::wrk(
                dir,
                cpu,
                proxy.http,
                connections,
                duration + Duration::from_secs(2),
                Pace::Counting(pause),
            )
        });
        let probe = scope.spawn(|| {
            let mut client = Client::new(proxy.http);
            let mut mine = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let body = match client.get() {
                    Ok((200, body)) => body.first().copied(),
                    _ => None,
                };
                mine.push(Sample { sent, answered: Instant::now(), body });
                std::thread::sleep(Duration::from_millis(1));
            }
            *samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = mine;
        });
        std::thread::sleep(Duration::from_secs(1));
        let start = Instant::now();
        for k in 0..count {
            let due = start + period * k;
            let now = Instant::now();
            if now < due {
                std::thread::sleep(due - now);
            } else if now - due > Duration::from_millis(10) {
                result.late += 1;
            }
            let (target, body) = if k % 2 == 0 { (b, b'b') } else { (a, b'a') };
            let issued = Instant::now();
            let applied = proxy.point_to(target);
            result.apply.push(issued.elapsed());
            result.changes += 1;
            made.push((issued, body));
            if let Err(err) = applied {
                result.change_failures += 1;
                result.first_failure.get_or_insert_with(|| format!("{err:#}"));
            }
        }
        let wrk = wrk.join().map_err(|_| anyhow!("the wrk thread panicked"));
        stop.store(true, Ordering::Relaxed);
        let probe = probe.join().map_err(|_| anyhow!("the probe thread panicked"));
        probe.and(wrk)
    })??;
    result.wrk = wrk;
    let samples = samples.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    result.probe_requests = samples.len() as u64;
    result.probe_failures = samples.iter().filter(|s| s.body.is_none()).count() as u64;
    for (i, (issued, body)) in made.iter().enumerate() {
        let next = made.get(i + 1).map(|(t, _)| *t);
        let shown = samples
            .iter()
            .filter(|s| s.sent >= *issued && next.is_none_or(|next| s.answered < next))
            .find(|s| s.body == Some(*body));
        match shown {
            Some(sample) => result.shown.push(sample.answered - *issued),
            None => result.not_shown += 1,
        }
    }
    result.shown.sort_unstable();
    result.apply.sort_unstable();
    // Back to where the other measurements expect it.
    proxy.point_to(a)?;
    Ok(result)
}

/// The nearest-rank percentile `p` of sorted `values`; zero when empty.
pub fn percentile(values: &[Duration], p: f64) -> Duration {
    let n = values.len();
    if n == 0 {
        return Duration::ZERO;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let rank = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n);
    values[rank - 1]
}
