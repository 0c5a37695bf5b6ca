//! WebSockets through the router: a real WebSocket echo server standing for the app
//! (handshake and framing written here over tokio, RFC 6455), and a client speaking
//! to the router over plain TCP or TLS.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{feed_config, route, table, TestFeed, TestRouter};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
pub const OP_TEXT: u8 = 1;
pub const OP_BINARY: u8 = 2;
pub const OP_CLOSE: u8 = 8;

/// Any byte stream: TCP, or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

fn accept_key(key: &str) -> String {
    let digest = Sha1::digest(format!("{key}{GUID}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Reads up to the end of an HTTP head; returns the head and whatever came after it.
async fn read_head(stream: &mut (impl AsyncRead + Unpin)) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return (String::from_utf8(buf).unwrap(), rest);
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the stream ended inside a head: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// One frame; clients mask, servers do not.
pub fn encode(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n if n <= 0xffff => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(mask) => {
            out.extend_from_slice(&mask);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Reads one frame: `(opcode, payload)`, unmasked.
pub async fn read_frame(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<(u8, Vec<u8>)> {
    let mut two = [0u8; 2];
    stream.read_exact(&mut two).await?;
    let opcode = two[0] & 0x0f;
    let masked = two[1] & 0x80 != 0;
    let len = match two[1] & 0x7f {
        126 => u64::from(stream.read_u16().await?),
        127 => stream.read_u64().await?,
        n => u64::from(n),
    };
    let mut mask = [0u8; 4];
    if masked {
        stream.read_exact(&mut mask).await?;
    }
    let mut payload = vec![0u8; usize::try_from(len).unwrap()];
    stream.read_exact(&mut payload).await?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok((opcode, payload))
}

/// A WebSocket echo server standing for an app's process. `/chat` upgrades and echoes
/// every frame until a close; any other path answers 426 without upgrading.
pub struct EchoServer {
    pub addr: std::net::SocketAddr,
    /// Requests received.
    pub requests: Arc<AtomicUsize>,
    /// Bytes that reached the server after an upgrade request but before its 101.
    pub early_bytes: Arc<AtomicUsize>,
}

impl EchoServer {
    pub async fn spawn() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let early_bytes = Arc::new(AtomicUsize::new(0));
        let (r, e) = (requests.clone(), early_bytes.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                tokio::spawn(Self::serve(stream, r.clone(), e.clone()));
            }
        });
        Self { addr, requests, early_bytes }
    }

    async fn serve(mut stream: TcpStream, requests: Arc<AtomicUsize>, early: Arc<AtomicUsize>) {
        let (head, rest) = read_head(&mut stream).await;
        requests.fetch_add(1, Ordering::SeqCst);
        let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
        let key = header(&head, "sec-websocket-key").map(str::to_owned);
        let upgrade = header(&head, "upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let (Some(key), true, "/chat") = (key, upgrade, path.as_str()) else {
            let body = "upgrade required";
            let answer = format!(
                "HTTP/1.1 426 Upgrade Required\r\ncontent-length: {}\r\nx-saw-upgrade: {}\r\n\r\n{body}",
                body.len(),
                header(&head, "upgrade").unwrap_or("-"),
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            return;
        };
        early.fetch_add(rest.len(), Ordering::SeqCst);
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
             sec-websocket-accept: {}\r\n\r\n",
            accept_key(&key)
        );
        stream.write_all(answer.as_bytes()).await.unwrap();
        while let Ok((opcode, payload)) = read_frame(&mut stream).await {
            if stream.write_all(&encode(opcode, &payload, None)).await.is_err() || opcode == OP_CLOSE {
                return;
            }
        }
    }
}

/// A WebSocket client's open connection.
pub struct Client<S> {
    pub stream: S,
    /// What arrived after the response head (a non-101 answer's body).
    pub rest: Vec<u8>,
}

impl<S: Stream> Client<S> {
    /// Sends the upgrade request for `host` and `path` on `stream`, with `first_frame`
    /// in the same write; returns the response head.
    pub async fn open(mut stream: S, host: &str, path: &str, first_frame: &[u8]) -> (String, Self) {
        let key = base64::engine::general_purpose::STANDARD.encode(rand_bytes::<16>());
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
             sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n\r\n"
        );
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(first_frame);
        stream.write_all(&bytes).await.unwrap();
        let (head, rest) = read_head(&mut stream).await;
        if head.starts_with("HTTP/1.1 101") {
            assert_eq!(header(&head, "sec-websocket-accept"), Some(accept_key(&key).as_str()), "{head}");
            assert!(rest.is_empty(), "nothing follows a 101 before the first frame");
        }
        (head, Self { stream, rest })
    }

    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.stream.write_all(&encode(opcode, payload, Some(rand_bytes()))).await.unwrap();
    }

    pub async fn receive(&mut self) -> (u8, Vec<u8>) {
        tokio::time::timeout(Duration::from_secs(10), read_frame(&mut self.stream))
            .await
            .expect("a frame arrives")
            .expect("the tunnel is open")
    }

    /// Sends frames of several kinds and sizes and checks each comes back.
    pub async fn echo_several(&mut self) {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let frames: [(u8, &[u8]); 4] =
            [(OP_TEXT, b"hello"), (OP_BINARY, &[0, 1, 2, 255]), (OP_TEXT, &[b'x'; 300]), (OP_BINARY, &big)];
        for (opcode, payload) in frames {
            self.send(opcode, payload).await;
            assert_eq!(self.receive().await, (opcode, payload.to_vec()));
        }
    }
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    std::array::from_fn(|_| rand::random())
}

async fn router_for(echo: &EchoServer, configure: impl FnOnce(&mut paas_router::RouterConfig)) -> TestRouter {
    let feed = TestFeed::spawn(table(1, vec![("chat.paas.test", route("chat", &[echo.addr]))])).await;
    let url = feed.url();
    let router = TestRouter::spawn(|config| {
        config.feed = Some(feed_config(url));
        configure(config);
    })
    .await;
    router.wait_for_version(1).await;
    router
}

#[tokio::test]
async fn websocket_frames_echo_through_the_router() {
    let echo = EchoServer::spawn().await;
    let router = router_for(&echo, |_| {}).await;
    let stream = TcpStream::connect(router.addr).await.unwrap();
    let first = encode(OP_TEXT, b"sent with the upgrade", Some(rand_bytes()));
    let (head, mut client) = Client::open(stream, "chat.paas.test", "/chat", &first).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(header(&head, "upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")), "{head}");
    assert!(header(&head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("upgrade")), "{head}");
    assert_eq!(client.receive().await, (OP_TEXT, b"sent with the upgrade".to_vec()));
    assert_eq!(echo.early_bytes.load(Ordering::SeqCst), 0, "bytes after the upgrade waited for the 101");
    client.echo_several().await;
    client.send(OP_CLOSE, &[3, 232]).await;
    assert_eq!(client.receive().await.0, OP_CLOSE);
    // The router still serves plain requests and other WebSockets.
    let stream = TcpStream::connect(router.addr).await.unwrap();
    let (head, mut again) = Client::open(stream, "chat.paas.test", "/chat", &[]).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    again.echo_several().await;
    assert_eq!(echo.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_answer_other_than_101_is_passed_back_as_it_is() {
    let echo = EchoServer::spawn().await;
    let router = router_for(&echo, |_| {}).await;
    let stream = TcpStream::connect(router.addr).await.unwrap();
    let (head, mut client) = Client::open(stream, "chat.paas.test", "/elsewhere", &[]).await;
    assert!(head.starts_with("HTTP/1.1 426"), "{head}");
    assert_eq!(header(&head, "x-saw-upgrade"), Some("websocket"), "the process saw the Upgrade header");
    let mut body = client.rest.clone();
    body.resize(16, 0);
    client.stream.read_exact(&mut body[client.rest.len()..]).await.unwrap();
    assert_eq!(&body, b"upgrade required");
}

#[tokio::test]
async fn an_idle_websocket_outlives_the_header_body_and_keep_alive_timeouts() {
    let echo = EchoServer::spawn().await;
    let timeout = Duration::from_millis(300);
    let router = router_for(&echo, |config| {
        config.header_read_timeout = timeout;
        config.body_read_timeout = timeout;
    })
    .await;

    // A plain idle keep-alive connection is closed after the timeout...
    let mut idle = TcpStream::connect(router.addr).await.unwrap();
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(10), idle.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "an idle connection is closed: {closed:?}");

    // ...while a WebSocket idle for several times as long stays open.
    let stream = TcpStream::connect(router.addr).await.unwrap();
    let (head, mut client) = Client::open(stream, "chat.paas.test", "/chat", &[]).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tokio::time::sleep(timeout * 4).await;
    client.echo_several().await;
}
