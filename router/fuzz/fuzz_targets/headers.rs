//! Rewrites arbitrary request header maps as the router does before forwarding
//! (`strip_hop_by_hop`, then `set_forwarded`, trusted peer or not) and checks what the
//! process would get: no hop-by-hop header, exactly one `X-Forwarded-For` (ending in
//! the peer) and one `X-Request-Id`, no CR, LF or NUL in any value, and from an
//! untrusted peer none of its own forwarding headers. Also `normalise_host` on the
//! names it is given.
#![no_main]

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use arbitrary::Arbitrary;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, FORWARDED, HOST};
use libfuzzer_sys::fuzz_target;
use paas_router::headers::{self, Forwarded, X_FORWARDED_FOR, X_FORWARDED_HOST, X_REQUEST_ID};

/// Names worth hitting often: the ones the rewrite cares about.
const NAMES: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "proxy",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "forwarded",
    "x-request-id",
    "x-secret",
];

#[derive(Debug, Arbitrary)]
struct Input {
    headers: Vec<(u8, Vec<u8>, Vec<u8>)>,
    peer: [u8; 16],
    trusted: bool,
    https: bool,
    port: u16,
}

fn hop_by_hop(name: &str) -> bool {
    matches!(name, "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade")
        || name == "proxy"
        || name.starts_with("proxy-")
}

fuzz_target!(|input: Input| {
    let mut map = HeaderMap::new();
    for (pick, name, value) in &input.headers {
        let name = match NAMES.get(usize::from(*pick)) {
            Some(known) => HeaderName::from_static(known),
            None => match HeaderName::from_bytes(name) {
                Ok(name) => name,
                Err(_) => continue,
            },
        };
        let Ok(value) = HeaderValue::from_bytes(value) else { continue };
        map.append(name, value);
    }
    if let Some(host) = map.get(HOST).and_then(|h| h.to_str().ok()) {
        if let Some(host) = headers::normalise_host(host) {
            assert!(!host.is_empty());
            assert_eq!(host, host.to_ascii_lowercase());
        }
    }
    // What `Connection` names goes too (except `Host`).
    let named: Vec<String> = map
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|n| n.trim().to_ascii_lowercase()).collect::<Vec<_>>())
        .filter(|n| n != "host" && HeaderName::from_bytes(n.as_bytes()).is_ok())
        .collect();
    let request_id = headers::request_id(&map);
    let host = map.get(HOST).cloned();
    headers::strip_hop_by_hop(&mut map);
    for name in map.keys() {
        assert!(!hop_by_hop(name.as_str()), "{name} survived");
        assert!(!named.iter().any(|n| n == name.as_str()), "{name}, named by Connection, survived");
    }
    let peer = IpAddr::V6(Ipv6Addr::from(input.peer));
    let forwarded = Forwarded {
        peer: headers::Peer::new(SocketAddr::new(peer, 0)),
        trusted: input.trusted,
        port: input.port,
        https: input.https,
        host: host.clone(),
        request_id: request_id.clone(),
    };
    headers::set_forwarded(&mut map, forwarded);
    let xff: Vec<_> = map.get_all(X_FORWARDED_FOR).iter().collect();
    assert_eq!(xff.len(), 1);
    let peer = peer.to_canonical().to_string();
    assert!(xff[0].as_bytes().ends_with(peer.as_bytes()));
    assert_eq!(map.get_all(X_REQUEST_ID).iter().count(), 1);
    assert_eq!(map.get(X_REQUEST_ID), Some(&request_id));
    if !input.trusted {
        assert_eq!(xff[0].as_bytes(), peer.as_bytes());
        assert!(map.get(FORWARDED).is_none());
        assert_eq!(map.get(X_FORWARDED_HOST), host.as_ref());
    }
    for (_, value) in &map {
        assert!(!value.as_bytes().iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
    }
});
