//! What the router reads from and writes to headers: the host a request is for,
//! hop-by-hop headers (removed both ways), the `X-Forwarded-*` headers and
//! `X-Request-Id`.
//!
//! Client-sent `X-Forwarded-*` and `Forwarded` headers are not passed on unless the
//! peer is a trusted proxy (`PAAS_TRUSTED_PROXIES`): an app must be able to trust what
//! the router says about the client. From a trusted proxy they are kept, and the
//! proxy's address is appended to `X-Forwarded-For`. Nothing here logs a header's
//! value.

use std::net::{IpAddr, SocketAddr};

use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, FORWARDED, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION,
    TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use hyper::http::request::Parts;

/// `X-Forwarded-For`: the client's address.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`: the scheme the client used.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`: the `Host` the client sent.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Forwarded-Port`: the router's port the client connected to.
pub const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
/// `X-Request-Id`: one id per request, for logs on both sides.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-sent request id the router keeps.
pub const MAX_REQUEST_ID_LEN: usize = 200;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// The host a request is for: the authority of an absolute-form target, else the
/// `Host` header; lowercased, without port or trailing dot. `None` when there is no
/// usable host (missing, repeated, or not text).
pub fn request_host(parts: &Parts) -> Option<String> {
    let raw = match parts.uri.authority() {
        Some(authority) => authority.as_str(),
        None => {
            let mut values = parts.headers.get_all(HOST).iter();
            let first = values.next()?;
            if values.next().is_some() {
                return None;
            }
            first.to_str().ok()?
        }
    };
    normalise_host(raw)
}

/// `Example.COM.:8080` -> `example.com`. An IPv6 literal keeps its brackets.
pub fn normalise_host(raw: &str) -> Option<String> {
    let raw = raw.rsplit_once('@').map_or(raw, |(_, host)| host);
    let host = if raw.starts_with('[') {
        &raw[..=raw.find(']')?]
    } else {
        match raw.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            Some(_) => return None,
            None => raw,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// Removes the hop-by-hop headers: `Connection` and every header it names,
/// `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding` (the body is framed
/// again on each hop) and `Upgrade`. `Host` stays even when `Connection` names it.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One look at each name finds those to remove; most messages have only a
    // `Connection` or none.
    let mut fixed = 0u8;
    let mut proxy = false;
    for name in headers.keys() {
        match hop_by_hop_index(name) {
            Some(i) => fixed |= 1 << i,
            None => proxy |= name.as_str().starts_with("proxy"),
        }
    }
    // `Connection: keep-alive` (or `close`), the usual value, names nothing else.
    let names_others = fixed & 1 != 0
        && headers.get_all(CONNECTION).iter().any(|value| {
            let value = value.as_bytes().trim_ascii();
            !value.eq_ignore_ascii_case(b"keep-alive") && !value.eq_ignore_ascii_case(b"close")
        });
    if names_others {
        // The names `Connection` lists beyond the fixed ones.
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|name| !HOP_BY_HOP.iter().any(|fixed| name.eq_ignore_ascii_case(fixed.as_str())))
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .filter(|name| *name != HOST)
            .collect();
        for name in named {
            proxy |= name.as_str().starts_with("proxy");
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if fixed & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    if proxy {
        let proxy: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str() == "proxy" || name.as_str().starts_with("proxy-"))
            .cloned()
            .collect();
        for name in proxy {
            headers.remove(name);
        }
    }
}

/// Where `name` is in [`HOP_BY_HOP`] (one comparison of its text, not eight of names).
fn hop_by_hop_index(name: &HeaderName) -> Option<usize> {
    let index = match name.as_str() {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-authenticate" => 2,
        "proxy-authorization" => 3,
        "te" => 4,
        "trailer" => 5,
        "transfer-encoding" => 6,
        "upgrade" => 7,
        _ => return None,
    };
    debug_assert_eq!(HOP_BY_HOP[index], *name);
    Some(index)
}

/// The hop-by-hop headers every message loses, whatever its `Connection` says.
static HOP_BY_HOP: [HeaderName; 8] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// A client connection's peer, with the text of its IP (an IPv4-mapped IPv6 address
/// written as IPv4) made once for every request on the connection.
#[derive(Debug, Clone)]
pub struct Peer {
    addr: SocketAddr,
    ip_text: HeaderValue,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Self {
        let ip_text = HeaderValue::try_from(addr.ip().to_canonical().to_string())
            .expect("an IP address is a header value");
        Self { addr, ip_text }
    }

    /// The peer's address and port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer's IP, as the connection has it.
    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }

    /// The peer's IP as `X-Forwarded-For` and access lines write it.
    pub fn ip_text(&self) -> &str {
        self.ip_text.to_str().expect("an IP address is text")
    }
}

/// What the router tells an app about a request.
#[derive(Debug, Clone)]
pub struct Forwarded {
    /// The peer: the client, or the proxy in front of it.
    pub peer: Peer,
    /// Whether the peer is a trusted proxy, whose forwarding headers are kept.
    pub trusted: bool,
    /// The port of the router's listener.
    pub port: u16,
    /// Whether the client spoke TLS to the router.
    pub https: bool,
    /// The `Host` the client sent, as sent.
    pub host: Option<HeaderValue>,
    /// The request's id.
    pub request_id: HeaderValue,
}

