//! Users (admin) and API tokens.

use paas_tests::spawn_controller;
use serde_json::json;
use sqlx::Connection;

#[tokio::test]
async fn only_admins_manage_users() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let bob = platform.user(&admin, "bob").await;
    bob.get("/v1/users").await.expect_error(403, "forbidden");
    bob.patch("/v1/users/bob", json!({"admin": true})).await.expect_error(403, "forbidden");

    let users = admin.get("/v1/users").await.expect(200);
    let names: Vec<&str> =
        users.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "bob"]);

    let promoted = admin.patch("/v1/users/bob", json!({"admin": true})).await.expect(200);
    assert_eq!(promoted["admin"], true);
    bob.get("/v1/users").await.expect(200);
    admin.patch("/v1/users/nobody", json!({"admin": true})).await.expect_error(404, "not_found");
    admin.patch("/v1/users/bob", json!({})).await.expect_error(400, "invalid_request");
}

#[tokio::test]
async fn the_last_admin_stays_an_admin() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.patch("/v1/users/admin", json!({"admin": false})).await.expect_error(409, "conflict");
    admin.patch("/v1/users/admin", json!({"disabled": true})).await.expect_error(409, "conflict");
    let me = admin.get("/v1/auth/whoami").await.expect(200);
    assert_eq!((me["admin"].clone(), me["disabled"].clone()), (json!(true), json!(false)));
}

#[tokio::test]
async fn tokens_are_shown_once_stored_hashed_and_revocable() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let created = admin.post("/v1/tokens", json!({"description": "ci"})).await.expect(201);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("paas_"));
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));

    let with_token = platform.anonymous().with_token(&secret);
    assert_eq!(with_token.get("/v1/auth/whoami").await.expect(200)["username"], "admin");
    with_token.create_app("made-by-token").await;

    let listed = admin.get("/v1/tokens").await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret), "a listing never shows the secret");
    assert_eq!(listed[0]["description"], "ci");

    // The database holds the SHA-256 of the secret, never the secret.
    let mut conn = sqlx::AnyConnection::connect(&platform.database.url).await.unwrap();
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT token_hash FROM api_tokens").fetch_all(&mut conn).await.unwrap();
    assert_eq!(stored, [paas_controller::auth::hash_api_token(&secret)]);
    let dump: Vec<(String, String)> =
        sqlx::query_as("SELECT description, prefix FROM api_tokens").fetch_all(&mut conn).await.unwrap();
    assert!(!format!("{dump:?}").contains(&secret[8..]));
    conn.close().await.unwrap();

    let id = created["id"].as_i64().unwrap();
    admin.delete(&format!("/v1/tokens/{id}")).await.expect(204);
    with_token.get("/v1/auth/whoami").await.expect_error(401, "unauthenticated");
    admin.delete(&format!("/v1/tokens/{id}")).await.expect_error(404, "not_found");
}

#[tokio::test]
async fn a_user_cannot_revoke_someone_elses_token() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let bob = platform.user(&admin, "bob").await;
    let created = admin.post("/v1/tokens", json!({})).await.expect(201);
    let id = created["id"].as_i64().unwrap();
    bob.delete(&format!("/v1/tokens/{id}")).await.expect_error(404, "not_found");
    assert!(bob.get("/v1/tokens").await.expect(200).as_array().unwrap().is_empty());
    admin.with_token(created["secret"].as_str().unwrap()).get("/v1/auth/whoami").await.expect(200);
}
