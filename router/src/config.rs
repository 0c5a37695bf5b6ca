//! What the router is told at start-up, by its binary (from the environment, see
//! `settings.rs`) or by a test or `paasd` directly.

use std::fmt;
use std::net::SocketAddr;
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
    /// before the client gets a 504. The body may take longer.
    pub response_timeout: Duration,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long in-flight requests may take to finish after shutdown is asked for.
    pub shutdown_grace: Duration,
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
            shutdown_grace: Duration::from_secs(10),
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
    fn tokens_are_checked_and_never_shown() {
        let token = FeedToken::parse("paas_s3cret").unwrap();
        assert_eq!(token.header().to_str().unwrap(), "Bearer paas_s3cret");
        assert!(!format!("{token:?}").contains("s3cret"));
        for bad in ["", "a b", "tab\there", "é", &"x".repeat(4097)] {
            assert!(FeedToken::parse(bad).is_err(), "{bad:?}");
        }
    }
}