/// Sets the `X-Forwarded-*` and `X-Request-Id` headers. From an untrusted peer they
/// replace whatever it sent, and a `Forwarded` it sent is dropped. From a trusted
/// proxy its `Forwarded` and `X-Forwarded-Proto/-Host/-Port` stay (the router's own
/// values fill in those it did not send) and its `X-Forwarded-For` becomes one header
/// with the proxy's address appended. Either way there is exactly one
/// `X-Forwarded-For` and one `X-Request-Id`.
pub fn set_forwarded(headers: &mut HeaderMap, forwarded: Forwarded) {
    for (name, value) in forwarding_headers(headers, forwarded) {
        headers.append(name, value);
    }
}

/// What [`set_forwarded`] does, as the headers to add: `headers` loses what it must,
/// and the router's own forwarding headers are returned, to go after the others (the
/// router writes them straight into the request head it sends, sparing the map a
/// lookup each).
pub fn forwarding_headers(headers: &mut HeaderMap, forwarded: Forwarded) -> Vec<(HeaderName, HeaderValue)> {
    let proto = HeaderValue::from_static(if forwarded.https { "https" } else { "http" });
    let port = HeaderValue::from(forwarded.port);
    let mut added = Vec::with_capacity(5);
    // Most clients send none of these: one look at each name spares the removals.
    let any_sent = headers
        .keys()
        .any(|name| name == FORWARDED || name == X_REQUEST_ID || name.as_str().starts_with("x-forwarded-"));
    if forwarded.trusted {
        let mut chain = Vec::new();
        for value in headers.get_all(X_FORWARDED_FOR) {
            let value = value.as_bytes().trim_ascii();
            if !value.is_empty() {
                chain.extend_from_slice(value);
                chain.extend_from_slice(b", ");
            }
        }
        chain.extend_from_slice(forwarded.peer.ip_text.as_bytes());
        let chain =
            HeaderValue::from_bytes(&chain).expect("header values joined by commas are a header value");
        headers.remove(X_FORWARDED_FOR);
        added.push((X_FORWARDED_FOR, chain));
        for (name, value) in [
            (X_FORWARDED_PROTO, Some(proto)),
            (X_FORWARDED_PORT, Some(port)),
            (X_FORWARDED_HOST, forwarded.host),
        ] {
            if let (false, Some(value)) = (headers.contains_key(&name), value) {
                added.push((name, value));
            }
        }
    } else {
        if any_sent {
            for name in [FORWARDED, X_FORWARDED_FOR, X_FORWARDED_PROTO, X_FORWARDED_PORT, X_FORWARDED_HOST] {
                headers.remove(name);
            }
        }
        added.extend([
            (X_FORWARDED_FOR, forwarded.peer.ip_text),
            (X_FORWARDED_PROTO, proto),
            (X_FORWARDED_PORT, port),
        ]);
        if let Some(host) = forwarded.host {
            added.push((X_FORWARDED_HOST, host));
        }
    }
    if any_sent {
        headers.remove(X_REQUEST_ID);
    }
    added.push((X_REQUEST_ID, forwarded.request_id));
    added
}

