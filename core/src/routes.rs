//! The route table: which host name goes to which processes, and the watch stream that
//! carries it from the controller to the routers.
//!
//! A [`RouteTable`] maps each [`Hostname`] to a [`Route`]: the app it belongs to and the
//! addresses of its healthy `web` processes. Every table has a version; versions come
//! from the controller's store and only grow. [`diff`] says how to get from one table to
//! another and [`apply`] carries the changes out; `apply(old, diff(old, new))` is `new`.
//!
//! # The watch stream
//!
//! The controller serves the table at [`WATCH_PATH`] to routers holding a service
//! credential, as newline-delimited JSON ([`WATCH_CONTENT_TYPE`]):
//!
//! ```text
//! GET /v1/internal/routes/watch HTTP/1.1
//! Authorization: Bearer <service token>
//! Accept: application/x-ndjson
//!
//! HTTP/1.1 200 OK
//! Content-Type: application/x-ndjson
//!
//! {"type":"snapshot","table":{"version":7,"routes":{"hello.localhost":{"app":"hello","backends":[{"addr":"172.18.0.5:5000","process":"web.1"}]}}}}
//! {"type":"changes","version":8,"changes":[{"op":"upsert","host":"hello.localhost","route":{"app":"hello","backends":[]}}]}
//!
//! {"type":"changes","version":9,"changes":[{"op":"remove","host":"hello.localhost"}]}
//! ```
//!
//! - Each message is one JSON object on one line, ended by `\n`: a [`WatchMessage`].
//! - The first message of every response is a `snapshot`: the whole table. Later
//!   messages are `changes`, each carrying the version of the table after it; versions
//!   grow along a response.
//! - An empty line is a heartbeat. The server sends one whenever it has sent nothing
//!   for [`HEARTBEAT_INTERVAL`]; a client that hears nothing for a few intervals treats
//!   the connection as dead and reconnects.
//! - A client that reconnects gets a fresh snapshot, so nothing is lost while it was
//!   away. It applies changes only when their version is greater than its table's
//!   ([`receive`] holds the rule), so a repeated or late message is harmless.
//! - Unknown fields are ignored, so fields can be added; an unknown message type is an
//!   error.
//! - A route may carry `"tls":{"cert":{"chain":"<PEM>","key":"<PEM>"},"enforce":true}`
//!   ([`RouteTls`]): the host's own certificate and key (`paas certs:add`) and the app's
//!   `paas tls:enforce`. The key travels only on this stream, which needs the internal
//!   token, and rests only in the router's 0600 `routes.json`; absent means neither.
//!
//! # What a router serves
//!
//! The response names its stream in the [`WATCH_ID_HEADER`] header (`Paas-Watch: 12`).
//! Once a router serves a table (after each message it takes, and after a snapshot
//! that changes nothing), it posts the table's version for its stream to
//! [`APPLIED_PATH`] as an [`Applied`], with the same credential:
//!
//! ```text
//! POST /v1/internal/routes/applied HTTP/1.1
//! Authorization: Bearer <service token>
//! Content-Type: application/json
//!
//! {"watch":12,"version":8}
//! ```
//!
//! The controller answers 204, or 404 when the stream has ended. It waits for these
//! before it tells a deploy that its release is up, so that a release said to be up is
//! one every router already sends requests to.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{AppName, Hostname};

/// Where the controller serves the watch stream.
pub const WATCH_PATH: &str = "/v1/internal/routes/watch";

/// The media type of the watch stream.
pub const WATCH_CONTENT_TYPE: &str = "application/x-ndjson";

/// The response header of the watch stream that names the stream, for [`Applied`].
pub const WATCH_ID_HEADER: &str = "paas-watch";

/// Where a router says which version of the table it serves.
pub const APPLIED_PATH: &str = "/v1/internal/routes/applied";

/// A router's word that it serves a version of the table: what it posts to
/// [`APPLIED_PATH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The stream the router follows, from its [`WATCH_ID_HEADER`].
    pub watch: u64,
    /// The version of the table the router now serves.
    pub version: u64,
}

