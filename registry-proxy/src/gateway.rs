//! The per-node gateway on `127.0.0.1:<port>`: Docker engines push and pull through it,
//! and since Docker allows plain HTTP to loopback registries, no insecure-registry
//! setting is needed.
//!
//! Requests for [`TOKEN_PATH`] go to the token endpoint and everything else to the
//! registry, with the client's `Host` kept (so the registry's upload URLs name the
//! gateway). The `realm` of the registry's `WWW-Authenticate` challenges is rewritten to
//! the gateway's own token path, so a client only ever talks to the gateway.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONNECTION, HOST, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::error::ErrorChain;
use crate::server::{error, ResponseBody};
use crate::token_server::TOKEN_PATH;

/// How long an idle pooled connection upstream is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long connecting upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Hop-by-hop headers, which are never forwarded (RFC 9110, 7.6.1).
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-authenticate", "proxy-connection", "te", "trailer", "upgrade"];

/// Where the gateway sends requests.
#[derive(Debug, Clone, Copy)]
pub struct GatewayConfig {
    /// The registry.
    pub registry: SocketAddr,
    /// The token endpoint.
    pub token: SocketAddr,
}

/// The gateway: its upstreams and a connection pool to them.
#[derive(Clone)]
pub struct Gateway {
    config: GatewayConfig,
    client: Client<HttpConnector, Incoming>,
}

impl Gateway {
    /// A gateway to the upstreams of `config`.
    pub fn new(config: GatewayConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self { config, client }
    }

    /// Forwards one request. Never fails: every failure is a response.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<ResponseBody> {
        let (mut parts, body) = req.into_parts();
        let upstream = if parts.uri.path() == TOKEN_PATH { self.config.token } else { self.config.registry };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(uri) = Uri::try_from(format!("http://{upstream}{path}")) else {
            return error(StatusCode::BAD_REQUEST, "UNSUPPORTED", "bad request target");
        };
        let host = parts.headers.get(HOST).cloned();
        strip_hop_by_hop(&mut parts.headers);
        parts.uri = uri;
        let method = parts.method.clone();
        let response = match self.client.request(Request::from_parts(parts, body)).await {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(%upstream, error = %ErrorChain(&e), "the registry cannot be reached");
                return error(StatusCode::BAD_GATEWAY, "UNAVAILABLE", "the registry cannot be reached");
            }
        };
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        if let Some(host) = host.as_ref().and_then(|h| h.to_str().ok()) {
            let realm = format!("http://{host}{TOKEN_PATH}");
            let challenges: Vec<HeaderValue> =
                parts.headers.get_all(WWW_AUTHENTICATE).iter().cloned().collect();
            if !challenges.is_empty() {
                parts.headers.remove(WWW_AUTHENTICATE);
                for challenge in challenges {
                    let rewritten = challenge
                        .to_str()
                        .ok()
                        .map(|c| rewrite_realm(c, &realm))
                        .and_then(|c| HeaderValue::from_str(&c).ok())
                        .unwrap_or(challenge);
                    parts.headers.append(WWW_AUTHENTICATE, rewritten);
                }
            }
        }
        tracing::debug!(%method, status = parts.status.as_u16(), "forwarded");
        Response::from_parts(parts, body.boxed())
    }
}

/// Removes hop-by-hop headers, including those named by `Connection`.
fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Replaces the `realm` parameter of a `Bearer` challenge; other challenges are kept.
pub fn rewrite_realm(challenge: &str, realm: &str) -> String {
    let Some((scheme, params)) = challenge.split_once(' ') else {
        return challenge.to_owned();
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return challenge.to_owned();
    }
    let Some(start) = params.find("realm=\"") else {
        return challenge.to_owned();
    };
    let value_start = start + "realm=\"".len();
    let Some(len) = params[value_start..].find('"') else {
        return challenge.to_owned();
    };
    format!("{scheme} {}realm=\"{realm}\"{}", &params[..start], &params[value_start + len + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_the_bearer_realm() {
        let challenge =
            r#"Bearer realm="http://127.0.0.1:5002/token",service="paas-registry",scope="repository:a:pull""#;
        assert_eq!(
            rewrite_realm(challenge, "http://127.0.0.1:5000/token"),
            r#"Bearer realm="http://127.0.0.1:5000/token",service="paas-registry",scope="repository:a:pull""#
        );
        assert_eq!(rewrite_realm(r#"Basic realm="x""#, "y"), r#"Basic realm="x""#);
        assert_eq!(rewrite_realm(r#"Bearer realm="unterminated"#, "y"), r#"Bearer realm="unterminated"#);
        assert_eq!(rewrite_realm("Bearer", "y"), "Bearer");
    }
}
