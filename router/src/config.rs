//! What the router is told at start-up, by its binary (from the environment, see
//! `settings.rs`) or by a test or `paasd` directly.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use hyper::http::uri::{Authority, PathAndQuery, Scheme};
use hyper::http::{HeaderValue, Uri};
use paas_core::routes::HEARTBEAT_INTERVAL;
use paas_core::Hostname;

/// Everything the router needs to run.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The platform domain: `paas.<domain>` goes to the controller, `git.<domain>` to
    /// the builder; neither is ever looked up in the route table.
    pub domain: Hostname,
    /// The controller's REST API, for `paas.<domain>`; without it that host is a 404.
    pub controller_addr: Option<SocketAddr>,
    /// The builder's git endpoint, for `git.<domain>`; without it that host is a 404.
    pub builder_addr: Option<SocketAddr>,
    /// Where the router keeps `routes.json`, its copy of the last table (mode 0700).
    pub state_dir: PathBuf,
    /// The controller's route stream; without it the router serves the table on disk.
    pub feed: Option<FeedConfig>,
    /// How long connecting to a process may take before the router tries the next one.
    pub connect_timeout: Duration,
    /// How long a process may take to answer a request (its status line and headers)
    /// before the client gets a 504, counted from when the request's body last moved
    /// (its last byte, for an upload that keeps coming). The answer's body may take
    /// longer.
    pub response_timeout: Duration,
    /// How long a client may take to send a request's headers; on HTTP/1.1 it is also
    /// how long an idle keep-alive connection stays open.
    pub header_read_timeout: Duration,
    /// How long a client may take to finish its TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// How long the router waits for the next bytes of a request body (HTTP/1.1)
    /// before it gives up on the request (a 408 and a close). A body that keeps
    /// coming may take as long as it needs.
    pub body_read_timeout: Duration,
    /// The peers whose `X-Forwarded-*` and `Forwarded` headers are passed on (with the
    /// peer appended to `X-Forwarded-For`): proxies in front of the router.
    pub trusted_proxies: TrustedProxies,
    /// How many client connections (both listeners, WebSockets included) may be open at
    /// once; more wait in the listen backlog.
    pub max_connections: usize,
    /// The largest request body the router passes on: a longer `Content-Length` is a
    /// 413 before any process is contacted, and a longer streamed body is cut.
    pub max_body_bytes: u64,
    /// How long in-flight requests may take to finish after shutdown is asked for.
    pub shutdown_grace: Duration,
    /// The admin listener, serving Prometheus metrics at `GET /metrics` (plain
    /// HTTP/1.1, no authentication: loopback or a private network); `None` (the
    /// default) serves none. Port 0 picks a free port (see
    /// [`RouterState::metrics_addr`](crate::RouterState::metrics_addr)).
    pub metrics_addr: Option<SocketAddr>,
}

impl RouterConfig {
    /// A configuration with the default timeouts, no feed and no platform hosts.
    pub fn new(domain: Hostname, state_dir: PathBuf) -> Self {
        Self {
            domain,
            controller_addr: None,
            builder_addr: None,
            state_dir,
            feed: None,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            trusted_proxies: TrustedProxies::default(),
            max_connections: 10_000,
            max_body_bytes: 100 << 20,
            shutdown_grace: Duration::from_secs(10),
            metrics_addr: None,
        }
    }
}

/// Where and how the router follows the controller's route stream.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// The stream's URL.
    pub url: FeedUrl,
    /// The bearer token to present, if the controller asks for one.
    pub token: Option<FeedToken>,
    /// The first wait before reconnecting; it doubles after each failure.
    pub backoff_min: Duration,
    /// The longest wait before reconnecting.
    pub backoff_max: Duration,
    /// Silence after which the connection counts as dead: a few heartbeat intervals.
    pub idle_timeout: Duration,
}