/// The longest the server stays silent on a watch stream: it sends an empty line when
/// it has had nothing else to send for this long.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// One process that serves a route: its address on the platform network and its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Backend {
    /// Where the process listens (its `PORT`).
    pub addr: SocketAddr,
    /// The process name, e.g. `web.1`, for logs.
    pub process: String,
}

/// Where one host name goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The app the host name belongs to.
    pub app: AppName,
    /// The healthy processes, in the order the router takes turns over them. Empty when
    /// the app runs no `web` process: the router answers 503.
    pub backends: Vec<Backend>,
    /// The host's own certificate and the app's HTTPS policy; absent on the wire when
    /// neither is set, and so for routers and tables from before they existed.
    #[serde(default, skip_serializing_if = "RouteTls::is_default")]
    pub tls: RouteTls,
}

/// What HTTPS is for one host name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTls {
    /// The certificate the router presents for the host, when its app uploaded one
    /// (`paas certs:add`); otherwise the router's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<CertPem>,
    /// `paas tls:enforce`: plain HTTP is redirected to HTTPS (308) and HTTPS answers
    /// carry `Strict-Transport-Security`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enforce: bool,
}

impl RouteTls {
    /// Neither a certificate nor enforcement.
    pub fn is_default(&self) -> bool {
        self.cert.is_none() && !self.enforce
    }
}

/// A certificate chain and its private key, both PEM. The stream is authenticated with
/// the internal token and the router keeps it in a 0600 file; `Debug` never shows the
/// key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertPem {
    /// The certificate, then its intermediates.
    pub chain: String,
    /// The private key.
    pub key: String,
}

impl std::fmt::Debug for CertPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertPem").field("chain", &self.chain).field("key", &"<redacted>").finish()
    }
}

/// Every route of the platform, at one version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    /// Grows with every change; 0 for the empty table a router starts from.
    pub version: u64,
    /// The route of each host name.
    pub routes: BTreeMap<Hostname, Route>,
}

/// One step from a table to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RouteChange {
    /// Adds the route of `host`, or replaces it.
    Upsert {
        /// The host name.
        host: Hostname,
        /// Its new route.
        route: Route,
    },
    /// Removes the route of `host`, if there is one.
    Remove {
        /// The host name.
        host: Hostname,
    },
}

impl RouteChange {
    /// The host name the change is about.
    pub fn host(&self) -> &Hostname {
        match self {
            Self::Upsert { host, .. } | Self::Remove { host } => host,
        }
    }
}

/// One line of the watch stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WatchMessage {
    /// The whole table; always the first message of a response.
    Snapshot {
        /// The table.
        table: RouteTable,
    },
    /// Changes to the table, and the table's version after them.
    Changes {
        /// The version after the changes.
        version: u64,
        /// The changes, applied in order.
        changes: Vec<RouteChange>,
    },
}

impl WatchMessage {
    /// The message as one line of the stream, ending with `\n`.
    pub fn to_line(&self) -> String {
        // A value of these types always serializes: every map key is a string.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// Reads one line of the stream, with or without its `\n`. An empty line (a
    /// heartbeat) is `Ok(None)`; a message spread over several lines is an error.
    pub fn from_line(line: &str) -> Result<Option<Self>, serde_json::Error> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.contains(['\n', '\r']) {
            return Err(serde::de::Error::custom("a message must be on one line"));
        }
        if line.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(line).map(Some)
    }

    /// The version of the table after this message.
    pub fn version(&self) -> u64 {
        match self {
            Self::Snapshot { table } => table.version,
            Self::Changes { version, .. } => *version,
        }
    }
}

