//! The load of `bench router`: `wrk` (closed loop, fixed connections: throughput),
//! `h2load --rps` (a fixed rate per connection: latency below saturation, from its
//! per-request log), and a small HTTP/1.1 keep-alive client of xtask's own that sees
//! which backend answered (readiness, and how long a route change takes to show).

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::procs::Group;

/// What `wrk` reports.
#[derive(Debug, Clone, Default)]
pub struct Wrk {
    /// Completed requests.
    pub requests: u64,
    pub seconds: f64,
    /// Answers other than 2xx or 3xx.
    pub non_2xx: u64,
    /// `connect`, `read`, `write` and `timeout` errors.
    pub socket_errors: [u64; 4],
    /// wrk's latency percentiles (closed loop, at saturation).
    pub p50: Duration,
    pub p99: Duration,
    /// With the body-counting script: answers `a`, `b` and anything else.
    pub bodies: Option<[u64; 3]>,
}

impl Wrk {
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn socket_error_total(&self) -> u64 {
        self.socket_errors.iter().sum()
    }
}

/// The Lua script that counts the backends' bodies (wrk's `setup`/`done` pattern for
/// reading a thread's variables) and makes each connection wait its first argument's
/// milliseconds before each request (wrk's `delay`).
const BODY_SCRIPT: &str = r#"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) a = 0; b = 0; other = 0; pause = tonumber(args[1]) or 0 end
function delay() return pause end
function response(status, headers, body)
  if body == "a\n" then a = a + 1 elseif body == "b\n" then b = b + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local ta, tb, tother = 0, 0, 0
  for _, t in ipairs(threads) do ta = ta + t:get("a"); tb = tb + t:get("b"); tother = tother + t:get("other") end
  io.write(string.format("bench-bodies %d %d %d\n", ta, tb, tother))
end
"#;

/// How `wrk` sends.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Each connection sends its next request as soon as the answer is in.
    Flat,
    /// Each connection waits this long before each request, and answers are counted
    /// by backend ([`Wrk::bodies`]).
    Counting(Duration),
}

/// Runs `wrk -t1 -c<connections> -d<duration>` on `cpu` against `addr` with `Host:`
/// [`super::HOST`].
pub fn wrk(
    dir: &Path,
    cpu: usize,
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    pace: Pace,
) -> anyhow::Result<Wrk> {
    let mut args = vec![
        "-t1".to_owned(),
        format!("-c{connections}"),
        format!("-d{}s", duration.as_secs()),
        "--latency".to_owned(),
        "--timeout".to_owned(),
        "2s".to_owned(),
        "-H".to_owned(),
        format!("Host: {}", super::HOST),
    ];
    args.push(format!("http://{addr}/"));
    if let Pace::Counting(pause) = pace {
        let script = dir.join("bodies.lua");
        std::fs::write(&script, BODY_SCRIPT)?;
        let url = args.pop().unwrap_or_default();
        args.extend(["-s".to_owned(), script.to_string_lossy().into_owned(), url]);
        args.extend(["--".to_owned(), pause.as_millis().to_string()]);
    }
    let log = dir.join(format!("wrk-{}.out", super::super::unique_suffix()));
    let mut group = Group::spawn("wrk", cpu, "wrk", &args, &log, |_| {})?;
    let status = group.wait(duration + Duration::from_secs(30))?;
    let out = group.log();
    let _ = std::fs::remove_file(&log);
    if !status.success() {
        bail!("wrk failed ({status}):\n{out}");
    }
    parse_wrk(&out).with_context(|| format!("could not read wrk's report:\n{out}"))
}

fn parse_wrk(out: &str) -> anyhow::Result<Wrk> {
    let mut wrk = Wrk::default();
    let mut seen_total = false;
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => wrk.p50 = parse_time(value)?,
            ["99%", value] => wrk.p99 = parse_time(value)?,
            [n, "requests", "in", time, ..] => {
                wrk.requests = n.parse()?;
                wrk.seconds = parse_time(time.trim_end_matches(','))?.as_secs_f64();
                seen_total = true;
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => wrk.non_2xx = n.parse()?,
            ["Socket", "errors:", "connect", c, "read", r, "write", w, "timeout", t] => {
                let n = |s: &str| s.trim_end_matches(',').parse::<u64>();
                wrk.socket_errors = [n(c)?, n(r)?, n(w)?, n(t)?];
            }
            ["bench-bodies", a, b, other] => wrk.bodies = Some([a.parse()?, b.parse()?, other.parse()?]),
            _ => {}
        }
    }
    if !seen_total {
        bail!("no `N requests in T` line");
    }
    Ok(wrk)
}

