//! The audit log.

use paas_tests::spawn_controller;
use serde_json::json;

#[tokio::test]
async fn every_mutation_leaves_an_event() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let bob = platform.user(&admin, "bob").await;
    admin.create_app("hello").await;
    admin.config_set("hello", &[("SECRET", "do-not-log-me")]).await;
    admin.post("/v1/apps/hello/rollback", json!({})).await.expect(201);
    admin
        .patch("/v1/apps/hello/formation", json!({"updates": [{"type": "web", "quantity": 1}]}))
        .await
        .expect(200);
    admin.post("/v1/apps/hello/domains", json!({"hostname": "www.example.com"})).await.expect(201);
    admin.delete("/v1/apps/hello/domains/www.example.com").await.expect(204);
    admin.post("/v1/apps/hello/collaborators", json!({"username": "bob"})).await.expect(201);
    admin.delete("/v1/apps/hello/collaborators/bob").await.expect(204);
    let token = admin.post("/v1/tokens", json!({"description": "ci"})).await.expect(201);
    admin.delete(&format!("/v1/tokens/{}", token["id"])).await.expect(204);
    admin.patch("/v1/users/bob", json!({"admin": true})).await.expect(200);
    admin.delete("/v1/apps/hello").await.expect(204);

    let events = admin.get("/v1/events?limit=50").await.expect(200);
    let actions: Vec<(&str, &str, Option<&str>)> = events
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap(), e["app"].as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("admin", "user.register", None),
            ("admin", "user.register", None),
            ("admin", "app.create", Some("hello")),
            ("admin", "config.update", Some("hello")),
            ("admin", "release.rollback", Some("hello")),
            ("admin", "formation.scale", Some("hello")),
            ("admin", "domain.add", Some("hello")),
            ("admin", "domain.remove", Some("hello")),
            ("admin", "perms.add", Some("hello")),
            ("admin", "perms.remove", Some("hello")),
            ("admin", "token.create", None),
            ("admin", "token.revoke", None),
            ("admin", "user.update", None),
            ("admin", "app.destroy", Some("hello")),
        ]
    );
    assert!(!events.to_string().contains("do-not-log-me"), "config values never reach the audit log");
    // The log of a destroyed app stays readable by admins.
    let of_app = admin.get("/v1/events?app=hello").await.expect(200);
    assert_eq!(of_app.as_array().unwrap().len(), 9);

    bob.get("/v1/events").await.expect(200); // bob was promoted
    admin.patch("/v1/users/bob", json!({"admin": false})).await.expect(200);
    bob.get("/v1/events").await.expect_error(403, "forbidden");
    admin.get("/v1/events?limit=0").await.expect_error(400, "invalid_request");
    admin.get("/v1/events?limit=abc").await.expect_error(400, "invalid_request");
}

#[tokio::test]
async fn app_events_are_for_those_who_may_see_the_app() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let bob = platform.user(&admin, "bob").await;
    bob.create_app("bobs").await;
    bob.config_set("bobs", &[("A", "1")]).await;
    let events = bob.get("/v1/apps/bobs/events").await.expect(200);
    let actions: Vec<&str> =
        events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["config.update", "app.create"]);
    assert_eq!(events[0]["detail"], "v2: A");
    let carol = platform.user(&admin, "carol").await;
    carol.get("/v1/apps/bobs/events").await.expect_error(404, "not_found");
}