/// The changes that turn `old` into `new`, ordered by host name: an upsert for each
/// host that is new or whose route differs, a removal for each host that is gone.
pub fn diff(old: &RouteTable, new: &RouteTable) -> Vec<RouteChange> {
    let mut changes = Vec::new();
    let mut old_routes = old.routes.iter().peekable();
    let mut new_routes = new.routes.iter().peekable();
    loop {
        match (old_routes.peek(), new_routes.peek()) {
            (None, None) => break,
            (Some((old_host, _)), next_new) if next_new.is_none_or(|(new_host, _)| old_host < new_host) => {
                changes.push(RouteChange::Remove { host: (*old_host).clone() });
                old_routes.next();
            }
            (next_old, Some((new_host, new_route)))
                if next_old.is_none_or(|(old_host, _)| new_host < old_host) =>
            {
                changes.push(RouteChange::Upsert { host: (*new_host).clone(), route: (*new_route).clone() });
                new_routes.next();
            }
            (Some((_, old_route)), Some((host, new_route))) => {
                if old_route != new_route {
                    changes.push(RouteChange::Upsert { host: (*host).clone(), route: (*new_route).clone() });
                }
                old_routes.next();
                new_routes.next();
            }
            // Unreachable: the guards above cover one side being empty.
            (None, Some(_)) | (Some(_), None) => break,
        }
    }
    changes
}

/// The table after `changes`, in order, at `new_version`.
pub fn apply(table: &RouteTable, changes: &[RouteChange], new_version: u64) -> RouteTable {
    let mut routes = table.routes.clone();
    for change in changes {
        match change {
            RouteChange::Upsert { host, route } => {
                routes.insert(host.clone(), route.clone());
            }
            RouteChange::Remove { host } => {
                routes.remove(host);
            }
        }
    }
    RouteTable { version: new_version, routes }
}

/// What a router does with a message of the watch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Serve this table from now on.
    Table(RouteTable),
    /// The message changes nothing: a snapshot equal to the current table.
    Unchanged,
    /// Changes whose version is not greater than the current table's: already applied,
    /// or out of date.
    Stale {
        /// The message's version.
        version: u64,
    },
}

