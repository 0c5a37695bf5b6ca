//! Domains and formation.

use paas_tests::spawn_controller;
use serde_json::json;

#[tokio::test]
async fn custom_domains_are_unique_across_apps() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("one").await;
    admin.create_app("two").await;
    let added = admin.post("/v1/apps/one/domains", json!({"hostname": "WWW.Example.com."})).await.expect(201);
    assert_eq!(
        (added["hostname"].clone(), added["kind"].clone()),
        (json!("www.example.com"), json!("custom"))
    );
    admin
        .post("/v1/apps/one/domains", json!({"hostname": "www.example.com"}))
        .await
        .expect_error(409, "already_exists");
    admin
        .post("/v1/apps/two/domains", json!({"hostname": "www.example.com"}))
        .await
        .expect_error(409, "already_exists");

    let domains = admin.get("/v1/apps/one/domains").await.expect(200);
    let names: Vec<(&str, &str)> = domains
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["hostname"].as_str().unwrap(), d["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("one.paas.test", "default"), ("www.example.com", "custom")]);

    for bad in [
        "not a host",
        "-x.example.com",
        "1.2.3.4",
        "localhost",
        "paas.test",
        "two.paas.test",
        "paas.paas.test",
        "",
    ] {
        admin
            .post("/v1/apps/one/domains", json!({"hostname": bad}))
            .await
            .expect_error(400, "invalid_request");
    }
    admin.post("/v1/apps/two/domains", json!({"hostname": "*.example.org"})).await.expect(201);

    admin.delete("/v1/apps/two/domains/www.example.com").await.expect_error(404, "not_found");
    admin.delete("/v1/apps/one/domains/www.example.com").await.expect(204);
    admin.post("/v1/apps/two/domains", json!({"hostname": "www.example.com"})).await.expect(201);
}

#[tokio::test]
async fn scaling_is_recorded_and_is_not_a_release() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    let formation = admin
        .patch(
            "/v1/apps/hello/formation",
            json!({"updates": [{"type": "web", "quantity": 2}, {"type": "worker", "quantity": 1}]}),
        )
        .await
        .expect(200);
    assert_eq!(formation, json!([{"type": "web", "quantity": 2}, {"type": "worker", "quantity": 1}]));
    admin
        .patch("/v1/apps/hello/formation", json!({"updates": [{"type": "web", "quantity": 0}]}))
        .await
        .expect(200);
    let formation = admin.get("/v1/apps/hello/formation").await.expect(200);
    assert_eq!(formation, json!([{"type": "web", "quantity": 0}, {"type": "worker", "quantity": 1}]));
    assert_eq!(admin.get("/v1/apps/hello").await.expect(200)["release"], 1);

    for bad in [
        json!({"updates": []}),
        json!({"updates": [{"type": "Web", "quantity": 1}]}),
        json!({"updates": [{"type": "web", "quantity": 101}]}),
        json!({"updates": [{"type": "web", "quantity": -1}]}),
        json!({"updates": [{"type": "web"}]}),
    ] {
        admin.patch("/v1/apps/hello/formation", bad).await.expect_error(400, "invalid_request");
    }
    assert_eq!(admin.get("/v1/apps/hello/formation").await.expect(200), formation);
}
