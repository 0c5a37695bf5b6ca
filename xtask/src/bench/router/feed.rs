//! The controller's part for the paas router in `bench router`: a small HTTP/1.1
//! server that streams the route table at the watch path (`paas_core::routes`: a
//! snapshot, then versioned changes, NDJSON, heartbeats) and takes the access lines
//! the router posts, and throws them away.
//!
//! The table has one route, [`super::HOST`] to one backend; [`Feed::point_to`] moves
//! it to another with a `changes` message, which every open watch stream gets at once.
//! A stream opened later starts with a snapshot of the current table.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

/// Where the router follows the table (`paas_core::routes::WATCH_PATH`).
pub const WATCH_PATH: &str = "/v1/internal/routes/watch";
/// Where the router posts access lines (`paas_core::access::ACCESS_PATH`).
const ACCESS_PATH: &str = "/v1/internal/access";
/// How often an idle stream gets an empty line (the router gives up after three
/// times its own interval of silence).
const HEARTBEAT: Duration = Duration::from_secs(5);
/// The largest access batch read (the router posts at most 4 MiB).
const MAX_BODY: usize = 8 << 20;

/// The route feed, stopped when dropped.
pub struct Feed {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

struct State {
    version: u64,
    backend: SocketAddr,
    /// Every `changes` line sent so far, in order.
    lines: Vec<String>,
}

impl Feed {
    /// Listens on a free loopback port with the table routing [`super::HOST`] to
    /// `backend`.
    pub fn start(backend: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("could not listen for the route feed")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State { version: 1, backend, lines: Vec::new() }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let accepting = shared.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if accepting.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let shared = accepting.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &shared);
                });
            }
        });
        Ok(Self { addr, shared, accept: Some(accept) })
    }

    /// The URL of the watch stream.
    pub fn url(&self) -> String {
        format!("http://{}{WATCH_PATH}", self.addr)
    }

    /// Routes [`super::HOST`] to `backend` from now on: one `changes` message to every
    /// open stream.
    pub fn point_to(&self, backend: SocketAddr) {
        let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.version += 1;
        state.backend = backend;
        let message = json!({
            "type": "changes",
            "version": state.version,
            "changes": [{ "op": "upsert", "host": super::HOST, "route": route(backend) }],
        });
        state.lines.push(format!("{message}\n"));
        self.shared.changed.notify_all();
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// The one route, as the watch stream carries it.
fn route(backend: SocketAddr) -> serde_json::Value {
    json!({ "app": "bench", "backends": [{ "addr": backend.to_string(), "process": "web.1" }] })
}

/// One connection: access posts (kept alive) or one watch stream.
fn serve(conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let mut writer = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut content_length = 0usize;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse().unwrap_or(0).min(MAX_BODY);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
        let mut words = request_line.split_whitespace();
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        if method == "GET" && path.starts_with(WATCH_PATH) {
            return stream(&mut writer, shared);
        }
        if chunked {
            skip_chunked(&mut reader)?;
        } else {
            std::io::copy(&mut (&mut reader).take(content_length as u64), &mut std::io::sink())?;
        }
        let answer = match (method, path) {
            ("POST", ACCESS_PATH) => "HTTP/1.1 204 No Content\r\n\r\n",
            _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        };
        writer.write_all(answer.as_bytes())?;
    }
}

/// Reads and drops a chunked body.
fn skip_chunked(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16).unwrap_or(0);
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                    return Ok(());
                }
            }
        }
        std::io::copy(&mut reader.take(size.min(MAX_BODY) as u64 + 2), &mut std::io::sink())?;
    }
}

/// The watch stream: the snapshot, then every change, with heartbeats, until the
/// router goes away or the feed stops.
fn stream(writer: &mut TcpStream, shared: &Shared) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n";
    writer.write_all(head.as_bytes())?;
    let (snapshot, mut sent) = {
        let state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        let table = json!({ "version": state.version, "routes": { super::HOST: route(state.backend) } });
        (format!("{}\n", json!({ "type": "snapshot", "table": table })), state.lines.len())
    };
    chunk(writer, &snapshot)?;
    loop {
        let pending: Vec<String> = {
            let state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            let (state, _) = shared
                .changed
                .wait_timeout_while(state, HEARTBEAT, |s| {
                    s.lines.len() == sent && !shared.stop.load(Ordering::SeqCst)
                })
                .unwrap_or_else(PoisonError::into_inner);
            state.lines[sent..].to_vec()
        };
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        sent += pending.len();
        if pending.is_empty() {
            chunk(writer, "\n")?;
        } else {
            chunk(writer, &pending.concat())?;
        }
    }
}

fn chunk(writer: &mut TcpStream, data: &str) -> std::io::Result<()> {
    write!(writer, "{:x}\r\n{data}\r\n", data.len())?;
    writer.flush()
}
