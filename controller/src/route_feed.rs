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
//!
//! Each stream has a number, sent in its `Paas-Watch` header, and its router posts the
//! version it serves for it (`paas_core::routes::Applied`; [`RouteFeed::applied`]).
//! [`RouteFeed::wait_applied`] waits until every router that has said so serves a
//! version: the scheduler promotes a release, and a push says it is up, only then. A
//! stream whose reader never posted (a client that only reads) is not waited for, nor
//! one that let a wait run out, until it posts again.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
    /// The open streams, by number, with the version their router last said it serves.
    watchers: Arc<watch::Sender<BTreeMap<u64, Option<u64>>>>,
    /// The number of the next stream.
    next_watch: AtomicU64,
}

/// Not every router that follows the table serves a version yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{behind} of the routers do not serve route table version {version} yet")]
pub struct RoutersBehind {
    /// The version waited for.
    pub version: u64,
    /// How many routers serve an older one.
    pub behind: usize,
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
            watchers: Arc::new(watch::Sender::new(BTreeMap::new())),
            next_watch: AtomicU64::new(1),
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

    /// Notes that the router reading stream `watch` serves `version` (a router's post);
    /// false when there is no such stream (it ended).
    pub fn applied(&self, watch: u64, version: u64) -> bool {
        let mut open = false;
        self.watchers.send_if_modified(|watchers| {
            let Some(served) = watchers.get_mut(&watch) else { return false };
            open = true;
            let newer = served.is_none_or(|v| v < version);
            if newer {
                *served = Some(version);
            }
            newer
        });
        open
    }

    /// Waits, at most `timeout`, until every router that says what it serves serves
    /// `version` or a later one. The ones still behind then are not waited for again
    /// until they next say what they serve.
    pub async fn wait_applied(&self, version: u64, timeout: Duration) -> Result<(), RoutersBehind> {
        let lags = |served: &Option<u64>| served.is_some_and(|v| v < version);
        let behind = |watchers: &BTreeMap<u64, Option<u64>>| watchers.values().filter(|s| lags(s)).count();
        let mut watchers = self.watchers.subscribe();
        let served = tokio::time::timeout(timeout, watchers.wait_for(|w| behind(w) == 0)).await.is_ok();
        if served {
            return Ok(());
        }
        // A router gone without its stream noticing yet (the server finds out at a
        // heartbeat) or stuck is not waited for again until it next says what it serves.
        let mut lagging = 0;
        self.watchers.send_modify(|watchers| {
            for served in watchers.values_mut() {
                if lags(served) {
                    *served = None;
                    lagging += 1;
                }
            }
        });
        Err(RoutersBehind { version, behind: lagging })
    }

    /// Ends every watch stream (on shutdown).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// A new NDJSON watch stream and its number: a snapshot now, then changes as they
    /// happen, and an empty line after [`HEARTBEAT_INTERVAL`] of silence. The stream
    /// counts as open until it is dropped.
    pub fn watch(&self) -> (u64, impl Stream<Item = Result<Bytes, Infallible>> + 'static) {
        let id = self.next_watch.fetch_add(1, Ordering::Relaxed);
        self.watchers.send_modify(|watchers| {
            watchers.insert(id, None);
        });
        let table = self.table.subscribe();
        let sent = table.borrow().clone();
        let state = Watching {
            table,
            closed: self.closed.subscribe(),
            ready: Some(self.ready.subscribe()),
            sent,
            _open: OpenWatch { id, watchers: self.watchers.clone() },
        };
        let stream = futures_util::stream::unfold(state, |mut w| async move {
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
        });
        (id, stream)
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
    _open: OpenWatch,
}

/// A stream's entry among the watchers, removed when the stream is dropped.
struct OpenWatch {
    id: u64,
    watchers: Arc<watch::Sender<BTreeMap<u64, Option<u64>>>>,
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.watchers.send_modify(|watchers| {
            watchers.remove(&self.id);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn waits_for_the_routers_that_say_what_they_serve_and_no_others() {
        let feed = RouteFeed::new();
        // Nobody follows: nothing to wait for.
        assert_eq!(feed.wait_applied(9, SHORT).await, Ok(()));

        // A reader that never says what it serves is not waited for.
        let (reader, _reader_stream) = feed.watch();
        assert_eq!(feed.wait_applied(9, SHORT).await, Ok(()));

        let (router, router_stream) = feed.watch();
        assert_ne!(router, reader);
        assert!(feed.applied(router, 7));
        assert_eq!(feed.wait_applied(9, SHORT).await, Err(RoutersBehind { version: 9, behind: 1 }));
        assert_eq!(feed.wait_applied(7, SHORT).await, Ok(()));

        // A late word of an older version does not take the router back.
        assert!(feed.applied(router, 9));
        assert!(feed.applied(router, 8));
        assert_eq!(feed.wait_applied(9, SHORT).await, Ok(()));

        // A wait ends as soon as the router catches up.
        let waiting = feed.wait_applied(10, Duration::from_secs(30));
        let catching_up = async {
            tokio::time::sleep(SHORT).await;
            assert!(feed.applied(router, 10));
        };
        let (waited, ()) = tokio::join!(waiting, catching_up);
        assert_eq!(waited, Ok(()));

        // A router that lets a wait run out is not waited for again until it next says
        // what it serves.
        assert_eq!(feed.wait_applied(11, SHORT).await, Err(RoutersBehind { version: 11, behind: 1 }));
        assert_eq!(feed.wait_applied(11, SHORT).await, Ok(()));
        assert!(feed.applied(router, 10));
        assert_eq!(feed.wait_applied(11, SHORT).await, Err(RoutersBehind { version: 11, behind: 1 }));

        // A stream that ends is forgotten: it holds nothing back and cannot be told.
        assert!(feed.applied(router, 10));
        drop(router_stream);
        assert_eq!(feed.wait_applied(11, SHORT).await, Ok(()));
        assert!(!feed.applied(router, 11));
        assert!(!feed.applied(999, 1));
    }
}