impl FeedConfig {
    /// A feed with the default backoff (0.5 s doubling to 30 s, with jitter) and idle
    /// timeout (three heartbeat intervals).
    pub fn new(url: FeedUrl, token: Option<FeedToken>) -> Self {
        Self {
            url,
            token,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            idle_timeout: HEARTBEAT_INTERVAL * 3,
        }
    }
}

/// Why a configuration value is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The feed URL is not an `http://host[:port]/path` URL.
    #[error("invalid feed URL {url:?}: {reason}")]
    FeedUrl {
        /// The URL as given (it holds no credentials: those are refused).
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The token cannot travel in an HTTP header.
    #[error("invalid feed token: must be 1 to 4096 visible ASCII characters")]
    FeedToken,
    /// An entry of the trusted proxies is not an IP address or a CIDR block.
    #[error("invalid trusted proxy {entry:?}: expected an IP address or a CIDR block such as 10.0.0.0/8")]
    TrustedProxy {
        /// The entry as given (truncated).
        entry: String,
    },
}

/// The peers trusted to tell the router who the client is: a list of IP addresses and
/// CIDR blocks. Empty (the default) trusts no one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

/// One block of addresses: an address and how many leading bits of it count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    fn parse(entry: &str) -> Option<Self> {
        let (addr, bits) = match entry.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits)),
            None => (entry, None),
        };
        let given: IpAddr = addr.parse().ok()?;
        let max = if given.is_ipv4() { 32 } else { 128 };
        let bits: u8 = match bits {
            Some(bits) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => {
                bits.parse().ok()?
            }
            Some(_) => return None,
            None => max,
        };
        if bits > max {
            return None;
        }
        // `::ffff:a.b.c.d/n` is the IPv4 block `a.b.c.d/(n - 96)`.
        let addr = given.to_canonical();
        let bits = match (given, addr) {
            (IpAddr::V6(_), IpAddr::V4(_)) => bits.checked_sub(96)?,
            _ => bits,
        };
        Some(Self { addr, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(u128::from(u32::from(net)) << 96, u128::from(u32::from(ip)) << 96, self.bits)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(u128::from(net), u128::from(ip), self.bits),
            _ => false,
        }
    }
}

/// Whether `a` and `b` agree on their first `bits` bits.
fn prefix_eq(a: u128, b: u128, bits: u8) -> bool {
    bits == 0 || (a ^ b) >> (128 - u32::from(bits)) == 0
}

impl TrustedProxies {
    /// Parses a comma-separated list of IP addresses and CIDR blocks
    /// (`10.0.0.0/8, 192.168.1.7, fd00::/8`); blank entries are ignored.
    pub fn parse(list: &str) -> Result<Self, ConfigError> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                Cidr::parse(entry)
                    .ok_or_else(|| ConfigError::TrustedProxy { entry: entry.chars().take(100).collect() })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `peer` is trusted (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, peer: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(peer))
    }
}

/// The URL of the route stream: `http://host[:port]/path[?query]`, without credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedUrl {
    authority: Authority,
    path_and_query: PathAndQuery,
}

impl FeedUrl {
    /// Parses a URL. Only `http` is supported for now; the watch stream carries no
    /// secret but the token, and the controller is on the same machine or network.
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let fail = |reason| ConfigError::FeedUrl { url: url.chars().take(200).collect(), reason };
        if url.contains('@') {
            return Err(ConfigError::FeedUrl {
                url: "(hidden: it may hold credentials)".into(),
                reason: "must not hold credentials; give the token separately",
            });
        }
        let uri: Uri = url.parse().map_err(|_| fail("not a URL"))?;
        if uri.scheme() != Some(&Scheme::HTTP) {
            return Err(fail("must start with http://"));
        }
        let authority = uri.authority().cloned().ok_or_else(|| fail("has no host"))?;
        if authority.host().is_empty() {
            return Err(fail("has no host"));
        }
        let path_and_query = uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        Ok(Self { authority, path_and_query })
    }

    /// `host:port` to connect to.
    pub(crate) fn connect_to(&self) -> (String, u16) {
        let host = self.authority.host().trim_start_matches('[').trim_end_matches(']');
        (host.to_owned(), self.authority.port_u16().unwrap_or(80))
    }

    /// The `Host` header to send.
    pub(crate) fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The request target to send.
    pub(crate) fn path_and_query(&self) -> &PathAndQuery {
        &self.path_and_query
    }
}

