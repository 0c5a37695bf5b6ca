//! Builds and logs, with the platform running without Docker: the build list, who may
//! read it, and the logs endpoint's answers when there is no engine to read from.

use paas_tests::spawn_controller;
use serde_json::json;

#[tokio::test]
async fn builds_list_newest_first_with_the_releases_that_run_them() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    assert_eq!(admin.get("/v1/apps/hello/builds").await.expect(200), json!([]));

    platform.stand_in_build("hello", "paas/hello:1", &json!({"web": "serve $PORT"})).await;
    // A config change keeps the build: its release runs it too.
    assert_eq!(admin.config_set("hello", &[("A", "1")]).await, 2);
    let builds = admin.get("/v1/apps/hello/builds").await.expect(200);
    assert_eq!(builds.as_array().map(Vec::len), Some(1), "{builds}");
    assert_eq!(builds[0]["releases"], json!([1, 2]));

    // The next build (standing in for a push: v3 is pointed at it).
    assert_eq!(admin.config_set("hello", &[("B", "2")]).await, 3);
    platform.stand_in_build("hello", "paas/hello:2", &json!({"web": "serve", "worker": "work"})).await;
    let builds = admin.get("/v1/apps/hello/builds").await.expect(200);
    let builds = builds.as_array().expect("a list");
    assert_eq!(builds.len(), 2);
    assert_eq!(builds[0]["image"], "paas/hello:2");
    assert_eq!(builds[0]["process_types"], json!({"web": "serve", "worker": "work"}));
    assert_eq!(builds[0]["releases"], json!([3]));
    assert_eq!(builds[1]["image"], "paas/hello:1");
    assert_eq!(builds[1]["process_types"], json!({"web": "serve $PORT"}));
    assert_eq!(builds[1]["releases"], json!([1, 2]));
    assert_eq!(builds[1]["commit"], "stand-in");
    assert_eq!(builds[1]["created_by"], "test");
    assert_eq!(builds[1]["created_at"], "1970-01-01T00:00:00.000Z");
    assert!(builds[0]["id"].as_i64() > builds[1]["id"].as_i64(), "newest first: {builds:?}");

    // A rollback runs the old build again.
    admin.post("/v1/apps/hello/rollback", json!({"version": 2})).await.expect(201);
    let builds = admin.get("/v1/apps/hello/builds").await.expect(200);
    assert_eq!(builds[1]["releases"], json!([1, 2, 4]));
}

#[tokio::test]
async fn builds_and_logs_are_for_those_who_may_see_the_app() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let alice = platform.user(&admin, "alice").await;
    let bob = platform.user(&admin, "bob").await;
    let carol = platform.user(&admin, "carol").await;
    alice.create_app("hello").await;
    alice.post("/v1/apps/hello/collaborators", json!({"username": "bob"})).await.expect(201);

    assert_eq!(bob.get("/v1/apps/hello/builds").await.expect(200), json!([]));
    assert_eq!(admin.get("/v1/apps/hello/builds").await.expect(200), json!([]));
    for path in ["/v1/apps/hello/builds", "/v1/apps/hello/logs", "/v1/apps/hello/logs?follow=true"] {
        // An outsider is told the app does not exist, as for an app that does not.
        let message = carol.get(path).await.expect_error(404, "not_found");
        let missing = alice.get(&path.replace("hello", "nothing")).await.expect_error(404, "not_found");
        assert_eq!(message, missing.replace("nothing", "hello"), "{path}");
        platform.anonymous().get(path).await.expect_error(401, "unauthenticated");
        platform.anonymous().with_token("paas_nope").get(path).await.expect_error(401, "unauthenticated");
    }
}

#[tokio::test]
async fn logs_without_docker_say_they_need_the_engine() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    for path in
        ["/v1/apps/hello/logs", "/v1/apps/hello/logs?lines=5&follow=true", "/v1/apps/hello/logs?follow=false"]
    {
        let reply = admin.get(path).await;
        assert_eq!(reply.status, 503, "{path}: {}", reply.body);
        assert_eq!(reply.body["error"], "unavailable");
        let hint = reply.body["hint"].as_str().unwrap_or_default();
        assert!(hint.contains("Docker engine") && hint.contains("PAAS_DOCKER=on"), "{}", reply.body);
    }
}

#[tokio::test]
async fn bad_log_requests_are_refused() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    for query in ["lines=-1", "lines=10001", "lines=abc", "lines=", "lines=1.5", "follow=maybe", "follow=1"] {
        let message =
            admin.get(&format!("/v1/apps/hello/logs?{query}")).await.expect_error(400, "invalid_request");
        assert!(message.contains("lines") || message.contains("query"), "{query}: {message}");
    }
    let message = admin.get("/v1/apps/hello/logs?lines=10001").await.expect_error(400, "invalid_request");
    assert_eq!(message, "lines must be 0 to 10000");
    // The edges are fine (and then there is no engine).
    for query in ["lines=0", "lines=10000&follow=true"] {
        admin.get(&format!("/v1/apps/hello/logs?{query}")).await.expect_error(503, "unavailable");
    }
}
