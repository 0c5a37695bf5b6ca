//! Apps and who may see and change them.

use paas_tests::spawn_controller;
use serde_json::json;

#[tokio::test]
async fn create_list_info_destroy() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let app = admin.create_app("hello").await;
    assert_eq!(app["name"], "hello");
    assert_eq!(app["owner"], "admin");
    assert_eq!(app["release"], 1);
    assert_eq!(app["url"], "http://hello.paas.test");

    let apps = admin.get("/v1/apps").await.expect(200);
    assert_eq!(apps.as_array().unwrap().len(), 1);

    let info = admin.get("/v1/apps/hello").await.expect(200);
    assert_eq!(info["git_url"], "http://git.paas.test/hello.git");
    assert_eq!(info["collaborators"], json!([{"username": "admin", "role": "owner"}]));
    assert_eq!(info["domains"][0]["hostname"], "hello.paas.test");
    assert_eq!(info["formation"], json!([]));

    let releases = admin.get("/v1/apps/hello/releases").await.expect(200);
    assert_eq!(releases[0]["version"], 1);
    assert_eq!(releases[0]["summary"], "Initial release");
}

#[tokio::test]
async fn duplicate_invalid_and_reserved_names_are_refused() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    admin.post("/v1/apps", json!({"name": "hello"})).await.expect_error(409, "already_exists");
    for bad in ["Hello", "h", "1abc", "with_underscore", "paas", "www", "git", "registry", &"a".repeat(31)] {
        admin.post("/v1/apps", json!({"name": bad})).await.expect_error(400, "invalid_request");
    }
    assert_eq!(admin.get("/v1/apps").await.expect(200).as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn destroy_removes_everything_of_the_app() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    admin.config_set("hello", &[("A", "1")]).await;
    admin.post("/v1/apps/hello/domains", json!({"hostname": "www.example.com"})).await.expect(201);
    admin.delete("/v1/apps/hello").await.expect(204);
    admin.get("/v1/apps/hello").await.expect_error(404, "not_found");
    admin.delete("/v1/apps/hello").await.expect_error(404, "not_found");
    // The name and the domain are free again; the new app starts at v1 with no config.
    let again = admin.create_app("hello").await;
    assert_eq!(again["release"], 1);
    assert_eq!(admin.get("/v1/apps/hello/config").await.expect(200)["values"], json!({}));
    admin.post("/v1/apps/hello/domains", json!({"hostname": "www.example.com"})).await.expect(201);
}

#[tokio::test]
async fn other_users_can_neither_see_nor_change_an_app() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let alice = platform.user(&admin, "alice").await;
    let mallory = platform.user(&admin, "mallory").await;
    alice.create_app("secret-app").await;
    alice.config_set("secret-app", &[("TOKEN", "s3cret")]).await;

    assert!(mallory.get("/v1/apps").await.expect(200).as_array().unwrap().is_empty());
    let reads = [
        "/v1/apps/secret-app",
        "/v1/apps/secret-app/config",
        "/v1/apps/secret-app/releases",
        "/v1/apps/secret-app/releases/v1",
        "/v1/apps/secret-app/formation",
        "/v1/apps/secret-app/processes",
        "/v1/apps/secret-app/domains",
        "/v1/apps/secret-app/collaborators",
        "/v1/apps/secret-app/events",
    ];
    for path in reads {
        let message = mallory.get(path).await.expect_error(404, "not_found");
        assert!(!message.contains("s3cret"));
    }
    // The same answer as for an app that does not exist at all.
    let hidden = mallory.get("/v1/apps/secret-app").await.body;
    let missing = mallory.get("/v1/apps/no-such-app").await.body;
    assert_eq!((&hidden["error"], &hidden["hint"]), (&missing["error"], &missing["hint"]));

    mallory
        .patch("/v1/apps/secret-app/config", json!({"values": {"TOKEN": "pwned"}}))
        .await
        .expect_error(404, "not_found");
    mallory.post("/v1/apps/secret-app/rollback", json!({})).await.expect_error(404, "not_found");
    mallory
        .patch("/v1/apps/secret-app/formation", json!({"updates": [{"type": "web", "quantity": 5}]}))
        .await
        .expect_error(404, "not_found");
    mallory
        .post("/v1/apps/secret-app/domains", json!({"hostname": "evil.example.com"}))
        .await
        .expect_error(404, "not_found");
    mallory.delete("/v1/apps/secret-app/domains/x.example.com").await.expect_error(404, "not_found");
    mallory
        .post("/v1/apps/secret-app/collaborators", json!({"username": "mallory"}))
        .await
        .expect_error(404, "not_found");
    mallory.delete("/v1/apps/secret-app").await.expect_error(404, "not_found");

    let config = alice.get("/v1/apps/secret-app/config").await.expect(200);
    assert_eq!(config["values"], json!({"TOKEN": "s3cret"}));
    assert_eq!(config["release"], 2);
    // Admins see every app.
    assert_eq!(admin.get("/v1/apps").await.expect(200).as_array().unwrap().len(), 1);
    admin.get("/v1/apps/secret-app/config").await.expect(200);
}

#[tokio::test]
async fn collaborators_act_on_the_app_but_only_owners_destroy_or_share_it() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let alice = platform.user(&admin, "alice").await;
    let bob = platform.user(&admin, "bob").await;
    platform.user(&admin, "carol").await;
    alice.create_app("shared").await;

    let added = alice.post("/v1/apps/shared/collaborators", json!({"username": "bob"})).await.expect(201);
    assert_eq!(added["role"], "collaborator");
    alice
        .post("/v1/apps/shared/collaborators", json!({"username": "bob"}))
        .await
        .expect_error(409, "already_exists");
    alice
        .post("/v1/apps/shared/collaborators", json!({"username": "alice"}))
        .await
        .expect_error(409, "conflict");
    alice
        .post("/v1/apps/shared/collaborators", json!({"username": "nobody"}))
        .await
        .expect_error(404, "not_found");
    let people = alice.get("/v1/apps/shared/collaborators").await.expect(200);
    assert_eq!(
        people,
        json!([{"username": "alice", "role": "owner"}, {"username": "bob", "role": "collaborator"}])
    );

    assert_eq!(bob.get("/v1/apps").await.expect(200)[0]["name"], "shared");
    assert_eq!(bob.config_set("shared", &[("BY", "bob")]).await, 2);
    bob.post("/v1/apps/shared/collaborators", json!({"username": "carol"}))
        .await
        .expect_error(403, "forbidden");
    bob.delete("/v1/apps/shared").await.expect_error(403, "forbidden");

    alice.delete("/v1/apps/shared/collaborators/bob").await.expect(204);
    alice.delete("/v1/apps/shared/collaborators/bob").await.expect_error(404, "not_found");
    bob.get("/v1/apps/shared").await.expect_error(404, "not_found");
    alice.delete("/v1/apps/shared").await.expect(204);
}
