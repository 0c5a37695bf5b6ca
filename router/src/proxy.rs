//! One request through the router: find the route of its host, take the next process
//! in turn, rewrite the headers, forward it over a pooled keep-alive connection, and
//! pass the answer back.
//!
//! The router's own answers are small pages that name no app, process or address:
//! 400 without a usable `Host`, 404 for an unknown host, 503 for an app without `web`
//! processes, 502 when no process could be reached (after trying the next one once),
//! 504 when the process takes longer than the response timeout to answer, counted from
//! when the request's body last moved: an upload that keeps coming may take as long as
//! it needs (the body read timeout bounds a client that stops), and the process has the
//! whole timeout after its last byte.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
use hyper::http::request::Parts;
use hyper::http::uri::PathAndQuery;
use hyper::{Request, Response, StatusCode, Uri, Version};

use crate::access::{AccessLog, RequestLine};
use crate::client_body::ClientBody;
use crate::error::ErrorChain;
use crate::headers::{self, Forwarded, Peer};
use crate::https_policy;
use crate::limits;
use crate::metrics::{Metrics, Served, UpstreamError};
use crate::request_body::{BodyFault, BodySlot};
use crate::sleeps::Sleeps;
use crate::table::{Entry, Routes, Target, Upstream};
use crate::tasks::TaskGroup;
use crate::upgrade::{self, ClientUpgrade};
use crate::upstream::{Pool, UpstreamBody};
use crate::{RouterConfig, TrustedProxies};

/// The body of every response the router sends.
pub(crate) type ProxyBody = BoxBody<Bytes, std::io::Error>;

/// The proxy: the routes, a connection pool to the processes, and what it tells them.
pub(crate) struct Proxy {
    routes: Arc<Routes>,
    /// The keep-alive connections to the processes.
    pool: Arc<Pool>,
    response_timeout: Duration,
    /// The timers of response timeouts.
    response_timers: Arc<Sleeps>,
    /// The largest request body passed on.
    max_body_bytes: u64,
    /// The WebSockets (and other upgraded connections) being carried.
    pub tunnels: TaskGroup,
    access: AccessLog,
    /// The HTTPS listener's port, where `tls:enforce` redirects plain requests.
    https_port: Option<u16>,
    /// The peers whose forwarding headers are kept.
    trusted_proxies: TrustedProxies,
    /// Where every answer is counted.
    metrics: Arc<Metrics>,
}

impl Proxy {
    /// The proxy of `routes`; its connection pool's sweeper runs on a task of its own
    /// (so this needs a tokio runtime) until the proxy is dropped.
    pub fn new(routes: Arc<Routes>, config: &RouterConfig, access: AccessLog) -> Self {
        let (pool, sweeper) = Pool::new(config.connect_timeout);
        tokio::spawn(sweeper);
        Self {
            routes,
            pool,
            response_timeout: config.response_timeout,
            response_timers: Arc::default(),
            max_body_bytes: config.max_body_bytes,
            tunnels: TaskGroup::default(),
            access,
            https_port: None,
            trusted_proxies: config.trusted_proxies.clone(),
            metrics: Arc::new(Metrics::new(config.max_connections)),
        }
    }

    /// Counts answers in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Redirects plain requests of `tls:enforce` apps to HTTPS on `port`.
    pub fn with_https_port(mut self, port: Option<u16>) -> Self {
        self.https_port = port;
        self
    }

    /// Answers one request from `peer`, which came in on `listener`. Never fails:
    /// every failure is a response.
    ///
    /// An HTTP/1 request that names an `Upgrade` and is not switched closes its
    /// connection: the HTTP/1.1 server reads no more requests after such a request
    /// (`http1`).
    pub async fn handle(
        &self,
        req: Request<ClientBody>,
        peer: Peer,
        listener: Listener,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let started = Instant::now();
        let asks_upgrade = req.version() < Version::HTTP_2 && req.headers().contains_key(UPGRADE);
        let mut served = Served::default();
        let Ok(response) = self.serve(req, &peer, listener, started, &mut served).await;
        let response = match asks_upgrade && response.status() != StatusCode::SWITCHING_PROTOCOLS {
            true => closing(response),
            false => response,
        };
        self.metrics.record(served, response.status(), started.elapsed());
        Ok(response)
    }