/// wrk's times: `812.00us`, `1.23ms`, `2.00s`, `1.00m`.
fn parse_time(text: &str) -> anyhow::Result<Duration> {
    let split =
        text.find(|c: char| c.is_ascii_alphabetic()).with_context(|| format!("no unit in `{text}`"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().with_context(|| format!("not a number: `{text}`"))?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        other => bail!("unknown unit `{other}` in `{text}`"),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// What `h2load --rps` measured: every counted request's latency, sorted.
#[derive(Debug, Clone, Default)]
pub struct Rated {
    pub samples: Vec<Duration>,
    /// Requests that failed or were answered other than 2xx.
    pub failed: u64,
    pub seconds: f64,
}

impl Rated {
    /// The nearest-rank percentile `p` (0 < p <= 100); zero without samples.
    pub fn percentile(&self, p: f64) -> Duration {
        let n = self.samples.len();
        if n == 0 {
            return Duration::ZERO;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let rank = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n);
        self.samples[rank - 1]
    }

    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.samples.len() as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Runs `h2load --h1` with `clients` kept-alive connections, each sending `per_client`
/// requests per second, for `warmup` (not counted) and then `duration`.
pub fn h2load_rate(
    dir: &Path,
    cpu: usize,
    addr: SocketAddr,
    clients: usize,
    per_client: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Rated> {
    let log = dir.join(format!("h2load-{}.log", super::super::unique_suffix()));
    let out = dir.join(format!("h2load-{}.out", super::super::unique_suffix()));
    let args = vec![
        "--h1".to_owned(),
        "-t1".to_owned(),
        format!("-c{clients}"),
        format!("--rps={per_client}"),
        format!("--duration={}", duration.as_secs()),
        format!("--warm-up-time={}", warmup.as_secs()),
        format!("--log-file={}", log.display()),
        "-H".to_owned(),
        format!(":authority: {}", super::HOST),
        format!("http://{addr}/"),
    ];
    let mut group = Group::spawn("h2load", cpu, "h2load", &args, &out, |_| {})?;
    let status = group.wait(warmup + duration + Duration::from_secs(30))?;
    let report = group.log();
    let _ = std::fs::remove_file(&out);
    if !status.success() {
        bail!("h2load failed ({status}):\n{report}");
    }
    let text = std::fs::read_to_string(&log).with_context(|| format!("h2load wrote no log:\n{report}"))?;
    let _ = std::fs::remove_file(&log);
    // Each line: start (µs since the epoch), status (-1: failed), duration (µs).
    let mut rated = Rated { seconds: duration.as_secs_f64(), ..Rated::default() };
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [_, status, micros] = fields.as_slice() else { continue };
        match status.parse::<i32>() {
            Ok(200..=299) => rated.samples.push(Duration::from_micros(micros.parse()?)),
            _ => rated.failed += 1,
        }
    }
    // h2load counts what it never sent or never got an answer to in its summary only.
    if let Some(line) = report.lines().find(|l| l.starts_with("requests:")) {
        let n = |word: &str| -> u64 {
            let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
            words.windows(2).find(|w| w[1] == word).and_then(|w| w[0].parse().ok()).unwrap_or(0)
        };
        rated.failed = rated.failed.max(n("failed") + n("timeout"));
    }
    rated.samples.sort_unstable();
    Ok(rated)
}

/// An HTTP/1.1 client on one kept-alive connection (opened again when it breaks) that
/// returns the body of each answer: how the benchmark sees which backend served.
pub struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, conn: None }
    }

    /// `GET /` with `Host:` [`super::HOST`]: the status and body. An error closes the
    /// connection; the next call opens a new one.
    pub fn get(&mut self) -> anyhow::Result<(u16, Vec<u8>)> {
        let result = self.try_get();
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn try_get(&mut self) -> anyhow::Result<(u16, Vec<u8>)> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            self.conn = Some(BufReader::new(stream));
        }
        let conn = self.conn.as_mut().context("a connection")?;
        write!(conn.get_mut(), "GET / HTTP/1.1\r\nHost: {}\r\n\r\n", super::HOST)?;
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            bail!("the connection closed before an answer");
        }
        let status: u16 =
            line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("a status line")?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            line.clear();
            if conn.read_line(&mut line)? == 0 {
                bail!("the connection closed in the headers");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.parse::<usize>()?);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                conn.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)?;
                if size == 0 {
                    line.clear();
                    conn.read_line(&mut line)?;
                    break;
                }
                let start = body.len();
                body.resize(start + size, 0);
                conn.read_exact(&mut body[start..])?;
                let mut crlf = [0; 2];
                conn.read_exact(&mut crlf)?;
            }
        } else if let Some(length) = length {
            body.resize(length, 0);
            conn.read_exact(&mut body)?;
        } else {
            conn.read_to_end(&mut body)?;
            close = true;
        }
        if close {
            self.conn = None;
        }
        Ok((status, body))
    }
}

/// Waits until `addr` answers 200 with `body`, at most `timeout`.
pub fn wait_for_body(addr: SocketAddr, body: &[u8], timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut client = Client::new(addr);
    let mut last = String::from("nothing yet");
    while Instant::now() < deadline {
        match client.get() {
            Ok((200, got)) if got == body => return Ok(()),
            Ok((status, got)) => last = format!("{status} {:?}", String::from_utf8_lossy(&got)),
            Err(err) => last = format!("{err:#}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "{addr} did not answer 200 {:?} within {}s (last: {last})",
        String::from_utf8_lossy(body),
        timeout.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_reports() {
        let out = "Running 2s test @ http://127.0.0.1:1/\n  1 threads and 64 connections\n\
                   \x20 Latency Distribution\n     50%  812.00us\n     75%    1.00ms\n     99%    2.31ms\n\
                   \x20 123456 requests in 1.00m, 12.34MB read\n\
                   \x20 Socket errors: connect 0, read 12, write 3, timeout 1\n\
                   \x20 Non-2xx or 3xx responses: 5\nRequests/sec:  2057.60\nbench-bodies 10 20 0\n";
        let wrk = parse_wrk(out).unwrap();
        assert_eq!(wrk.requests, 123_456);
        assert!((wrk.seconds - 60.0).abs() < 1e-9);
        assert_eq!(wrk.p50, Duration::from_micros(812));
        assert_eq!(wrk.p99, Duration::from_micros(2310));
        assert_eq!((wrk.non_2xx, wrk.socket_errors, wrk.bodies), (5, [0, 12, 3, 1], Some([10, 20, 0])));
        assert!(parse_wrk("nothing").is_err());
    }
}
