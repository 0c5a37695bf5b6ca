//! The table the proxy reads: the controller's [`RouteTable`] compiled for lookups, plus
//! the platform's own host names, published as one immutable value behind one
//! [`ArcSwap`].
//!
//! A request loads the current [`Table`] once and uses it to the end, so it never sees
//! half an update. The feed task builds the next table beside the current one and
//! swaps it in; nothing in a published table changes afterwards except each route's
//! round-robin cursor.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use paas_core::routes::{self, Received, RouteTable, WatchMessage};
use paas_core::{AppName, Hostname};
use rustc_hash::FxHashMap;

use crate::certs::CertStore;

/// Who answers for a host name, as logs name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// An app's processes.
    App(Arc<AppName>),
    /// The controller (`paas.<domain>`).
    Controller,
    /// The builder (`git.<domain>`).
    Builder,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::App(app) => write!(f, "{app}"),
            Self::Controller => f.write_str("(controller)"),
            Self::Builder => f.write_str("(builder)"),
        }
    }
}

/// One address a request can go to.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// The process name, for logs (`web.1`).
    pub process: Arc<str>,
    /// Where the process listens.
    pub addr: SocketAddr,
}

impl Upstream {
    fn new(addr: SocketAddr, process: String) -> Self {
        Self { process: process.into(), addr }
    }
}

/// Where one host name goes, and whose turn is next.
#[derive(Debug)]
pub(crate) struct Entry {
    pub target: Target,
    pub upstreams: Vec<Upstream>,
    /// `paas tls:enforce`: plain HTTP is redirected, HTTPS answers carry HSTS.
    pub tls_enforce: bool,
    cursor: AtomicUsize,
}

impl Entry {
    fn new(target: Target, upstreams: Vec<Upstream>) -> Self {
        Self { target, upstreams, tls_enforce: false, cursor: AtomicUsize::new(0) }
    }

    /// The index of the upstream whose turn it is, or `None` when there is none.
    pub fn pick(&self) -> Option<usize> {
        if self.upstreams.is_empty() {
            return None;
        }
        Some(self.cursor.fetch_add(1, Ordering::Relaxed) % self.upstreams.len())
    }
}

/// The platform's own host names and where they go.
#[derive(Debug, Clone)]
pub(crate) struct PlatformHosts {
    /// `paas.<domain>`.
    controller_host: String,
    controller: Option<SocketAddr>,
    /// `git.<domain>`.
    builder_host: String,
    builder: Option<SocketAddr>,
}

impl PlatformHosts {
    pub fn new(domain: &Hostname, controller: Option<SocketAddr>, builder: Option<SocketAddr>) -> Self {
        Self {
            controller_host: format!("paas.{domain}"),
            controller,
            builder_host: format!("git.{domain}"),
            builder,
        }
    }
}

/// A compiled, immutable route table.
#[derive(Debug)]
pub(crate) struct Table {
    /// The table as the controller sent it, for saving and for the next diff.
    pub source: Arc<RouteTable>,
    /// Every host name, lowercased, without port or trailing dot. `None` marks a
    /// platform host that is not configured: a 404 that no route may take over. Hashed
    /// with Fx, not SipHash: a client's `Host` is only looked up, and the keys, which
    /// decide what collides, are the platform's.
    hosts: FxHashMap<String, Option<Arc<Entry>>>,
    /// The controller's entry, when configured: it answers ACME challenges of app hosts.
    controller: Option<Arc<Entry>>,
    /// When it was compiled, which is when it began to be served (for metrics).
    pub published: SystemTime,
}

impl Table {
    /// Compiles `source`; the platform hosts win over any route of the same name.
    pub fn compile(source: Arc<RouteTable>, platform: &PlatformHosts) -> Self {
        let mut hosts: FxHashMap<String, Option<Arc<Entry>>> = source
            .routes
            .iter()
            .map(|(host, route)| {
                let upstreams =
                    route.backends.iter().map(|b| Upstream::new(b.addr, b.process.clone())).collect();
                let mut entry = Entry::new(Target::App(Arc::new(route.app.clone())), upstreams);
                entry.tls_enforce = route.tls.enforce;
                (host.to_string(), Some(Arc::new(entry)))
            })
            .collect();
        for (host, addr, target, process) in [
            (&platform.controller_host, platform.controller, Target::Controller, "controller"),
            (&platform.builder_host, platform.builder, Target::Builder, "builder"),
        ] {
            let entry =
                addr.map(|addr| Arc::new(Entry::new(target, vec![Upstream::new(addr, process.into())])));
            hosts.insert(host.clone(), entry);
        }
        let controller = hosts.get(&platform.controller_host).cloned().flatten();
        Self { source, hosts, controller, published: SystemTime::now() }
    }

    /// The controller's entry, for what it answers on every app's host (ACME HTTP-01
    /// challenges).
    pub fn controller(&self) -> Option<&Arc<Entry>> {
        self.controller.as_ref()
    }

    /// The entry for a normalised host name: an exact match, else a wildcard route
    /// (`*.example.com` matches `a.example.com`, not `a.b.example.com`).
    pub fn find(&self, host: &str) -> Option<&Arc<Entry>> {
        if let Some(found) = self.hosts.get(host) {
            return found.as_ref();
        }
        let (_, parent) = host.split_once('.')?;
        self.hosts.get(&format!("*.{parent}"))?.as_ref()
    }
}