    async fn serve(
        &self,
        mut req: Request<ClientBody>,
        peer: &Peer,
        listener: Listener,
        started: Instant,
        served: &mut Served,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let client_upgrade = ClientUpgrade::take(&mut req);
        let arrived = std::time::SystemTime::now();
        let (mut parts, body) = req.into_parts();
        if let Err(refusal) = limits::check_head(&parts, self.max_body_bytes) {
            tracing::debug!(peer = %peer.addr(), ?refusal, "refused a request");
            return Ok(closing(page(refusal.status())));
        }
        let Some(host) = headers::request_host(&parts) else {
            return Ok(page(StatusCode::BAD_REQUEST));
        };
        let table = self.routes.load();
        let Some(mut entry) = table.find(&host) else {
            tracing::debug!(target: "paas_router::access", method = %parts.method, %host, "no route");
            return Ok(page(StatusCode::NOT_FOUND));
        };
        // The controller answers ACME HTTP-01 challenges of app hosts (`paas certs:auto`),
        // on plain HTTP as the protocol has them, before any redirect to HTTPS.
        if !listener.tls && matches!(entry.target, Target::App(_)) && is_acme_challenge(parts.uri.path()) {
            if let Some(controller) = table.controller() {
                entry = controller;
            }
        }
        let redirect = match entry.tls_enforce && !listener.tls {
            true => self
                .https_port
                .and_then(|port| https_policy::https_location(&host, port, parts.uri.path_and_query())),
            false => None,
        };
        // Requests for the platform's own hosts (controller, builder) get no access line.
        let mut record = match &entry.target {
            Target::App(app) => Some(RequestLine {
                at: arrived
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
                app: app.clone(),
                method: parts.method.clone(),
                host,
                path: parts.uri.path_and_query().cloned(),
                status: 0,
                bytes: 0,
                service_us: 0,
                upstream: None,
                request_id: None,
                client: peer.clone(),
            }),
            _ => None,
        };
        if let Some(location) = redirect {
            return Ok(self.answer(https_policy::redirect(location), record, started, served));
        }
        let Some(first) = entry.pick() else {
            return Ok(self.answer(page(StatusCode::SERVICE_UNAVAILABLE), record, started, served));
        };
        let Some(path_and_query) = origin_form(&parts.uri) else {
            return Ok(self.answer(page(StatusCode::BAD_REQUEST), record, started, served));
        };
        let (request_id, forwarding) = self.rewrite_headers(&mut parts, peer, listener);
        if let Some(client_upgrade) = &client_upgrade {
            upgrade::set_upgrade_headers(&mut parts.headers, client_upgrade.protocol.clone());
        }
        let (mut response, upstream) = self
            .forward(
                entry,
                first,
                parts,
                &forwarding,
                &path_and_query,
                body,
                client_upgrade,
                peer.addr(),
                served,
            )
            .await;
        if entry.tls_enforce && listener.tls {
            response = https_policy::with_hsts(response);
        }
        if let Some(record) = &mut record {
            record.request_id = Some(request_id);
            record.upstream = Some(upstream.process.clone());
        }
        Ok(self.answer(response, record, started, served))
    }

    /// The response, counted into its access line when the request has one.
    fn answer(
        &self,
        response: Response<ProxyBody>,
        record: Option<RequestLine>,
        started: Instant,
        served: &mut Served,
    ) -> Response<ProxyBody> {
        match record {
            Some(record) => {
                served.mark(|| self.metrics.for_app(&record.app));
                self.access.wrap(response, record, started)
            }
            None => response,
        }
    }

