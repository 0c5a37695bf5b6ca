//! One request through the router: find the route of its host, take the next process
//! in turn, rewrite the headers, forward it over a pooled keep-alive connection, and
//! pass the answer back.
//!
//! The router's own answers are small pages that name no app, process or address:
//! 400 without a usable `Host`, 404 for an unknown host, 503 for an app without `web`
//! processes, 502 when no process could be reached (after trying the next one once),
//! 504 when the process takes longer than the response timeout to answer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, HOST};
use hyper::http::request::Parts;
use hyper::http::uri::{PathAndQuery, Scheme};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::error::ErrorChain;
use crate::headers::{self, Forwarded};
use crate::table::{Entry, Routes, Upstream};
use crate::RouterConfig;

/// The body of every response the router sends.
pub(crate) type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// How long an idle pooled connection to a process is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The proxy: the routes, a connection pool to the processes, and what it tells them.
pub(crate) struct Proxy {
    routes: Arc<Routes>,
    client: Client<HttpConnector, RetryBody>,
    /// The listener's port, sent as `X-Forwarded-Port`.
    port: u16,
    response_timeout: Duration,
}

impl Proxy {
    pub fn new(routes: Arc<Routes>, config: &RouterConfig, port: u16) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self { routes, client, port, response_timeout: config.response_timeout }
    }

    /// Answers one request from `peer`. Never fails: every failure is a response.
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let started = Instant::now();
        let (mut parts, body) = req.into_parts();
        let Some(host) = headers::request_host(&parts) else {
            return Ok(page(StatusCode::BAD_REQUEST));
        };
        let method = parts.method.clone();
        let table = self.routes.load();
        let Some(entry) = table.find(&host) else {
            tracing::debug!(target: "paas_router::access", %method, %host, "no route");
            return Ok(page(StatusCode::NOT_FOUND));
        };
        let Some(first) = entry.pick() else {
            tracing::info!(target: "paas_router::access", %method, %host, app = %entry.target, "no web process");
            return Ok(page(StatusCode::SERVICE_UNAVAILABLE));
        };
        let Some(path_and_query) = origin_form(&parts.uri) else {
            return Ok(page(StatusCode::BAD_REQUEST));
        };
        let request_id = self.rewrite_headers(&mut parts, peer);
        let (response, upstream) = self.forward(entry, first, &parts, &path_and_query, body).await;
        tracing::info!(
            target: "paas_router::access",
            %method,
            %host,
            path = path_and_query.path(),
            status = response.status().as_u16(),
            app = %entry.target,
            process = %upstream.process,
            request_id = request_id.to_str().unwrap_or_default(),
            ms = started.elapsed().as_millis() as u64,
        );
        Ok(response)
    }

    /// Makes the headers the process gets; returns the request's id.
    fn rewrite_headers(&self, parts: &mut Parts, peer: SocketAddr) -> HeaderValue {
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
        let forwarded =
            Forwarded { client_ip: peer.ip(), port: self.port, host, request_id: request_id.clone() };
        headers::set_forwarded(&mut parts.headers, forwarded);
        request_id
    }

    /// Sends the request to the process whose turn it is, or to the next one when
    /// that one cannot be reached; returns the answer and who gave it.
    async fn forward<'e>(
        &self,
        entry: &'e Entry,
        first: usize,
        parts: &Parts,
        path_and_query: &PathAndQuery,
        body: Incoming,
    ) -> (Response<ProxyBody>, &'e Upstream) {
        let body = BodySlot::new(body);
        let count = entry.upstreams.len();
        let mut upstream = &entry.upstreams[first];
        let mut outcome = Outcome::Unreachable;
        for attempt in 0..count.min(2) {
            upstream = &entry.upstreams[(first + attempt) % count];
            let mut forward = Request::new(body.attempt());
            *forward.method_mut() = parts.method.clone();
            *forward.version_mut() = Version::HTTP_11;
            *forward.headers_mut() = parts.headers.clone();
            *forward.uri_mut() = Uri::builder()
                .scheme(Scheme::HTTP)
                .authority(upstream.authority.clone())
                .path_and_query(path_and_query.clone())
                .build()
                .expect("an authority and a path make a URI");
            outcome = match tokio::time::timeout(self.response_timeout, self.client.request(forward)).await {
                Ok(Ok(response)) => Outcome::Answered(response),
                Ok(Err(e)) if e.is_connect() && body.untouched() => {
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
        let response = match outcome {
            Outcome::Answered(response) => {
                let (mut parts, body) = response.into_parts();
                headers::strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, body.boxed())
            }
            Outcome::Unreachable | Outcome::Failed => page(StatusCode::BAD_GATEWAY),
            Outcome::TimedOut => page(StatusCode::GATEWAY_TIMEOUT),
        };
        (response, upstream)
    }
}

enum Outcome {
    Answered(Response<Incoming>),
    /// Not connected; the request was not sent.
    Unreachable,
    /// Connected, then failed; the request may have been sent, so it is not repeated.
    Failed,
    TimedOut,
}

/// The request target to send on: the path and query of an origin-form or
/// absolute-form target. `None` for `*` and authority-form (`CONNECT`) targets.
fn origin_form(uri: &Uri) -> Option<PathAndQuery> {
    let pq = uri.path_and_query()?;
    pq.as_str().starts_with('/').then(|| pq.clone())
}

/// A response the router writes itself: a short page naming no internals.
pub(crate) fn page(status: StatusCode) -> Response<ProxyBody> {
    let (title, text) = match status {
        StatusCode::BAD_REQUEST => ("Bad request", "The request does not say which site it is for."),
        StatusCode::NOT_FOUND => ("No such app", "There is no app at this address."),
        StatusCode::SERVICE_UNAVAILABLE => ("App not available", "This app has no web processes running."),
        StatusCode::BAD_GATEWAY => ("Bad gateway", "The app did not answer. Try again in a moment."),
        StatusCode::GATEWAY_TIMEOUT => ("Gateway timeout", "The app took too long to answer."),
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

/// The client's request body, kept where a second attempt can find it as long as the
/// first attempt has not read from it. A connection that was never made never reads
/// the body, so a request whose first process is unreachable can go to the next one,
/// body and all.
struct BodySlot(Arc<Mutex<Option<Incoming>>>);

impl BodySlot {
    fn new(body: Incoming) -> Self {
        Self(Arc::new(Mutex::new(Some(body))))
    }

    /// The body for one attempt.
    fn attempt(&self) -> RetryBody {
        RetryBody { slot: self.0.clone(), body: None }
    }

    /// Whether no attempt has read the body yet.
    fn untouched(&self) -> bool {
        self.0.lock().is_ok_and(|slot| slot.is_some())
    }
}

/// The body of one attempt: it takes the client's body out of the slot when first
/// read.
pub(crate) struct RetryBody {
    slot: Arc<Mutex<Option<Incoming>>>,
    body: Option<Incoming>,
}

impl RetryBody {
    fn peek<T>(&self, f: impl FnOnce(Option<&Incoming>) -> T) -> T {
        match &self.body {
            Some(body) => f(Some(body)),
            None => match self.slot.lock() {
                Ok(slot) => f(slot.as_ref()),
                Err(_) => f(None),
            },
        }
    }
}

impl Body for RetryBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if this.body.is_none() {
            this.body = this.slot.lock().ok().and_then(|mut slot| slot.take());
        }
        match &mut this.body {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.peek(|body| body.is_none_or(Body::is_end_stream))
    }

    fn size_hint(&self) -> SizeHint {
        self.peek(|body| body.map_or_else(|| SizeHint::with_exact(0), Body::size_hint))
    }
}
