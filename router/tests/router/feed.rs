//! The route feed: changes take effect, stale ones do not, and a lost controller
//! leaves the router serving its last table until it reconnects.

use hyper::StatusCode;
use paas_core::routes::{Applied, RouteChange, WatchMessage};
use paas_core::Hostname;

use crate::helpers::{eventually, feed_config, route, table, TestBackend, TestFeed, TestRouter};

fn upsert(host: &str, route: paas_core::routes::Route) -> RouteChange {
    RouteChange::Upsert { host: Hostname::parse(host).unwrap(), route }
}

/// Polls until `host` is answered by `backend`.
async fn until_served_by(router: &TestRouter, host: &str, backend: &str) {
    eventually(&format!("{host} to be served by {backend}"), || async {
        let reply = router.get(host, "/").await;
        (reply.status == StatusCode::OK && reply.echo().backend == backend).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_route_change_from_the_feed_takes_effect() {
    let v1 = TestBackend::spawn("v1").await;
    let v2 = TestBackend::spawn("v2").await;
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &[v1.addr]))])).await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    assert_eq!(router.get("hello.paas.test", "/").await.echo().backend, "v1");
    assert_eq!(router.get("new.paas.test", "/").await.status, StatusCode::NOT_FOUND);

    feed.push(&WatchMessage::Changes {
        version: 2,
        changes: vec![
            upsert("hello.paas.test", route("hello", &[v2.addr])),
            upsert("new.paas.test", route("new", &[v1.addr])),
        ],
    });
    until_served_by(&router, "hello.paas.test", "v2").await;
    assert_eq!(router.get("new.paas.test", "/").await.echo().backend, "v1");

    feed.send_line("\n"); // a heartbeat changes nothing
    feed.push(&WatchMessage::Changes {
        version: 3,
        changes: vec![RouteChange::Remove { host: Hostname::parse("new.paas.test").unwrap() }],
    });
    router.wait_for_version(3).await;
    assert_eq!(router.get("new.paas.test", "/").await.status, StatusCode::NOT_FOUND);
    assert_eq!(router.get("hello.paas.test", "/").await.echo().backend, "v2");
}

#[tokio::test]
async fn the_router_tells_the_controller_each_version_it_serves_on_its_stream() {
    let v1 = TestBackend::spawn("v1").await;
    let v2 = TestBackend::spawn("v2").await;
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &[v1.addr]))])).await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    let served = |version| Applied { watch: 1, version };
    eventually("the snapshot's version told", || async { feed.applied().contains(&served(1)).then_some(()) })
        .await;

    feed.push(&WatchMessage::Changes {
        version: 2,
        changes: vec![upsert("hello.paas.test", route("hello", &[v2.addr]))],
    });
    eventually("version 2 told", || async { feed.applied().contains(&served(2)).then_some(()) }).await;
    // Told only once it is served: a request now goes to v2.
    assert_eq!(router.get("hello.paas.test", "/").await.echo().backend, "v2");

    // A stale change leaves the router on 2, and it says so again rather than 1.
    feed.push(&WatchMessage::Changes {
        version: 2,
        changes: vec![upsert("hello.paas.test", route("hello", &[v1.addr]))],
    });
    feed.push(&WatchMessage::Changes { version: 3, changes: vec![] });
    eventually("version 3 told", || async { feed.applied().contains(&served(3)).then_some(()) }).await;
    let told: Vec<u64> = feed.applied().iter().map(|a| a.version).collect();
    assert!(told.windows(2).all(|w| w[0] <= w[1]), "versions told out of order: {told:?}");

    // A new stream has a new number, and its snapshot is told under it.
    feed.disconnect_all();
    eventually("the second stream's snapshot told", || async {
        feed.applied().iter().any(|a| a.watch == 2).then_some(())
    })
    .await;
    assert_eq!(feed.applied().last(), Some(&Applied { watch: 2, version: 1 }));
}

#[tokio::test]
async fn changes_not_newer_than_the_table_are_ignored() {
    let good = TestBackend::spawn("good").await;
    let stale = TestBackend::spawn("stale").await;
    let feed = TestFeed::spawn(table(5, vec![("hello.paas.test", route("hello", &[good.addr]))])).await;
    let router = TestRouter::spawn_fed(&feed, 5).await;
    for version in [4, 5] {
        feed.push(&WatchMessage::Changes {
            version,
            changes: vec![upsert("hello.paas.test", route("hello", &[stale.addr]))],
        });
    }
    // A later change that is applied shows the stale ones before it were read.
    feed.push(&WatchMessage::Changes {
        version: 6,
        changes: vec![upsert("marker.paas.test", route("marker", &[good.addr]))],
    });
    router.wait_for_version(6).await;
    for _ in 0..3 {
        assert_eq!(router.get("hello.paas.test", "/").await.echo().backend, "good");
    }
    assert_eq!(stale.hits(), 0);
}

#[tokio::test]
async fn a_lost_feed_leaves_the_last_table_serving_until_it_reconnects() {
    let v1 = TestBackend::spawn("v1").await;
    let v2 = TestBackend::spawn("v2").await;
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &[v1.addr]))])).await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    assert_eq!(feed.watches(), 1);

    // The controller goes away with a newer table that the router has not seen.
    feed.set_snapshot(table(7, vec![("hello.paas.test", route("hello", &[v2.addr]))]));
    feed.disconnect_all();
    assert_eq!(router.get("hello.paas.test", "/").await.echo().backend, "v1", "the last table serves");

    // The router reconnects and takes the fresh snapshot.
    until_served_by(&router, "hello.paas.test", "v2").await;
    assert!(feed.watches() >= 2);
    assert_eq!(router.state.routes().version, 7);

    // A message that breaks the protocol ends the stream; the router reconnects too.
    let watches = feed.watches();
    feed.send_line("{not json}\n");
    eventually("a reconnect after a bad line", || async { (feed.watches() > watches).then_some(()) }).await;
    assert_eq!(router.get("hello.paas.test", "/").await.echo().backend, "v2");
}

#[tokio::test]
async fn a_wrong_token_gets_no_routes_and_the_router_keeps_trying() {
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &[hello.addr]))])).await;
    let url = feed.url();
    let router = TestRouter::spawn(move |config| {
        let mut feed = feed_config(url);
        feed.token = Some(paas_router::FeedToken::parse("wrong").unwrap());
        config.feed = Some(feed);
    })
    .await;
    eventually("several refused attempts", || async { (feed.refused() >= 3).then_some(()) }).await;
    assert_eq!(feed.watches(), 0);
    assert_eq!(router.get("hello.paas.test", "/").await.status, StatusCode::NOT_FOUND);
}
