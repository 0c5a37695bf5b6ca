//! The real router on a free port, with real HTTP backends that echo what they
//! received, and a real route feed that streams NDJSON and can push changes.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use paas_core::routes::{
    Applied, Backend, Route, RouteTable, WatchMessage, APPLIED_PATH, WATCH_ID_HEADER, WATCH_PATH,
};
use paas_core::{AppName, Hostname};

use paas_router::{FeedConfig, FeedToken, FeedUrl, RouterConfig, RouterError, RouterState};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

/// The platform domain of every test router.
pub const DOMAIN: &str = "paas.test";
/// The token the test feed expects.
pub const TOKEN: &str = "paas_router_secret";

type TestBody = BoxBody<Bytes, Infallible>;

fn full(text: impl Into<Bytes>) -> TestBody {
    Full::new(text.into()).boxed()
}

/// Serves `handler` on a fresh port of 127.0.0.1 until the test ends.
async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<TestBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

/// An address where nothing listens.
pub async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// What a test backend saw, as it answers it.
#[derive(Debug, serde::Deserialize)]
pub struct Echo {
    pub backend: String,
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: String,
}

impl Echo {
    /// The one value of a header, if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let values = self.headers.get(name)?;
        assert_eq!(values.len(), 1, "{name} was sent {} times", values.len());
        Some(&values[0])
    }
}

/// A real HTTP server standing for one process of an app.
///
/// - any path: answers 200 with an [`Echo`] of the request;
/// - `/hold`: signals [`TestBackend::arrived`], then answers once released;
/// - `/never`: never answers;
/// - `/hop`: answers with hop-by-hop headers of its own.
pub struct TestBackend {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub arrived: Arc<Notify>,
    pub release: Arc<Notify>,
}