    /// Makes the headers the process gets; returns the request's id and the forwarding
    /// headers to send after the others.
    fn rewrite_headers(
        &self,
        parts: &mut Parts,
        peer: &Peer,
        listener: Listener,
    ) -> (HeaderValue, Vec<(HeaderName, HeaderValue)>) {
        let request_id = headers::request_id(&parts.headers);
        if !parts.headers.contains_key(HOST) {
            // An absolute-form request may name its host only in the target; the
            // process gets it as `Host`, as from any other client.
            if let Some(value) = parts.uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()) {
                parts.headers.insert(HOST, value);
            }
        }
        let host = parts.headers.get(HOST).cloned();
        headers::strip_hop_by_hop(&mut parts.headers);
        let forwarded = Forwarded {
            trusted: self.trusted_proxies.contains(peer.ip()),
            peer: peer.clone(),
            port: listener.port,
            https: listener.tls,
            host,
            request_id: request_id.clone(),
        };
        let added = headers::forwarding_headers(&mut parts.headers, forwarded);
        (request_id, added)
    }

    /// Sends the request to the process whose turn it is, or to the next one when
    /// that one cannot be reached; returns the answer and who gave it. When the client
    /// asked for an upgrade and the process switched protocols, the two connections
    /// are spliced once the `101` is sent.
    #[allow(clippy::too_many_arguments)]
    async fn forward<'e>(
        &self,
        entry: &'e Entry,
        first: usize,
        mut parts: Parts,
        forwarding: &[(HeaderName, HeaderValue)],
        path_and_query: &PathAndQuery,
        body: ClientBody,
        client_upgrade: Option<ClientUpgrade>,
        peer: SocketAddr,
        served: &mut Served,
    ) -> (Response<ProxyBody>, &'e Upstream) {
        let body = BodySlot::new(body, self.max_body_bytes);
        let series = self.metrics.for_target(&entry.target);
        let count = entry.upstreams.len();
        let mut upstream = &entry.upstreams[first];
        let mut outcome = Outcome::Unreachable;
        let attempts = count.min(2);
        for attempt in 0..attempts {
            upstream = &entry.upstreams[(first + attempt) % count];
            let mut forward = Request::new(body.attempt());
            *forward.method_mut() = parts.method.clone();
            *forward.version_mut() = Version::HTTP_11;
            // The last attempt takes the headers; only an earlier one needs a copy.
            *forward.headers_mut() = match attempt + 1 == attempts {
                true => std::mem::take(&mut parts.headers),
                false => parts.headers.clone(),
            };
            *forward.uri_mut() = Uri::from(path_and_query.clone());
            let answered = tokio::select! {
                answered = self.pool.send(upstream.addr, forward, forwarding) => Ok(answered),
                () = body.overdue(self.response_timeout, &self.response_timers) => Err(()),
            };
            outcome = match answered {
                Ok(Ok(response)) => Outcome::Answered(response),
                Ok(Err(e)) if e.is_connect() && body.untouched() => {
                    series.upstream_error(UpstreamError::Connect);
                    tracing::warn!(
                        app = %entry.target, process = %upstream.process, error = %ErrorChain(&e),
                        "cannot reach the process"
                    );
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::warn!(
                        app = %entry.target, process = %upstream.process, error = %ErrorChain(&e),
                        "the process failed to answer"
                    );
                    Outcome::Failed
                }
                Err(_) => Outcome::TimedOut,
            };
            break;
        }
        match &outcome {
            Outcome::Failed if body.fault().is_none() => series.upstream_error(UpstreamError::Failed),
            Outcome::TimedOut => series.upstream_error(UpstreamError::Timeout),
            _ => {}
        }
        let response = match outcome {
            Outcome::Answered(response) => match (upgrade::switched(&response), client_upgrade) {
                (Some(protocol), Some(client)) => {
                    let (mut parts, body) = response.into_parts();
                    if let Some(tunnel) = body.into_tunnel() {
                        let what = format!("{} {}", entry.target, upstream.process);
                        upgrade::splice(&self.tunnels, client.connection, tunnel, peer, what);
                    }
                    headers::strip_hop_by_hop(&mut parts.headers);
                    upgrade::set_upgrade_headers(&mut parts.headers, protocol);
                    Response::from_parts(
                        parts,
                        http_body_util::Empty::new().map_err(|never| match never {}).boxed(),
                    )
                }
                _ if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
                    series.upstream_error(UpstreamError::Failed);
                    tracing::warn!(
                        app = %entry.target, process = %upstream.process,
                        "the process switched protocols without being asked to"
                    );
                    page(StatusCode::BAD_GATEWAY)
                }
                _ => {
                    let (mut parts, body) = response.into_parts();
                    headers::strip_hop_by_hop(&mut parts.headers);
                    Response::from_parts(parts, body.boxed())
                }
            },
            Outcome::Failed if body.fault() == Some(BodyFault::Malformed) => {
                closing(page(StatusCode::BAD_REQUEST))
            }
            Outcome::Failed if body.fault() == Some(BodyFault::TooLarge) => {
                closing(page(StatusCode::PAYLOAD_TOO_LARGE))
            }
            Outcome::Failed if body.fault() == Some(BodyFault::Stalled) => {
                closing(page(StatusCode::REQUEST_TIMEOUT))
            }
            Outcome::Unreachable | Outcome::Failed => page(StatusCode::BAD_GATEWAY),
            Outcome::TimedOut => page(StatusCode::GATEWAY_TIMEOUT),
        };
        served.mark(|| series);
        (response, upstream)
    }
}

