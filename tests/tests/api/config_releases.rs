//! Config vars, releases and rollback.

use paas_tests::spawn_controller;
use serde_json::json;

#[tokio::test]
async fn every_config_change_is_a_release() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    assert_eq!(admin.config_set("hello", &[("A", "1"), ("B", "2")]).await, 2);
    let config = admin.get("/v1/apps/hello/config").await.expect(200);
    assert_eq!(config, json!({"release": 2, "values": {"A": "1", "B": "2"}}));

    let unset =
        admin.patch("/v1/apps/hello/config", json!({"values": {"A": null, "C": "x=y"}})).await.expect(200);
    assert_eq!(unset, json!({"release": 3, "values": {"B": "2", "C": "x=y"}}));

    let releases = admin.get("/v1/apps/hello/releases").await.expect(200);
    let summaries: Vec<(u64, &str, bool)> = releases
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["version"].as_u64().unwrap(), r["summary"].as_str().unwrap(), r["current"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(
        summaries,
        [
            (3, "Set C and unset A config vars", true),
            (2, "Set A and B config vars", false),
            (1, "Initial release", false)
        ]
    );
    assert_eq!(releases[0]["created_by"], "admin");

    let v2 = admin.get("/v1/apps/hello/releases/v2").await.expect(200);
    assert_eq!(v2["config"], json!({"A": "1", "B": "2"}));
    assert_eq!(admin.get("/v1/apps/hello/releases/2").await.expect(200)["version"], 2);
    admin.get("/v1/apps/hello/releases/v9").await.expect_error(404, "not_found");
    admin.get("/v1/apps/hello/releases/v0").await.expect_error(400, "invalid_request");
    admin.get("/v1/apps/hello/releases/latest").await.expect_error(400, "invalid_request");
}

#[tokio::test]
async fn bad_config_changes_are_refused_and_change_nothing() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    let bad_bodies = [
        json!({"values": {}}),
        json!({"values": {"1BAD": "x"}}),
        json!({"values": {"A-B": "x"}}),
        json!({"values": {"OK": "fine", "BAD KEY": "x"}}),
        json!({"values": {"NUL": "a\u{0}b"}}),
        json!({"values": {"BIG": "x".repeat(32 * 1024 + 1)}}),
        json!({"values": {"K": 5}}),
        json!({"values": "A=1"}),
        json!({}),
    ];
    for body in bad_bodies {
        let message = admin.patch("/v1/apps/hello/config", body).await.expect_error(400, "invalid_request");
        assert!(!message.contains("a\u{0}b"));
    }
    let config = admin.get("/v1/apps/hello/config").await.expect(200);
    assert_eq!(config, json!({"release": 1, "values": {}}));
    assert_eq!(admin.get("/v1/apps/hello/releases").await.expect(200).as_array().unwrap().len(), 1);
    admin.patch("/v1/apps/nope/config", json!({"values": {"A": "1"}})).await.expect_error(404, "not_found");
}

#[tokio::test]
async fn secret_values_never_reach_error_messages() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    let message = admin
        .patch("/v1/apps/hello/config", json!({"values": {"PASSWORD": "hunter2\u{0}"}}))
        .await
        .expect_error(400, "invalid_request");
    assert!(message.contains("PASSWORD") && !message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn rollback_makes_a_new_release_with_the_old_config() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    admin.post("/v1/apps/hello/rollback", json!({})).await.expect_error(409, "conflict");
    admin.config_set("hello", &[("A", "1"), ("B", "2")]).await;

    let v3 = admin.post("/v1/apps/hello/rollback", json!({"version": 1})).await.expect(201);
    assert_eq!(
        (v3["version"].clone(), v3["summary"].clone(), v3["current"].clone()),
        (json!(3), json!("Rollback to v1"), json!(true))
    );
    assert_eq!(admin.get("/v1/apps/hello/config").await.expect(200)["values"], json!({}));

    // Without a version: back to the release before the current one (v2).
    let v4 = admin.post("/v1/apps/hello/rollback", json!({})).await.expect(201);
    assert_eq!(v4["summary"], "Rollback to v2");
    assert_eq!(admin.get("/v1/apps/hello/config").await.expect(200)["values"], json!({"A": "1", "B": "2"}));

    admin.post("/v1/apps/hello/rollback", json!({"version": 99})).await.expect_error(404, "not_found");
    admin.post("/v1/apps/hello/rollback", json!({"version": 0})).await.expect_error(400, "invalid_request");
    // The failed attempts made no release and left no gap.
    let versions: Vec<u64> = admin
        .get("/v1/apps/hello/releases")
        .await
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [4, 3, 2, 1]);
    assert_eq!(admin.config_set("hello", &[("C", "3")]).await, 5);
}