impl TestBackend {
    pub async fn spawn(name: &str) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let (n, h, a, r) = (name.to_owned(), hits.clone(), arrived.clone(), release.clone());
        let addr = serve(move |req: Request<Incoming>| {
            let (name, hits, arrived, release) = (n.clone(), h.clone(), a.clone(), r.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                match req.uri().path() {
                    "/never" => std::future::pending().await,
                    "/hold" => {
                        arrived.notify_one();
                        release.notified().await;
                    }
                    "/hop" => {
                        let mut response = Response::new(full("hop"));
                        for (name, value) in [
                            ("connection", "x-backend-secret"),
                            ("x-backend-secret", "1"),
                            ("keep-alive", "timeout=5"),
                            ("proxy-authenticate", "Basic realm=x"),
                            ("upgrade", "h2c"),
                            ("trailer", "x-sum"),
                            ("x-backend-kept", "1"),
                        ] {
                            response
                                .headers_mut()
                                .append(HeaderName::from_static(name), HeaderValue::from_static(value));
                        }
                        return response;
                    }
                    _ => {}
                }
                let method = req.method().to_string();
                let path = req.uri().to_string();
                let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (k, v) in req.headers() {
                    headers
                        .entry(k.to_string())
                        .or_default()
                        .push(v.to_str().unwrap_or("<binary>").to_owned());
                }
                let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                let echo = serde_json::json!({
                    "backend": name,
                    "method": method,
                    "path": path,
                    "headers": headers,
                    "body": String::from_utf8_lossy(&body),
                });
                let mut response = Response::new(full(echo.to_string()));
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
        })
        .await;
        Self { addr, hits, arrived, release }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A route of `app` to `addrs`, named `web.1`, `web.2`, ...
pub fn route(app: &str, addrs: &[SocketAddr]) -> Route {
    Route {
        app: AppName::parse(app).unwrap(),
        backends: addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| Backend { addr: *addr, process: format!("web.{}", i + 1) })
            .collect(),
        tls: Default::default(),
    }
}

/// A table at `version`.
pub fn table(version: u64, routes: Vec<(&str, Route)>) -> RouteTable {
    RouteTable {
        version,
        routes: routes.into_iter().map(|(h, r)| (Hostname::parse(h).unwrap(), r)).collect(),
    }
}

/// A body fed from a channel: the open end of a watch stream.
struct ChannelBody(mpsc::UnboundedReceiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

#[derive(Default)]
struct FeedInner {
    snapshot: Mutex<RouteTable>,
    streams: Mutex<Vec<mpsc::UnboundedSender<Bytes>>>,
    watches: AtomicUsize,
    refused: AtomicUsize,
    applied: Mutex<Vec<Applied>>,
}

/// A real HTTP server standing for the controller's route stream: each authorized
/// `GET` of the watch path gets the current snapshot, then whatever the test pushes.
pub struct TestFeed {
    pub addr: SocketAddr,
    inner: Arc<FeedInner>,
}

impl TestFeed {
    pub async fn spawn(snapshot: RouteTable) -> Self {
        let inner = Arc::new(FeedInner { snapshot: Mutex::new(snapshot), ..FeedInner::default() });
        let shared = inner.clone();
        let addr = serve(move |req: Request<Incoming>| {
            let inner = shared.clone();
            async move {
                let authorized = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok())
                    == Some(&format!("Bearer {TOKEN}"));
                if req.uri().path() == APPLIED_PATH && authorized {
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    inner.applied.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                    let mut response = Response::new(full(""));
                    *response.status_mut() = StatusCode::NO_CONTENT;
                    return response;
                }
                if req.uri().path() != WATCH_PATH || !authorized {
                    inner.refused.fetch_add(1, Ordering::SeqCst);
                    let mut response = Response::new(full("no"));
                    *response.status_mut() = StatusCode::UNAUTHORIZED;
                    return response;
                }
                let (tx, rx) = mpsc::unbounded_channel();
                let snapshot = inner.snapshot.lock().unwrap().clone();
                tx.send(Bytes::from(WatchMessage::Snapshot { table: snapshot }.to_line())).unwrap();
                inner.streams.lock().unwrap().push(tx);
                let watch = inner.watches.fetch_add(1, Ordering::SeqCst) + 1;
                let mut response = Response::new(ChannelBody(rx).boxed());
                response.headers_mut().insert(WATCH_ID_HEADER, watch.into());
                response
            }
        })
        .await;
        Self { addr, inner }
    }

    /// The feed's URL.
    pub fn url(&self) -> FeedUrl {
        FeedUrl::parse(&format!("http://{}{WATCH_PATH}", self.addr)).unwrap()
    }

    /// The snapshot the next connection gets.
    pub fn set_snapshot(&self, table: RouteTable) {
        *self.inner.snapshot.lock().unwrap() = table;
    }

    /// Sends a raw line to every open stream.
    pub fn send_line(&self, line: &str) {
        for stream in self.inner.streams.lock().unwrap().iter() {
            let _ = stream.send(Bytes::from(line.to_owned()));
        }
    }

    /// Sends a message to every open stream.
    pub fn push(&self, message: &WatchMessage) {
        self.send_line(&message.to_line());
    }

    /// Ends every open stream, as a controller that stops would.
    pub fn disconnect_all(&self) {
        self.inner.streams.lock().unwrap().clear();
    }

    /// How many watch requests were accepted.
    pub fn watches(&self) -> usize {
        self.inner.watches.load(Ordering::SeqCst)
    }

    /// What the router said it serves, in the order it said so.
    pub fn applied(&self) -> Vec<Applied> {
        self.inner.applied.lock().unwrap().clone()
    }

    /// How many requests were refused.
    pub fn refused(&self) -> usize {
        self.inner.refused.load(Ordering::SeqCst)
    }
}

/// What the router answered.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// The backend's echo of the request.
    pub fn echo(&self) -> Echo {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not an echo ({e}): {}", self.body))
    }
}

/// A feed config for tests: the right token, quick reconnects.
pub fn feed_config(url: FeedUrl) -> FeedConfig {
    let mut feed = FeedConfig::new(url, Some(FeedToken::parse(TOKEN).unwrap()));
    feed.backoff_min = Duration::from_millis(10);
    feed.backoff_max = Duration::from_millis(100);
    feed.idle_timeout = Duration::from_secs(5);
    feed
}

/// A router config for tests, keeping its state in `state_dir`.
pub fn router_config(state_dir: &Path) -> RouterConfig {
    let mut config = RouterConfig::new(Hostname::parse(DOMAIN).unwrap(), state_dir.to_owned());
    config.shutdown_grace = Duration::from_secs(5);
    config
}