impl fmt::Display for FeedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.path_and_query)
    }
}

/// The bearer token the router presents to the controller. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct FeedToken(HeaderValue);

impl FeedToken {
    /// Checks that the token can travel as `Authorization: Bearer <token>`.
    pub fn parse(token: &str) -> Result<Self, ConfigError> {
        if token.is_empty() || token.len() > 4096 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::FeedToken);
        }
        let mut value =
            HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| ConfigError::FeedToken)?;
        value.set_sensitive(true);
        Ok(Self(value))
    }

    /// The `Authorization` header's value.
    pub(crate) fn header(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for FeedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FeedToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_urls() {
        let url = FeedUrl::parse("http://127.0.0.1:7700/v1/internal/routes/watch").unwrap();
        assert_eq!(url.connect_to(), ("127.0.0.1".to_owned(), 7700));
        assert_eq!(url.path_and_query().as_str(), "/v1/internal/routes/watch");
        assert_eq!(url.to_string(), "http://127.0.0.1:7700/v1/internal/routes/watch");
        let url = FeedUrl::parse("http://[::1]/watch?x=1").unwrap();
        assert_eq!(url.connect_to(), ("::1".to_owned(), 80));
        assert_eq!(url.authority().as_str(), "[::1]");
        assert_eq!(FeedUrl::parse("http://controller").unwrap().path_and_query().as_str(), "/");
        for bad in ["", "controller:7700", "https://controller/watch", "ftp://x/", "http:///watch", "/watch"]
        {
            assert!(FeedUrl::parse(bad).is_err(), "{bad}");
        }
        let err = FeedUrl::parse("http://user:hunter2@controller/watch").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn trusted_proxies() {
        let trusted =
            TrustedProxies::parse(" 127.0.0.0/8, 10.1.2.3 ,fd00::/8,, ::ffff:192.168.0.0/112").unwrap();
        for ip in ["127.0.0.1", "127.255.0.9", "10.1.2.3", "fd12::1", "::ffff:127.0.0.1", "192.168.3.4"] {
            assert!(trusted.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["128.0.0.1", "10.1.2.4", "fe80::1", "::1", "192.169.0.1"] {
            assert!(!trusted.contains(ip.parse().unwrap()), "{ip}");
        }
        assert!(TrustedProxies::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(!TrustedProxies::parse("0.0.0.0/0").unwrap().contains("::2".parse().unwrap()));
        assert!(TrustedProxies::parse("::/0").unwrap().contains("::2".parse().unwrap()));
        assert_eq!(TrustedProxies::parse("").unwrap(), TrustedProxies::default());
        assert!(!TrustedProxies::default().contains("127.0.0.1".parse().unwrap()));
        for bad in
            ["localhost", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/+8", "10.0.0/8", "1.2.3.4/8/8"]
        {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn a_block_holds_exactly_the_addresses_that_share_its_prefix(net: u32, ip: u32, bits in 0u8..=32) {
            let cidr = Cidr::parse(&format!("{}/{bits}", std::net::Ipv4Addr::from(net))).unwrap();
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            proptest::prop_assert_eq!(cidr.contains(std::net::Ipv4Addr::from(ip).into()), net & mask == ip & mask);
        }
    }

    #[test]
    fn tokens_are_checked_and_never_shown() {
        let token = FeedToken::parse("paas_s3cret").unwrap();
        assert_eq!(token.header().to_str().unwrap(), "Bearer paas_s3cret");
        assert!(!format!("{token:?}").contains("s3cret"));
        for bad in ["", "a b", "tab\there", "é", &"x".repeat(4097)] {
            assert!(FeedToken::parse(bad).is_err(), "{bad:?}");
        }
    }
}
