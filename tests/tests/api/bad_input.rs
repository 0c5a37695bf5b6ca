//! Malformed, oversized and misdirected requests get a JSON 4xx and change nothing.

use paas_tests::spawn_controller;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_a_400_with_a_json_body() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    let cases: [(&str, &[u8]); 4] = [
        ("application/json", b"{\"values\": {\"A\": \"1\""),
        ("application/json", b"not json at all"),
        ("application/json", b"[1, 2, 3]"),
        ("text/plain", b"{\"values\": {\"A\": \"1\"}}"),
    ];
    for (content_type, body) in cases {
        admin
            .raw(Method::PATCH, "/v1/apps/hello/config", content_type, body.to_vec())
            .await
            .expect_error(400, "invalid_request");
    }
    assert_eq!(admin.get("/v1/apps/hello").await.expect(200)["release"], 1);
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    let huge = format!("{{\"values\": {{\"A\": \"{}\"}}}}", "x".repeat(2 * 1024 * 1024));
    admin
        .raw(Method::PATCH, "/v1/apps/hello/config", "application/json", huge.into_bytes())
        .await
        .expect_error(413, "payload_too_large");
    assert_eq!(admin.get("/v1/apps/hello").await.expect(200)["release"], 1);
}

#[tokio::test]
async fn config_that_would_outgrow_its_limit_is_refused_whole() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    let value = "x".repeat(32 * 1024);
    // 31 values of 32 KiB fit in 1 MiB; one more request of 2 does not.
    let first: serde_json::Map<String, serde_json::Value> =
        (0..31).map(|i| (format!("K{i}"), json!(value))).collect();
    admin.patch("/v1/apps/hello/config", json!({"values": first})).await.expect(200);
    let message = admin
        .patch("/v1/apps/hello/config", json!({"values": {"X1": value, "X2": value}}))
        .await
        .expect_error(400, "invalid_request");
    assert!(message.contains("1 MiB"), "{message}");
    assert_eq!(admin.get("/v1/apps/hello").await.expect(200)["release"], 2);
}

#[tokio::test]
async fn unknown_endpoints_and_bad_paths_answer_in_json() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.get("/v1/nothing-here").await.expect_error(404, "not_found");
    admin.get("/nothing").await.expect_error(404, "not_found");
    admin.delete("/v1/tokens/not-a-number").await.expect_error(400, "invalid_request");
    admin.post("/v1/apps", json!({"nom": "hello"})).await.expect_error(400, "invalid_request");
}

#[tokio::test]
async fn platform_health_and_readiness() {
    let platform = spawn_controller().await;
    let anon = platform.anonymous();
    let info = anon.get("/v1/platform").await.expect(200);
    assert_eq!(info["domain"], "paas.test");
    assert_eq!(info["git_url"], "http://git.paas.test");
    assert_eq!(info["registration"], "admin_only");
    assert_eq!(info["api_url"], platform.url.as_str());
    assert_eq!(anon.get("/healthz").await.status, 200);
    assert_eq!(anon.get("/readyz").await.status, 200);
}

#[tokio::test]
async fn graceful_shutdown_ends_cleanly() {
    let platform = spawn_controller().await;
    platform.admin().await;
    let url = platform.url.clone();
    platform.stop().await.expect("paasd stops without error");
    assert!(reqwest::get(format!("{url}/healthz")).await.is_err(), "nothing listens after shutdown");
}
