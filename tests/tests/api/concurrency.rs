//! Concurrent writers get gapless, unique release numbers.

use std::collections::BTreeSet;

use paas_tests::spawn_controller;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_config_sets_make_fifty_consecutive_releases() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("busy").await;

    let writers: Vec<_> = (0..50)
        .map(|i| {
            let client = admin.clone();
            tokio::spawn(async move { client.config_set("busy", &[("N", &i.to_string())]).await })
        })
        .collect();
    let mut versions = BTreeSet::new();
    for writer in writers {
        assert!(versions.insert(writer.await.unwrap()), "a version was handed out twice");
    }
    assert_eq!(versions, (2..=51).collect::<BTreeSet<u64>>());

    let releases = admin.get("/v1/apps/busy/releases").await.expect(200);
    let listed: Vec<u64> =
        releases.as_array().unwrap().iter().map(|r| r["version"].as_u64().unwrap()).collect();
    assert_eq!(listed, (1..=51).rev().collect::<Vec<u64>>());
    // Each release holds exactly one more change than its parent: no write was lost.
    let config = admin.get("/v1/apps/busy/config").await.expect(200);
    assert_eq!(config["release"], 51);
    assert_eq!(config["values"].as_object().unwrap().len(), 1);
}