/// The table a router serves after `message`, given that it serves `current`.
///
/// Changes apply only when their version is greater than the current one. A snapshot
/// is the controller's whole truth at the moment the stream began, so it replaces the
/// current table even when its version is lower (the controller's store was restored
/// from a backup, say); changes that follow it in the same response build on it.
pub fn receive(current: &RouteTable, message: WatchMessage) -> Received {
    match message {
        WatchMessage::Snapshot { table } if table == *current => Received::Unchanged,
        WatchMessage::Snapshot { table } => Received::Table(table),
        WatchMessage::Changes { version, .. } if version <= current.version => Received::Stale { version },
        WatchMessage::Changes { version, changes } => Received::Table(apply(current, &changes, version)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;
    use proptest::prelude::*;

    fn host(s: &str) -> Hostname {
        Hostname::parse(s).unwrap()
    }

    fn route(app: &str, ports: &[u16]) -> Route {
        Route {
            app: AppName::parse(app).unwrap(),
            backends: ports
                .iter()
                .enumerate()
                .map(|(i, port)| Backend {
                    addr: SocketAddr::from(([10, 0, 0, 1], *port)),
                    process: format!("web.{}", i + 1),
                })
                .collect(),
            tls: RouteTls::default(),
        }
    }

    fn table(version: u64, routes: &[(&str, Route)]) -> RouteTable {
        RouteTable { version, routes: routes.iter().map(|(h, r)| (host(h), r.clone())).collect() }
    }

    fn lines(changes: &[RouteChange]) -> String {
        changes.iter().map(|c| serde_json::to_string(c).unwrap() + "\n").collect()
    }

    #[test]
    fn diff_of_a_table_with_itself_is_empty() {
        let t = table(3, &[("a.localhost", route("aa", &[5000])), ("b.localhost", route("bb", &[]))]);
        assert!(diff(&t, &t).is_empty());
    }

    #[test]
    fn diff_adds_changes_and_removes_in_host_order() {
        let old = table(
            3,
            &[
                ("gone.localhost", route("gone", &[5000])),
                ("same.localhost", route("same", &[5000])),
                ("scaled.localhost", route("scaled", &[5000])),
            ],
        );
        let new = table(
            4,
            &[
                ("added.localhost", route("added", &[5001])),
                ("same.localhost", route("same", &[5000])),
                ("scaled.localhost", route("scaled", &[5000, 5001])),
                ("zero.localhost", route("zero", &[])),
            ],
        );
        expect![[r#"
            {"op":"upsert","host":"added.localhost","route":{"app":"added","backends":[{"addr":"10.0.0.1:5001","process":"web.1"}]}}
            {"op":"remove","host":"gone.localhost"}
            {"op":"upsert","host":"scaled.localhost","route":{"app":"scaled","backends":[{"addr":"10.0.0.1:5000","process":"web.1"},{"addr":"10.0.0.1:5001","process":"web.2"}]}}
            {"op":"upsert","host":"zero.localhost","route":{"app":"zero","backends":[]}}
        "#]]
        .assert_eq(&lines(&diff(&old, &new)));
        assert_eq!(apply(&old, &diff(&old, &new), 4), new);
    }

    #[test]
    fn diff_against_the_empty_table_upserts_everything() {
        let new = table(1, &[("b.localhost", route("bb", &[5000])), ("a.localhost", route("aa", &[]))]);
        expect![[r#"
            {"op":"upsert","host":"a.localhost","route":{"app":"aa","backends":[]}}
            {"op":"upsert","host":"b.localhost","route":{"app":"bb","backends":[{"addr":"10.0.0.1:5000","process":"web.1"}]}}
        "#]]
        .assert_eq(&lines(&diff(&RouteTable::default(), &new)));
        expect![[r#"
            {"op":"remove","host":"a.localhost"}
            {"op":"remove","host":"b.localhost"}
        "#]]
        .assert_eq(&lines(&diff(&new, &RouteTable::default())));
    }

    #[test]
    fn watch_messages_on_the_wire() {
        let snapshot =
            WatchMessage::Snapshot { table: table(7, &[("hello.localhost", route("hello", &[5000]))]) };
        let changes = WatchMessage::Changes {
            version: 9,
            changes: vec![RouteChange::Remove { host: host("hello.localhost") }],
        };
        expect![[r#"
            {"type":"snapshot","table":{"version":7,"routes":{"hello.localhost":{"app":"hello","backends":[{"addr":"10.0.0.1:5000","process":"web.1"}]}}}}
            {"type":"changes","version":9,"changes":[{"op":"remove","host":"hello.localhost"}]}
        "#]]
        .assert_eq(&(snapshot.to_line() + &changes.to_line()));
        assert_eq!(WatchMessage::from_line(&snapshot.to_line()).unwrap(), Some(snapshot));
        assert_eq!(WatchMessage::from_line(&changes.to_line()).unwrap(), Some(changes));
    }

    #[test]
    fn tls_is_on_the_wire_only_when_set_and_the_key_never_in_debug() {
        let mut route = route("hello", &[]);
        route.tls = RouteTls {
            cert: Some(CertPem { chain: "CHAIN".into(), key: "SECRET KEY".into() }),
            enforce: true,
        };
        let snapshot = WatchMessage::Snapshot { table: table(7, &[("hello.localhost", route)]) };
        expect![[r#"
            {"type":"snapshot","table":{"version":7,"routes":{"hello.localhost":{"app":"hello","backends":[],"tls":{"cert":{"chain":"CHAIN","key":"SECRET KEY"},"enforce":true}}}}}
        "#]]
        .assert_eq(&snapshot.to_line());
        assert_eq!(WatchMessage::from_line(&snapshot.to_line()).unwrap(), Some(snapshot.clone()));
        assert!(!format!("{snapshot:?}").contains("SECRET"));
        let old = r#"{"type":"snapshot","table":{"version":7,"routes":{"hello.localhost":{"app":"hello","backends":[]}}}}"#;
        let Some(WatchMessage::Snapshot { table }) = WatchMessage::from_line(old).unwrap() else { panic!() };
        assert!(table.routes[&host("hello.localhost")].tls.is_default());
    }

    #[test]
    fn reading_lines() {
        assert_eq!(WatchMessage::from_line("").unwrap(), None);
        assert_eq!(WatchMessage::from_line("\r\n").unwrap(), None);
        assert_eq!(
            WatchMessage::from_line(r#"{"type":"changes","version":2,"changes":[],"later":"field"}"#)
                .unwrap(),
            Some(WatchMessage::Changes { version: 2, changes: vec![] })
        );
        for bad in [
            r#"{"type":"rename","version":2}"#,
            r#"{"type":"changes","version":-1,"changes":[]}"#,
            r#"{"type":"snapshot","table":{"version":1,"routes":{"NOT A HOST":{"app":"aa","backends":[]}}}}"#,
            r#"{"type":"snapshot","table":{"version":1,"routes":{"a.localhost":{"app":"paas","backends":[]}}}}"#,
            r#"{"type":"changes","version":2,"changes":[{"op":"upsert","host":"a.localhost","route":{"app":"aa","backends":[{"addr":"nowhere","process":"web.1"}]}}]}"#,
            "{\"type\":\"changes\",\n\"version\":2,\"changes\":[]}",
            "not json",
        ] {
            assert!(WatchMessage::from_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn receiving() {
        let current = table(5, &[("a.localhost", route("aa", &[5000]))]);
        let stale = WatchMessage::Changes {
            version: 5,
            changes: vec![RouteChange::Remove { host: host("a.localhost") }],
        };
        assert_eq!(receive(&current, stale), Received::Stale { version: 5 });
        let next = WatchMessage::Changes {
            version: 6,
            changes: vec![RouteChange::Remove { host: host("a.localhost") }],
        };
        assert_eq!(receive(&current, next), Received::Table(table(6, &[])));
        assert_eq!(receive(&current, WatchMessage::Snapshot { table: current.clone() }), Received::Unchanged);
        let older = table(2, &[("b.localhost", route("bb", &[5000]))]);
        assert_eq!(
            receive(&current, WatchMessage::Snapshot { table: older.clone() }),
            Received::Table(older)
        );
    }

    fn arb_table() -> impl Strategy<Value = RouteTable> {
        let hosts =
            prop::sample::select(vec!["a.localhost", "b.localhost", "c.example.com", "*.example.com", "d"]);
        let apps = prop::sample::select(vec!["aa", "bb", "cc"]);
        let backends = prop::collection::vec((1u8..4, 5000u16..5003), 0..4);
        let route = (apps, backends).prop_map(|(app, backends)| Route {
            app: AppName::parse(app).unwrap(),
            backends: backends
                .into_iter()
                .map(|(ip, port)| Backend {
                    addr: SocketAddr::from(([10, 0, 0, ip], port)),
                    process: format!("web.{ip}"),
                })
                .collect(),
            tls: RouteTls::default(),
        });
        (any::<u64>(), prop::collection::btree_map(hosts, route, 0..5)).prop_map(|(version, routes)| {
            RouteTable { version, routes: routes.into_iter().map(|(h, r)| (host(h), r)).collect() }
        })
    }

    proptest! {
        #[test]
        fn applying_the_diff_gives_the_new_table(old in arb_table(), new in arb_table()) {
            let changes = diff(&old, &new);
            prop_assert_eq!(apply(&old, &changes, new.version), new.clone());
            for change in &changes {
                prop_assert_ne!(old.routes.get(change.host()), new.routes.get(change.host()));
            }
            prop_assert!(changes.windows(2).all(|w| w[0].host() < w[1].host()));
        }

        #[test]
        fn tables_survive_the_wire(t in arb_table()) {
            let message = WatchMessage::Snapshot { table: t };
            prop_assert_eq!(WatchMessage::from_line(&message.to_line()).unwrap(), Some(message));
        }

        #[test]
        fn only_newer_changes_apply(t in arb_table(), version in any::<u64>()) {
            let message = WatchMessage::Changes { version, changes: vec![] };
            match receive(&t, message) {
                Received::Table(next) => prop_assert!(version > t.version && next.version == version),
                Received::Stale { .. } => prop_assert!(version <= t.version),
                Received::Unchanged => prop_assert!(false, "changes are never unchanged"),
            }
        }
    }
}
