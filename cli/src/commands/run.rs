//! `run [--no-tty] -- CMD...`: a one-off process of the app, attached to this terminal;
//! its exit status becomes paas's.
//!
//! The API's run endpoint is full-duplex HTTP/1.1 (see `paas_core::run_stream`): the
//! request body carries the start frame and then stdin, the response body the output
//! and the exit status, both at once on one connection. reqwest's blocking client sends
//! a body before it reads the answer, so this speaks HTTP/1.1 itself over a plain TCP
//! socket (`http://` API URLs only, for now): one thread copies stdin into chunks of
//! stdin frames, the main thread decodes the answer onto stdout and stderr.
//!
//! With a TTY (the default when stdin and stdout are terminals) the local terminal is
//! in raw mode while attached, so keys, Ctrl-C included, go to the process; its size
//! is sent once at the start.

use std::io::{self, IsTerminal, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use paas_core::api::{RunCommand, RunRequest};
use paas_core::run_stream::chunked::{encode_chunk, encode_last, ChunkedDecoder};
use paas_core::run_stream::{Frame, FrameDecoder, CONTENT_TYPE};
use reqwest::{StatusCode, Url};

use super::Ctx;
use crate::client::status_error;
use crate::error::{CliError, ExitStatus};

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest response head read.
const MAX_HEAD: usize = 64 * 1024;
/// The longest error body read.
const MAX_ERROR_BODY: usize = 1024 * 1024;

/// `paas run`: runs `command`, streams stdin and output, and exits with its status.
pub(super) fn run(ctx: &Ctx, no_tty: bool, command: &[String]) -> anyhow::Result<()> {
    if command.iter().all(|arg| arg.trim().is_empty()) {
        return Err(CliError::new("no command given")
            .hint("name the command after `--`, e.g. paas run -- python3 manage.py migrate")
            .into());
    }
    let app = ctx.app()?;
    let creds = ctx.settings.credentials.as_ref().ok_or_else(CliError::not_logged_in)?;
    let tty = !no_tty && io::stdin().is_terminal() && io::stdout().is_terminal();
    let request = RunRequest { command: RunCommand::Argv(command.to_vec()), tty, env: Default::default() };
    let target = Target::parse(&creds.api_url)?;
    let unreachable = || {
        CliError::new(format!("cannot reach the paas API at {}", creds.api_url))
            .hint("check the URL, your network, and that the paas controller is running")
    };
    let addr = target.authority.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(unreachable)?;
    let mut socket = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|_| unreachable())?;
    let _ = socket.set_nodelay(true);
    let broke = |e: io::Error| {
        CliError::new(format!("the connection to the paas API at {} broke: {e}", creds.api_url))
    };

    let mut head = format!(
        "POST {}/v1/apps/{app}/run HTTP/1.1\r\nHost: {}\r\nUser-Agent: paas-cli/{}\r\n\
         Content-Type: {CONTENT_TYPE}\r\nAccept: {CONTENT_TYPE}\r\nTransfer-Encoding: chunked\r\n",
        target.path,
        target.authority,
        env!("CARGO_PKG_VERSION")
    );
    head.push_str(&format!("Authorization: Bearer {}\r\n\r\n", creds.token));
    let mut first = head.into_bytes();
    let start = serde_json::to_vec(&request)?;
    encode_chunk(&Frame::Start(start).to_bytes(), &mut first);
    if tty {
        if let Ok(size) = rustix::termios::tcgetwinsize(io::stdout()) {
            encode_chunk(&Frame::Resize { cols: size.ws_col, rows: size.ws_row }.to_bytes(), &mut first);
        }
    }
    socket.write_all(&first).map_err(broke)?;

    let writer = socket.try_clone().map_err(broke)?;
    std::thread::spawn(move || copy_stdin(writer));

    let mut reader = io::BufReader::new(socket);
    let (status, headers, mut rest) = read_head(&mut reader).map_err(broke)?;
    if status != StatusCode::OK {
        let body = read_error_body(&mut reader, &headers, rest).unwrap_or_default();
        let relogin = format!("run paas login {} --username {}", creds.api_url, creds.username);
        return Err(status_error(status, &body, &creds.api_url, Some(relogin)).into());
    }
    if !header(&headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return Err(CliError::new(format!(
            "the paas API at {} answered run without a stream",
            creds.api_url
        ))
        .hint("the controller and this paas may be of different versions")
        .into());
    }

    let raw = if tty { RawMode::enter() } else { None };
    let outcome = pump_output(&mut reader, &mut rest);
    drop(raw);
    match outcome.map_err(broke)? {
        End::Exit(0) => Ok(()),
        // The process's status is paas's: 1 to 255 as a shell sees it.
        End::Exit(code) => Err(ExitStatus(u8::try_from(code).unwrap_or(1)).into()),
        End::Error(message) => Err(CliError::new(message).into()),
        End::Eof => Err(CliError::new("the paas API ended the run without an exit status")
            .hint("look at paasd's logs")
            .into()),
    }
}

/// The API's address: `host:port` and the path before `/v1`.
#[derive(Debug)]
struct Target {
    authority: String,
    path: String,
}

impl Target {
    fn parse(api_url: &str) -> Result<Target, CliError> {
        let url = Url::parse(api_url).map_err(|e| CliError::new(format!("invalid API URL: {e}")))?;
        if url.scheme() != "http" {
            return Err(CliError::new("paas run needs an http:// API URL for now")
                .hint("log in with the API's http:// URL, e.g. paas login http://127.0.0.1:7700"));
        }
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let host = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
        Ok(Target { authority: format!("{host}:{port}"), path: url.path().trim_end_matches('/').to_owned() })
    }
}