/// The real router, running on a free port of 127.0.0.1.
pub struct TestRouter {
    pub addr: SocketAddr,
    /// The HTTPS listener, for routers started by [`TestRouter::spawn_tls`].
    pub https_addr: Option<SocketAddr>,
    /// The state directory.
    pub state_dir: std::path::PathBuf,
    pub state: RouterState,
    _temp: Option<tempfile::TempDir>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Option<JoinHandle<Result<(), RouterError>>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl TestRouter {
    /// Starts a router in a fresh state directory, configured by `configure`.
    pub async fn spawn(configure: impl FnOnce(&mut RouterConfig)) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let state_dir = temp.path().join("router");
        let mut router = Self::spawn_in(&state_dir, configure).await;
        router._temp = Some(temp);
        router
    }

    /// Starts a router keeping its state in `state_dir`.
    pub async fn spawn_in(state_dir: &Path, configure: impl FnOnce(&mut RouterConfig)) -> Self {
        Self::spawn_with(state_dir, false, configure).await
    }

    /// Starts a router with an HTTPS listener too, in a fresh state directory.
    pub async fn spawn_tls(configure: impl FnOnce(&mut RouterConfig)) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let mut router = Self::spawn_with(&temp.path().join("router"), true, configure).await;
        router._temp = Some(temp);
        router
    }

    /// Starts a router with an HTTPS listener too, keeping its state in `state_dir`.
    pub async fn spawn_tls_in(state_dir: &Path, configure: impl FnOnce(&mut RouterConfig)) -> Self {
        Self::spawn_with(state_dir, true, configure).await
    }

    async fn spawn_with(state_dir: &Path, tls: bool, configure: impl FnOnce(&mut RouterConfig)) -> Self {
        let mut config = router_config(state_dir);
        configure(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let https = match tls {
            true => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
            false => None,
        };
        let https_addr = https.as_ref().map(|l| l.local_addr().unwrap());
        let state = RouterState::load(config).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(paas_router::run_with_tls(listener, https, state.clone(), async {
            let _ = stopped.await;
        }));
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self {
            addr,
            https_addr,
            state_dir: state_dir.to_owned(),
            state,
            _temp: None,
            stop: Mutex::new(Some(stop)),
            task: Some(task),
            client,
        }
    }

    /// Starts a router fed by `feed`, and waits until it serves the feed's snapshot.
    pub async fn spawn_fed(feed: &TestFeed, version: u64) -> Self {
        let url = feed.url();
        let router = Self::spawn(|config| config.feed = Some(feed_config(url))).await;
        router.wait_for_version(version).await;
        router
    }

    /// Waits until the router serves the table of `version`.
    pub async fn wait_for_version(&self, version: u64) {
        let state = self.state.clone();
        eventually(&format!("the router to serve version {version}"), || {
            let state = state.clone();
            async move { (state.routes().version == version).then_some(()) }
        })
        .await;
    }

    /// `GET path` with `Host: host`.
    pub async fn get(&self, host: &str, path: &str) -> Reply {
        self.send(Request::get(path).header(HOST, host).body(Full::default()).unwrap()).await
    }

    /// Sends `request` (whose URI is a path) to the router.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        self.try_send(request).await.expect("the router answers")
    }

    /// Sends `request` (whose URI is a path) to the router; an error when the
    /// connection fails before the whole response arrived.
    pub async fn try_send(&self, mut request: Request<Full<Bytes>>) -> Result<Reply, String> {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
        *request.uri_mut() = format!("http://{}{path}", self.addr).parse().unwrap();
        let response = self.client.request(request).await.map_err(|e| format!("{e:?}"))?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| format!("{e:?}"))?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Asks the router to shut down.
    pub fn shutdown(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
    }

    /// Shuts the router down and waits until `run` returns.
    pub async fn stop(mut self) -> Result<(), RouterError> {
        self.shutdown();
        self.join().await
    }

    /// Waits until `run` returns.
    pub async fn join(&mut self) -> Result<(), RouterError> {
        let task = self.task.take().expect("joined once");
        tokio::time::timeout(Duration::from_secs(10), task).await.expect("the router stops").unwrap()
    }
}

impl Drop for TestRouter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Polls `check` until it returns `Some`, for at most 10 seconds.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
