//! The route table the routers follow: built from the store, published through a watch
//! channel, and streamed at [`WATCH_PATH`](paas_core::routes::WATCH_PATH) as NDJSON (a
//! snapshot, then versioned changes, with heartbeats; the format is documented in
//! `paas_core::routes`).
//!
//! Every app answers on `<app>.<domain>` and its custom domains; each route carries the
//! certificate and key uploaded for its host (`paas certs:add`) and its app's
//! `tls:enforce` (`paas_core::routes::RouteTls`). Its backends are the
//! running, healthy `web` containers that do not drain (of its current release, and of
//! the previous one while a new release rolls out), which the scheduler hands over with
//! [`RouteFeed::set_backends`] after every reconcile; an app without any has an empty
//! list and the router answers 503. With a scheduler ([`RouteFeed::await_backends`]),
//! watch streams send their first snapshot only once the scheduler has handed over its
//! first backends, so a restarted controller never tells the routers, which keep their
//! last table meanwhile, that apps have none. After a write that touches apps or domains, the logic calls
//! [`RouteFeed::refresh`], which rebuilds the table from the store and publishes it when
//! it differs. Versions start at the start-up time in milliseconds, so they keep growing
//! across controller restarts. [`RouteFeed::changed_at`] says when the version last
//! went up (the platform page shows it).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use actix_web::web::Bytes;
use futures_util::Stream;
use paas_core::routes::{
    diff, Backend, CertPem, Route, RouteTable, RouteTls, WatchMessage, HEARTBEAT_INTERVAL,
};
use paas_core::{AppName, Hostname};
use tokio::sync::{watch, Mutex};

use crate::db::{self, Db};

/// The current route table and its subscribers.
pub struct RouteFeed {
    table: watch::Sender<Arc<RouteTable>>,
    /// Set when the controller shuts down, to end every stream.
    closed: watch::Sender<bool>,
    /// One rebuild at a time, so versions are published in order.
    rebuilding: Mutex<()>,
    /// The backends of each app, as the scheduler last saw them.
    backends: std::sync::Mutex<BTreeMap<AppName, Vec<Backend>>>,
    /// False until the scheduler's first backends, when one was announced.
    ready: watch::Sender<bool>,
    /// When the table was last published (Unix ms): the start-up time, then each
    /// version's.
    changed_at: std::sync::atomic::AtomicI64,
}

impl RouteFeed {
    /// An empty table whose version is the start-up time.
    pub fn new() -> Self {
        let now = db::now_ms();
        let version = u64::try_from(now).unwrap_or_default();
        Self {
            table: watch::Sender::new(Arc::new(RouteTable { version, routes: BTreeMap::new() })),
            closed: watch::Sender::new(false),
            rebuilding: Mutex::new(()),
            backends: std::sync::Mutex::new(BTreeMap::new()),
            ready: watch::Sender::new(true),
            changed_at: std::sync::atomic::AtomicI64::new(now),
        }
    }

    /// Announces a scheduler: streams wait for its first [`RouteFeed::set_backends`].
    pub fn await_backends(&self) {
        self.ready.send_replace(false);
    }

    /// The table now.
    pub fn current(&self) -> Arc<RouteTable> {
        self.table.borrow().clone()
    }