/// Sends stdin as stdin frames, then an empty one and the end of the body.
fn copy_stdin(mut socket: TcpStream) {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => 0,
        };
        let mut out = Vec::new();
        encode_chunk(&Frame::Stdin(buf[..n].to_vec()).to_bytes(), &mut out);
        if n == 0 {
            encode_last(&mut out);
        }
        if socket.write_all(&out).is_err() || n == 0 {
            return;
        }
    }
}

/// Response headers, names lowercased.
type Headers = Vec<(String, String)>;

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Exit(i32),
    Error(String),
    Eof,
}

/// Decodes the response body onto stdout and stderr until its last frame.
fn pump_output(reader: &mut impl Read, already: &mut Vec<u8>) -> io::Result<End> {
    let mut chunked = ChunkedDecoder::new();
    let mut frames = FrameDecoder::new();
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr();
    let mut buf = std::mem::take(already);
    let mut data = Vec::new();
    let invalid = |e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    loop {
        data.clear();
        chunked.decode(&buf, &mut data).map_err(|e| invalid(&e))?;
        frames.push(&data);
        while let Some(frame) = frames.next_frame().map_err(|e| invalid(&e))? {
            match frame {
                Frame::Stdout(bytes) => {
                    // A closed pipe (`paas run -- cat big | head`) is no failure of the run.
                    if stdout.write_all(&bytes).and_then(|()| stdout.flush()).is_err() {
                        continue;
                    }
                }
                Frame::Stderr(bytes) => {
                    let _ = stderr.write_all(&bytes);
                }
                Frame::Exit(code) => return Ok(End::Exit(code)),
                Frame::Error(message) => return Ok(End::Error(message)),
                // Frames only a client sends: ignored.
                Frame::Start(_) | Frame::Stdin(_) | Frame::Resize { .. } => {}
            }
        }
        if chunked.is_done() {
            return Ok(End::Eof);
        }
        buf.resize(16 * 1024, 0);
        let n = loop {
            match reader.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Ok(End::Eof);
        }
        buf.truncate(n);
    }
}

/// Reads the response head: status, headers (names lowercased), and the bytes read
/// past it.
fn read_head(reader: &mut impl Read) -> io::Result<(StatusCode, Headers, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut piece = [0; 4096];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "the response head is too long"));
        }
        let n = reader.read(&mut piece)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no answer"));
        }
        buf.extend_from_slice(&piece[..n]);
    };
    let rest = buf[end + 4..].to_vec();
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP answer"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok((status, headers, rest))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The body of an error answer (sized or chunked), up to [`MAX_ERROR_BODY`].
fn read_error_body(
    reader: &mut impl Read,
    headers: &[(String, String)],
    mut body: Vec<u8>,
) -> io::Result<Vec<u8>> {
    let chunked = header(headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let length = header(headers, "content-length").and_then(|v| v.parse::<usize>().ok());
    let mut piece = [0; 4096];
    if chunked {
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        loop {
            decoder.decode(&body, &mut out).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if decoder.is_done() || out.len() > MAX_ERROR_BODY {
                return Ok(out);
            }
            let n = reader.read(&mut piece)?;
            if n == 0 {
                return Ok(out);
            }
            body = piece[..n].to_vec();
        }
    }
    let want = length.unwrap_or(0).min(MAX_ERROR_BODY);
    while body.len() < want {
        let n = reader.read(&mut piece)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&piece[..n]);
    }
    body.truncate(want);
    Ok(body)
}

/// The terminal in raw mode; restored when dropped.
struct RawMode {
    saved: rustix::termios::Termios,
}

impl RawMode {
    /// Puts stdin's terminal in raw mode; `None` when it cannot.
    fn enter() -> Option<RawMode> {
        let saved = rustix::termios::tcgetattr(io::stdin()).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(io::stdin(), rustix::termios::OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(io::stdin(), rustix::termios::OptionalActions::Now, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_plain_http() {
        let t = Target::parse("http://127.0.0.1:7700").unwrap();
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("127.0.0.1:7700", ""));
        let t = Target::parse("http://paas.example.com/base").unwrap();
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("paas.example.com:80", "/base"));
        assert!(Target::parse("https://paas.example.com").unwrap_err().hint.is_some());
    }

    #[test]
    fn heads_are_read_with_what_follows() {
        let answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhel";
        let (status, headers, rest) = read_head(&mut &answer[..]).unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(header(&headers, "content-length"), Some("5"));
        assert_eq!(rest, b"hel");
        let body = read_error_body(&mut &b"lo, more"[..], &headers, rest).unwrap();
        assert_eq!(body, b"hello");
    }

    #[test]
    fn the_output_ends_with_the_exit_frame() {
        let mut body = Vec::new();
        for frame in [Frame::Stdout(Vec::new()), Frame::Exit(3), Frame::Stdout(b"late".to_vec())] {
            encode_chunk(&frame.to_bytes(), &mut body);
        }
        encode_last(&mut body);
        let (a, b) = body.split_at(7);
        let mut already = a.to_vec();
        assert_eq!(pump_output(&mut &b[..], &mut already).unwrap(), End::Exit(3));
        let mut nothing = Vec::new();
        assert_eq!(pump_output(&mut &b"0\r\n\r\n"[..], &mut nothing).unwrap(), End::Eof);
    }
}