/// What a request tells the process about the listener it came in on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Listener {
    /// The listener's port, sent as `X-Forwarded-Port`.
    pub port: u16,
    /// Whether the client spoke TLS (`X-Forwarded-Proto: https`).
    pub tls: bool,
}

// The answer is moved a few times and then boxed (as `ProxyBody`): cheaper than a box
// of its own.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Answered(Response<UpstreamBody>),
    /// Not connected; the request was not sent.
    Unreachable,
    /// Connected, then failed; the request may have been sent, so it is not repeated.
    Failed,
    TimedOut,
}

/// The path of ACME HTTP-01 challenges (RFC 8555 section 8.3).
const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Whether `path` asks for an ACME HTTP-01 challenge's answer.
fn is_acme_challenge(path: &str) -> bool {
    path.strip_prefix(ACME_CHALLENGE_PREFIX).is_some_and(|token| !token.is_empty() && !token.contains('/'))
}

/// The request target to send on: the path and query of an origin-form or
/// absolute-form target. `None` for `*` and authority-form (`CONNECT`) targets.
fn origin_form(uri: &Uri) -> Option<PathAndQuery> {
    let pq = uri.path_and_query()?;
    pq.as_str().starts_with('/').then(|| pq.clone())
}

/// `response`, telling the client that the connection closes after it.
pub(crate) fn closing(mut response: Response<ProxyBody>) -> Response<ProxyBody> {
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A response the router writes itself: a short page naming no internals.
pub(crate) fn page(status: StatusCode) -> Response<ProxyBody> {
    let (title, text) = match status {
        StatusCode::BAD_REQUEST => {
            ("Bad request", "The request is malformed, or does not say which site it is for.")
        }
        StatusCode::NOT_FOUND => ("No such app", "There is no app at this address."),
        StatusCode::SERVICE_UNAVAILABLE => ("App not available", "This app has no web processes running."),
        StatusCode::BAD_GATEWAY => ("Bad gateway", "The app did not answer. Try again in a moment."),
        StatusCode::GATEWAY_TIMEOUT => ("Gateway timeout", "The app took too long to answer."),
        StatusCode::URI_TOO_LONG => ("URI too long", "The request's address is too long."),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ("Headers too large", "The request's headers are too large or too many.")
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("Payload too large", "The request's body is too large."),
        StatusCode::REQUEST_TIMEOUT => ("Request timeout", "The request's body stopped arriving."),
        _ => ("Error", "The request could not be served."),
    };
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1><p>{text}</p></body></html>\n"
    );
    let mut response = Response::new(Full::new(Bytes::from(html)).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_challenge_token_path_is_an_acme_challenge() {
        assert!(is_acme_challenge("/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"));
        for path in [
            "/.well-known/acme-challenge/",
            "/.well-known/acme-challenge",
            "/.well-known/acme-challenge/a/b",
            "/.well-known/other/x",
            "/x/.well-known/acme-challenge/t",
            "/",
        ] {
            assert!(!is_acme_challenge(path), "{path}");
        }
    }
}