    /// When the table's version last went up (Unix ms; the start-up time before any
    /// change).
    pub fn changed_at(&self) -> i64 {
        self.changed_at.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Rebuilds the table from the store; publishes it, one version up, if it changed.
    pub async fn refresh(&self, db: &Db, domain: &Hostname) -> Result<(), sqlx::Error> {
        let _turn = self.rebuilding.lock().await;
        let mut conn = db.pool.acquire().await?;
        let rows = db::routes::app_host_list(&mut conn).await?;
        let tls = RoutesTls::read(&mut conn).await?;
        drop(conn);
        let backends = self.backends.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut routes = BTreeMap::new();
        for row in rows {
            // Names in the store were parsed on the way in; a row that no longer parses
            // is skipped rather than taking every other route down with it.
            let Ok(app) = AppName::parse(&row.name) else { continue };
            let route = Route {
                app: app.clone(),
                backends: backends.get(&app).cloned().unwrap_or_default(),
                tls: RouteTls::default(),
            };
            let app_host = domain.app_host(&app);
            if !routes.contains_key(&app_host) {
                routes.insert(app_host.clone(), tls.route(route.clone(), &app_host));
            }
            if let Some(host) = row.hostname.and_then(|h| Hostname::parse(&h).ok()) {
                let route = tls.route(route, &host);
                routes.insert(host, route);
            }
        }
        self.table.send_if_modified(|table| {
            if table.routes == routes {
                return false;
            }
            *table = Arc::new(RouteTable { version: table.version + 1, routes });
            self.changed_at.store(db::now_ms(), std::sync::atomic::Ordering::Relaxed);
            true
        });
        Ok(())
    }

    /// Replaces every app's backends (the scheduler's healthy `web` containers that do
    /// not drain), then rebuilds the table.
    pub async fn set_backends(
        &self,
        db: &Db,
        domain: &Hostname,
        backends: BTreeMap<AppName, Vec<Backend>>,
    ) -> Result<(), sqlx::Error> {
        *self.backends.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = backends;
        let refreshed = self.refresh(db, domain).await;
        self.ready.send_replace(true);
        refreshed
    }

    /// Ends every watch stream (on shutdown).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// The NDJSON watch stream: a snapshot now, then changes as they happen, and an
    /// empty line after [`HEARTBEAT_INTERVAL`] of silence.
    pub fn watch(&self) -> impl Stream<Item = Result<Bytes, Infallible>> + 'static {
        let table = self.table.subscribe();
        let sent = table.borrow().clone();
        let state =
            Watching { table, closed: self.closed.subscribe(), ready: Some(self.ready.subscribe()), sent };
        futures_util::stream::unfold(state, |mut w| async move {
            if let Some(mut ready) = w.ready.take() {
                tokio::select! {
                    result = ready.wait_for(|r| *r) => { result.ok()?; }
                    _ = w.closed.wait_for(|c| *c) => return None,
                }
                let first = w.table.borrow_and_update().clone();
                let snapshot = WatchMessage::Snapshot { table: (*first).clone() }.to_line();
                w.sent = first;
                return Some((Ok(Bytes::from(snapshot)), w));
            }
            if *w.closed.borrow() {
                return None;
            }
            tokio::select! {
                changed = w.table.changed() => {
                    changed.ok()?;
                    let next = w.table.borrow_and_update().clone();
                    let message = WatchMessage::Changes { version: next.version, changes: diff(&w.sent, &next) };
                    w.sent = next;
                    Some((Ok(Bytes::from(message.to_line())), w))
                }
                _ = w.closed.changed() => None,
                () = tokio::time::sleep(HEARTBEAT_INTERVAL) => Some((Ok(Bytes::from_static(b"\n")), w)),
            }
        })
    }
}

impl Default for RouteFeed {
    fn default() -> Self {
        Self::new()
    }
}

/// The certificates by (app, host name) and the apps with `tls:enforce` on.
struct RoutesTls {
    certs: BTreeMap<(String, String), CertPem>,
    enforced: std::collections::BTreeSet<String>,
}

impl RoutesTls {
    async fn read(conn: &mut db::Conn) -> Result<Self, sqlx::Error> {
        let certs = db::certs::certificate_route_list(conn)
            .await?
            .into_iter()
            .map(|row| ((row.app, row.hostname), CertPem { chain: row.chain_pem, key: row.key_pem }))
            .collect();
        let enforced = db::certs::app_tls_enforced_list(conn).await?.into_iter().collect();
        Ok(Self { certs, enforced })
    }

    /// `route` for `host`, with the host's certificate and its app's policy.
    fn route(&self, mut route: Route, host: &Hostname) -> Route {
        let app = route.app.to_string();
        route.tls = RouteTls {
            cert: self.certs.get(&(app.clone(), host.to_string())).cloned(),
            enforce: self.enforced.contains(&app),
        };
        route
    }
}

/// Where one watch stream is.
struct Watching {
    table: watch::Receiver<Arc<RouteTable>>,
    closed: watch::Receiver<bool>,
    /// The table the subscriber has.
    sent: Arc<RouteTable>,
    /// Until the snapshot is sent: whether the first backends are in.
    ready: Option<watch::Receiver<bool>>,
}
