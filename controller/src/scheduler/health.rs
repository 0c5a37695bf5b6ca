//! Health checks of new processes, from the control plane to the container's address
//! on the platform network and `PORT`.
//!
//! A [`Check`] with a path asks `GET <path>` over HTTP/1.1 and wants a 2xx or 3xx
//! answer; the default check (no path) wants the port to accept a connection and
//! answer `GET /` with any HTTP status line. [`watch`] makes up to `attempts` tries,
//! `interval` apart, each limited to `timeout`, and returns when one passes or the last
//! fails. Only `web` processes are checked; the scheduler counts other types healthy
//! once they run.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::desired::PORT;

/// How a process type is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The path asked; `None`: any HTTP answer to `GET /` will do.
    pub path: Option<String>,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// The wait between attempts.
    pub interval: Duration,
    /// How many attempts before giving up.
    pub attempts: u32,
}

impl Check {
    /// The default check: any HTTP answer, with the default timing.
    pub fn default_check() -> Check {
        let d = crate::app::healthchecks::DEFAULT;
        Check {
            path: None,
            timeout: Duration::from_millis(d.timeout_ms),
            interval: Duration::from_millis(d.interval_ms),
            attempts: d.attempts,
        }
    }

    /// The longest a [`watch`] of this check takes.
    pub fn budget(&self) -> Duration {
        (self.timeout + self.interval) * self.attempts
    }
}

/// How long, after the status line, the rest of an answer is read before the
/// connection is closed; at most [`DRAIN_BYTES`] of it.
const DRAIN_TIME: Duration = Duration::from_millis(500);
/// The most of an answer read after its status line.
const DRAIN_BYTES: usize = 64 * 1024;

/// Tries once; `Err` says what went wrong. The verdict comes from the status line;
/// then the rest of the answer is read for a moment (not counted against the check's
/// timeout, and not changing the verdict), so that the process does not see its
/// client vanish mid-answer and log a broken pipe for every check.
pub async fn probe(addr: SocketAddr, check: &Check) -> Result<(), String> {
    match tokio::time::timeout(check.timeout, attempt(addr, check)).await {
        Ok(Ok((mut stream, verdict))) => {
            let _ = tokio::time::timeout(DRAIN_TIME, drain(&mut stream)).await;
            verdict
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {} ms", check.timeout.as_millis())),
    }
}

/// Reads until the end of the answer (the request asked to close) or [`DRAIN_BYTES`].
async fn drain(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let mut read = 0;
    while read < DRAIN_BYTES {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
}

/// Connects, asks and reads the status line: the connection and the verdict, or why
/// no answer came.
async fn attempt(addr: SocketAddr, check: &Check) -> Result<(TcpStream, Result<(), String>), String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| format!("cannot connect: {e}"))?;
    let path = check.path.as_deref().unwrap_or("/");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: paas-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("cannot send: {e}"))?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 64];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut buf).await.map_err(|e| format!("cannot read: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    let status = status_code(line).ok_or_else(|| "no HTTP answer".to_owned())?;
    let verdict = if check.path.is_none() || (200..400).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    };
    Ok((stream, verdict))
}

/// The status code of an HTTP/1.x status line.
fn status_code(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("HTTP/1.")?;
    let code = rest.get(2..5)?;
    code.parse().ok().filter(|c| (100..600).contains(c))
}

/// Tries up to `check.attempts` times; `Err` is the reason the process is unhealthy,
/// naming `process`.
pub async fn watch(addr: SocketAddr, check: &Check, process: &str) -> Result<(), String> {
    let mut last = String::new();
    for n in 1..=check.attempts {
        match probe(addr, check).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        if n < check.attempts {
            tokio::time::sleep(check.interval).await;
        }
    }
    Err(match &check.path {
        None => format!(
            "{process} never answered HTTP on port {PORT} ({} attempts; last: {last})",
            check.attempts
        ),
        Some(path) => format!(
            "{process} failed its health check GET {path} on port {PORT} ({} attempts; last: {last})",
            check.attempts
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_read() {
        assert_eq!(status_code("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(status_code("HTTP/1.0 500 Internal Server Error"), Some(500));
        assert_eq!(status_code("HTTP/1.1 99 nope"), None);
        assert_eq!(status_code("SSH-2.0-OpenSSH"), None);
        assert_eq!(status_code(""), None);
    }

    #[tokio::test]
    async fn the_rest_of_an_answer_is_read_so_the_process_sees_no_broken_pipe() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("an address");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("the check connects");
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            s.write_all(b"HTTP/1.1 500 Oops\r\nContent-Length: 300000\r\n\r\n").await.expect("the head");
            // Written after the checker has its verdict; they must still be read (a
            // write to a closed peer fails once the peer has answered the one before).
            for _ in 0..2 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                s.write_all(&[b'x'; 20_000]).await?;
            }
            Ok::<(), std::io::Error>(())
        });
        let check = Check {
            path: Some("/health".into()),
            timeout: Duration::from_secs(2),
            interval: Duration::from_millis(10),
            attempts: 1,
        };
        assert_eq!(probe(addr, &check).await, Err("HTTP 500".into()));
        assert!(server.await.expect("no panic").is_ok(), "the body was taken");
    }

    #[tokio::test]
    async fn a_silent_port_fails_and_an_http_answer_passes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let answer = if req.starts_with("GET /health ") {
                    "HTTP/1.1 500 Oops\r\n\r\n"
                } else {
                    "HTTP/1.1 404 No\r\n\r\n"
                };
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        let mut check = Check {
            path: None,
            timeout: Duration::from_secs(2),
            interval: Duration::from_millis(10),
            attempts: 2,
        };
        assert_eq!(probe(addr, &check).await, Ok(()), "any answer passes the default check");
        check.path = Some("/health".into());
        let reason = watch(addr, &check, "web.1").await.expect_err("500 fails");
        assert!(
            reason.contains("web.1 failed its health check GET /health") && reason.contains("HTTP 500"),
            "{reason}"
        );
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let gone = closed.local_addr().expect("an address");
        drop(closed);
        check.path = None;
        let reason = watch(gone, &check, "web.1").await.expect_err("nothing listens");
        assert!(reason.starts_with("web.1 never answered HTTP on port 5000 (2 attempts"), "{reason}");
    }
}
