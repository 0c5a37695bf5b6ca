//! `run [--no-tty] -- CMD...`: a one-off process of the app, attached to this terminal;
//! its exit status becomes paas's.
//!
//! The API's run endpoint is a WebSocket (see `paas_core::run_stream`): `GET
//! /v1/apps/{app}/run` upgraded, with the request in its `Paas-Run` header, then binary
//! messages of run stream frames both ways. tungstenite speaks it over a plain TCP
//! socket (`http://` API URLs only, for now). Its `WebSocket` is not split-able, so two
//! share the connection: the main thread's, which made the handshake, reads the output
//! onto stdout and stderr; the stdin thread's, over a clone of the socket, only writes
//! stdin frames. Both write through one lock, a whole write at a time ([`Socket`]), so
//! their frames never interleave, and reading never waits for stdin.
//!
//! With a TTY (the default when stdin and stdout are terminals) the local terminal is
//! in raw mode while attached, so keys, Ctrl-C included, go to the process; its size
//! is sent once at the start.

use std::io::{self, IsTerminal, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use paas_core::api::{RunCommand, RunRequest};
use paas_core::run_stream::{self, Frame, FrameDecoder, MAX_REQUEST_HEADER, REQUEST_HEADER};
use reqwest::{StatusCode, Url};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::{header, HeaderValue};
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::{Error as WsError, Message};

use super::Ctx;
use crate::client::status_error;
use crate::error::{CliError, ExitStatus};

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
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
    let encoded = run_stream::encode_request(&request).map_err(|_| {
        CliError::new(format!("the command is too long to send (over {} KiB)", MAX_REQUEST_HEADER / 1024))
            .hint("put a long script into the app and run it by name")
    })?;
    let target = Target::parse(&creds.api_url)?;
    let unreachable = || {
        CliError::new(format!("cannot reach the paas API at {}", creds.api_url))
            .hint("check the URL, your network, and that the paas controller is running")
    };
    let addr = target.authority.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(unreachable)?;
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|_| unreachable())?;
    let _ = stream.set_nodelay(true);
    let broke = |e: &dyn std::fmt::Display| {
        CliError::new(format!("the connection to the paas API at {} broke: {e}", creds.api_url))
    };
    let socket = Socket::new(stream).map_err(|e| broke(&e))?;
    // Kept to read the rest of an error's body.
    let mut error_reader = socket.try_clone().map_err(|e| broke(&e))?;

    let unfit = |e: &dyn std::fmt::Display| CliError::new(format!("cannot make the run request: {e}"));
    let url = format!("ws://{}{}/v1/apps/{app}/run", target.authority, target.path);
    let mut upgrade = url.as_str().into_client_request().map_err(|e| unfit(&e))?;
    let headers = upgrade.headers_mut();
    let value = |text: &str| HeaderValue::from_str(text).map_err(|e| unfit(&e));
    headers.insert(header::USER_AGENT, value(&format!("paas-cli/{}", env!("CARGO_PKG_VERSION")))?);
    headers.insert(header::AUTHORIZATION, value(&format!("Bearer {}", creds.token))?);
    headers.insert(REQUEST_HEADER, value(&encoded)?);
    let mut ws = match tungstenite::client(upgrade, socket.try_clone().map_err(|e| broke(&e))?) {
        Ok((ws, _)) => ws,
        Err(HandshakeError::Failure(WsError::Http(response))) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let length = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            let already = response.into_body().unwrap_or_default();
            let body = read_error_body(&mut error_reader, already, length).unwrap_or_default();
            let relogin = format!("run paas login {} --username {}", creds.api_url, creds.username);
            return Err(status_error(status, &body, &creds.api_url, Some(relogin)).into());
        }
        Err(HandshakeError::Failure(e)) => return Err(broke(&e).into()),
        // Only on a non-blocking socket, which this is not.
        Err(HandshakeError::Interrupted(_)) => return Err(broke(&"the handshake was interrupted").into()),
    };
    drop(error_reader);

    if tty {
        if let Ok(size) = rustix::termios::tcgetwinsize(io::stdout()) {
            let resize = Frame::Resize { cols: size.ws_col, rows: size.ws_row };
            ws.send(Message::Binary(resize.to_bytes().into())).map_err(|e| broke(&e))?;
        }
    }
    let writer = WebSocket::from_raw_socket(socket, Role::Client, None);
    std::thread::spawn(move || copy_stdin(writer));

    let raw = if tty { RawMode::enter() } else { None };
    let outcome = pump_output(&mut ws);
    drop(raw);
    match outcome.map_err(|e| broke(&e))? {
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

/// One TCP connection for two `WebSocket`s: each reads through its own handle, and
/// both write through one lock, a whole buffer at a time, so that the frames of one
/// never land inside the other's (tungstenite writes whole frames in one `write`).
struct Socket {
    read: TcpStream,
    write: Arc<Mutex<TcpStream>>,
}

impl Socket {
    fn new(stream: TcpStream) -> io::Result<Socket> {
        Ok(Socket { read: stream.try_clone()?, write: Arc::new(Mutex::new(stream)) })
    }

    fn try_clone(&self) -> io::Result<Socket> {
        Ok(Socket { read: self.read.try_clone()?, write: Arc::clone(&self.write) })
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write.lock().unwrap_or_else(PoisonError::into_inner).write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write.lock().unwrap_or_else(PoisonError::into_inner).flush()
    }
}

/// Sends stdin as stdin frames, then an empty one. The WebSocket stays open: closing
/// it would end the process.
fn copy_stdin(mut ws: WebSocket<Socket>) {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => 0,
        };
        let frame = Frame::Stdin(buf[..n].to_vec());
        if ws.send(Message::Binary(frame.to_bytes().into())).is_err() || n == 0 {
            return;
        }
    }
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Exit(i32),
    Error(String),
    Eof,
}