/// The client's `X-Request-Id` when it is a sane token (1 to 200 characters of
/// `A-Z a-z 0-9 - _ .`), else a new random id.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(X_REQUEST_ID)
        .filter(|v| {
            let bytes = v.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= MAX_REQUEST_ID_LEN
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// A random UUID (version 4), the form Heroku's router uses.
pub fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = (rand::random::<u128>() & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    // 8-4-4-4-12 hex digits, most significant first: two digits a byte.
    let mut id = [b'-'; 36];
    let mut at = 0;
    for (i, byte) in n.to_be_bytes().into_iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        id[at] = HEX[usize::from(byte >> 4)];
        id[at + 1] = HEX[usize::from(byte & 0xf)];
        at += 2;
    }
    HeaderValue::from_bytes(&id).expect("hex digits and dashes are a header value")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Request;

    fn parts(target: &str, hosts: &[&str]) -> Parts {
        let mut builder = Request::get(target);
        for host in hosts {
            builder = builder.header(HOST, *host);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn hosts() {
        assert_eq!(request_host(&parts("/", &["Hello.LOCALHOST:8080"])).as_deref(), Some("hello.localhost"));
        assert_eq!(request_host(&parts("/", &["hello.localhost."])).as_deref(), Some("hello.localhost"));
        assert_eq!(
            request_host(&parts("http://Abs.Example.com:81/x", &["other"])).as_deref(),
            Some("abs.example.com")
        );
        assert_eq!(request_host(&parts("/", &["[::1]:8080"])).as_deref(), Some("[::1]"));
        assert_eq!(request_host(&parts("/", &[])), None);
        assert_eq!(request_host(&parts("/", &["a.com", "b.com"])), None);
        assert_eq!(request_host(&parts("/", &[":8080"])), None);
        assert_eq!(request_host(&parts("/", &["a.com:http"])), None);
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, X-Secret, host"),
            ("connection", "x-other"),
            ("x-secret", "1"),
            ("x-other", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic Zm9v"),
            ("proxy-connection", "keep-alive"),
            ("proxy", "http://evil"),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("host", "a.example.com"),
            ("x-kept", "1"),
        ] {
            headers.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["host", "x-kept"]);
    }

    #[test]
    fn any_one_hop_by_hop_header_goes_and_others_stay() {
        for name in
            ["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy", "proxy-x"]
        {
            let mut headers = HeaderMap::new();
            headers.insert(HOST, HeaderValue::from_static("a.example.com"));
            headers.insert(HeaderName::from_static("x-a"), HeaderValue::from_static("1"));
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static("x-a"));
            strip_hop_by_hop(&mut headers);
            let left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
            let expected: &[&str] = if name == "connection" { &["host"] } else { &["host", "x-a"] };
            assert_eq!(left, expected, "{name}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("a.example.com"));
        headers.insert(HeaderName::from_static("proxyish-but-kept"), HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 2);
    }

    #[test]
    fn forwarded_headers_replace_the_clients() {
        let mut headers = HeaderMap::new();
        headers.append(X_FORWARDED_FOR, HeaderValue::from_static("6.6.6.6"));
        headers.append(X_FORWARDED_FOR, HeaderValue::from_static("7.7.7.7"));
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        headers.insert(X_FORWARDED_HOST, HeaderValue::from_static("evil"));
        headers.insert(FORWARDED, HeaderValue::from_static("for=6.6.6.6"));
        set_forwarded(
            &mut headers,
            Forwarded {
                peer: Peer::new("127.0.0.1:40000".parse().unwrap()),
                trusted: false,
                port: 8080,
                https: false,
                host: Some(HeaderValue::from_static("Hello.localhost:8080")),
                request_id: HeaderValue::from_static("abc"),
            },
        );
        let all = |name| headers.get_all(name).iter().map(|v| v.to_str().unwrap()).collect::<Vec<_>>();
        assert_eq!(all(X_FORWARDED_FOR), ["127.0.0.1"]);
        assert_eq!(all(X_FORWARDED_PROTO), ["http"]);
        assert_eq!(all(X_FORWARDED_HOST), ["Hello.localhost:8080"]);
        assert_eq!(all(X_FORWARDED_PORT), ["8080"]);
        assert_eq!(all(X_REQUEST_ID), ["abc"]);
        assert!(headers.get(FORWARDED).is_none());
    }

    #[test]
    fn a_trusted_proxys_forwarded_headers_stay() {
        let mut headers = HeaderMap::new();
        headers.append(X_FORWARDED_FOR, HeaderValue::from_static("6.6.6.6"));
        headers.append(X_FORWARDED_FOR, HeaderValue::from_static(" 7.7.7.7, 8.8.8.8 "));
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        headers.insert(FORWARDED, HeaderValue::from_static("for=6.6.6.6"));
        let forwarded = Forwarded {
            peer: Peer::new("[::ffff:10.0.0.1]:40000".parse().unwrap()),
            trusted: true,
            port: 8080,
            https: false,
            host: Some(HeaderValue::from_static("hello.localhost")),
            request_id: HeaderValue::from_static("abc"),
        };
        set_forwarded(&mut headers, forwarded.clone());
        let all = |headers: &HeaderMap, name| {
            headers.get_all(name).iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(all(&headers, X_FORWARDED_FOR), ["6.6.6.6, 7.7.7.7, 8.8.8.8, 10.0.0.1"]);
        assert_eq!(all(&headers, X_FORWARDED_PROTO), ["https"]);
        assert_eq!(all(&headers, X_FORWARDED_HOST), ["hello.localhost"]);
        assert_eq!(all(&headers, X_FORWARDED_PORT), ["8080"]);
        assert_eq!(all(&headers, FORWARDED), ["for=6.6.6.6"]);
        // Without forwarding headers, the router's own.
        let mut bare = HeaderMap::new();
        set_forwarded(&mut bare, forwarded);
        assert_eq!(all(&bare, X_FORWARDED_FOR), ["10.0.0.1"]);
        assert_eq!(all(&bare, X_FORWARDED_PROTO), ["http"]);
    }

    #[test]
    fn request_ids() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(X_REQUEST_ID, HeaderValue::from_str(v).unwrap());
            request_id(&h)
        };
        assert_eq!(with("abc-123_x.y"), "abc-123_x.y");
        assert_eq!(with(&"a".repeat(200)), "a".repeat(200).as_str());
        for bad in ["", "a b", "a/b", "<script>", &"a".repeat(201)] {
            let id = with(bad);
            assert_ne!(id, bad);
            assert_eq!(id.len(), 36);
        }
        let id = new_request_id();
        let id = id.to_str().unwrap();
        let uuid_shape = id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        });
        assert!(id.len() == 36 && uuid_shape, "{id}");
        assert_eq!(id.as_bytes()[14], b'4', "{id}");
        assert!(matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "{id}");
        assert_ne!(new_request_id(), new_request_id());
    }
}