/// The published table, and the one way to replace it.
pub(crate) struct Routes {
    current: ArcSwap<Table>,
    platform: PlatformHosts,
    /// Where the routes' certificates go, table after table.
    certs: Option<Arc<CertStore>>,
}

impl Routes {
    pub fn new(initial: RouteTable, platform: PlatformHosts) -> Self {
        let table = Table::compile(Arc::new(initial), &platform);
        Self { current: ArcSwap::from_pointee(table), platform, certs: None }
    }

    /// Presents the certificates the routes carry from now on, starting with the
    /// current table's.
    pub fn with_certs(mut self, certs: Arc<CertStore>) -> Self {
        certs.sync_routes(&RouteTable::default(), &self.current.load().source);
        self.certs = Some(certs);
        self
    }

    /// The table requests see now.
    pub fn load(&self) -> Arc<Table> {
        self.current.load_full()
    }

    /// Applies a message of the watch stream, publishing the result when it changes
    /// the table. Only the feed task calls this, so there is one writer.
    pub fn receive(&self, message: WatchMessage) -> Update {
        let current = self.current.load_full();
        match routes::receive(&current.source, message) {
            Received::Table(next) => {
                let next = Arc::new(next);
                if let Some(certs) = &self.certs {
                    certs.sync_routes(&current.source, &next);
                }
                self.current.store(Arc::new(Table::compile(next.clone(), &self.platform)));
                Update::Published(next)
            }
            Received::Unchanged => Update::Unchanged,
            Received::Stale { version } => Update::Stale { version, current: current.source.version },
        }
    }
}

/// What a message of the watch stream did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Update {
    /// This table is now served.
    Published(Arc<RouteTable>),
    /// Nothing changed.
    Unchanged,
    /// The message was ignored: its version is not newer than the table's.
    Stale { version: u64, current: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use paas_core::routes::{Backend, Route, RouteChange};

    fn route(app: &str, ports: &[u16]) -> Route {
        Route {
            app: AppName::parse(app).unwrap(),
            backends: ports
                .iter()
                .map(|p| Backend {
                    addr: SocketAddr::from(([127, 0, 0, 1], *p)),
                    process: format!("web.{p}"),
                })
                .collect(),
            tls: Default::default(),
        }
    }

    fn table(routes: &[(&str, Route)]) -> RouteTable {
        RouteTable {
            version: 1,
            routes: routes.iter().map(|(h, r)| (Hostname::parse(h).unwrap(), r.clone())).collect(),
        }
    }

    fn platform(controller: Option<u16>) -> PlatformHosts {
        PlatformHosts::new(
            &Hostname::parse("example.com").unwrap(),
            controller.map(|p| SocketAddr::from(([127, 0, 0, 1], p))),
            None,
        )
    }

    #[test]
    fn exact_then_wildcard() {
        let t = Table::compile(
            Arc::new(table(&[
                ("*.apps.example.com", route("wild", &[1])),
                ("special.apps.example.com", route("special", &[2])),
            ])),
            &platform(None),
        );
        let target = |h: &str| t.find(h).map(|e| e.target.to_string());
        assert_eq!(target("special.apps.example.com").as_deref(), Some("special"));
        assert_eq!(target("other.apps.example.com").as_deref(), Some("wild"));
        assert_eq!(target("a.b.apps.example.com"), None);
        assert_eq!(target("apps.example.com"), None);
        assert_eq!(target("localhost"), None);
    }

    #[test]
    fn platform_hosts_win_even_when_absent() {
        let source = Arc::new(table(&[
            ("paas.example.com", route("hijack", &[1])),
            ("git.example.com", route("hijack", &[1])),
        ]));
        let t = Table::compile(source.clone(), &platform(Some(7700)));
        let controller = t.find("paas.example.com").unwrap();
        assert_eq!(controller.target, Target::Controller);
        assert_eq!(controller.upstreams[0].addr.to_string(), "127.0.0.1:7700");
        assert!(t.find("git.example.com").is_none());
    }

    #[test]
    fn turns_go_round() {
        let t =
            Table::compile(Arc::new(table(&[("a.example.com", route("aa", &[1, 2, 3]))])), &platform(None));
        let entry = t.find("a.example.com").unwrap();
        let picks: Vec<_> = (0..6).map(|_| entry.pick().unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        let t = Table::compile(Arc::new(table(&[("a.example.com", route("aa", &[]))])), &platform(None));
        assert_eq!(t.find("a.example.com").unwrap().pick(), None);
    }

    #[test]
    fn receiving_publishes_only_changes() {
        let routes = Routes::new(table(&[("a.example.com", route("aa", &[1]))]), platform(None));
        let before = routes.load();
        let stale = WatchMessage::Changes {
            version: 1,
            changes: vec![RouteChange::Remove { host: Hostname::parse("a.example.com").unwrap() }],
        };
        assert_eq!(routes.receive(stale), Update::Stale { version: 1, current: 1 });
        assert!(Arc::ptr_eq(&before, &routes.load()));
        let next = WatchMessage::Changes {
            version: 2,
            changes: vec![RouteChange::Remove { host: Hostname::parse("a.example.com").unwrap() }],
        };
        assert!(matches!(routes.receive(next), Update::Published(t) if t.version == 2));
        assert!(routes.load().find("a.example.com").is_none());
        assert!(before.find("a.example.com").is_some(), "a loaded table never changes");
    }
}