/// Decodes the controller's messages onto stdout and stderr until the last frame.
fn pump_output(ws: &mut WebSocket<impl Read + Write>) -> Result<End, WsError> {
    let mut frames = FrameDecoder::new();
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr();
    loop {
        let bytes = match ws.read() {
            Ok(Message::Binary(bytes)) => bytes,
            Ok(Message::Close(_)) => return Ok(End::Eof),
            Ok(_) => continue,
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return Ok(End::Eof),
            Err(WsError::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake)) => {
                return Ok(End::Eof)
            }
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        frames.push(&bytes);
        let invalid = |e: run_stream::FrameError| WsError::Io(io::Error::new(io::ErrorKind::InvalidData, e));
        while let Some(frame) = frames.next_frame().map_err(invalid)? {
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
                Frame::Stdin(_) | Frame::Resize { .. } => {}
            }
        }
    }
}

/// The body of an error answer: what came with its head, then up to its length (at
/// most [`MAX_ERROR_BODY`]).
fn read_error_body(reader: &mut impl Read, mut body: Vec<u8>, length: Option<usize>) -> io::Result<Vec<u8>> {
    let want = length.unwrap_or(body.len()).min(MAX_ERROR_BODY);
    let mut piece = [0; 4096];
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
    fn error_bodies_are_read_to_their_length() {
        let body = read_error_body(&mut &b"lo, more"[..], b"hel".to_vec(), Some(5)).unwrap();
        assert_eq!(body, b"hello");
        let body = read_error_body(&mut &b"more"[..], b"all".to_vec(), None).unwrap();
        assert_eq!(body, b"all");
    }

    /// What a server sends: read by the client's `WebSocket`, which writes into `sent`.
    struct Wire {
        incoming: io::Cursor<Vec<u8>>,
        sent: Vec<u8>,
    }

    impl Read for Wire {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.incoming.read(buf)
        }
    }

    impl Write for Wire {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.sent.write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A server's unmasked binary message.
    fn binary(payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() < 126);
        let mut out = vec![0x82, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    fn client_over(incoming: Vec<u8>) -> WebSocket<Wire> {
        WebSocket::from_raw_socket(
            Wire { incoming: io::Cursor::new(incoming), sent: Vec::new() },
            Role::Client,
            None,
        )
    }

    #[test]
    fn the_output_ends_with_the_exit_frame() {
        // A frame cut across two messages, then the exit, and something after it.
        let mut frames = Frame::Stdout(Vec::new()).to_bytes();
        frames.extend(Frame::Exit(3).to_bytes());
        let (a, b) = frames.split_at(7);
        let mut wire = binary(a);
        wire.extend(binary(b));
        wire.extend(binary(&Frame::Stdout(b"late".to_vec()).to_bytes()));
        assert_eq!(pump_output(&mut client_over(wire)).unwrap(), End::Exit(3));

        let error = binary(&Frame::Error("the platform is stopping".into()).to_bytes());
        assert_eq!(
            pump_output(&mut client_over(error)).unwrap(),
            End::Error("the platform is stopping".into())
        );
    }

    #[test]
    fn a_stream_without_an_exit_is_an_eof() {
        // A close (status 1000) before any exit frame; then no close at all.
        let close = vec![0x88, 2, 0x03, 0xe8];
        assert_eq!(pump_output(&mut client_over(close)).unwrap(), End::Eof);
        let cut = binary(&Frame::Stdout(b"hi".to_vec()).to_bytes());
        assert_eq!(pump_output(&mut client_over(cut)).unwrap(), End::Eof);
    }

    #[test]
    fn the_socket_writes_whole_buffers_for_both_writers() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let socket = Socket::new(client).unwrap();
        let (mut a, mut b) = (socket.try_clone().unwrap(), socket);
        assert_eq!(a.write(b"one ").unwrap(), 4);
        assert_eq!(b.write(b"two").unwrap(), 3);
        b.flush().unwrap();
        drop((a, b));
        let mut got = String::new();
        server.read_to_string(&mut got).unwrap();
        assert_eq!(got, "one two");
    }
}
