//! Registration, login and credentials.

use paas_controller::RegistrationMode;
use paas_tests::{spawn_controller, spawn_controller_with, PASSWORD};
use serde_json::json;

#[tokio::test]
async fn the_first_user_is_an_admin_and_later_ones_need_one() {
    let platform = spawn_controller().await;
    let anon = platform.anonymous();
    let first =
        anon.post("/v1/auth/register", json!({"username": "alice", "password": PASSWORD})).await.expect(201);
    assert_eq!(first["username"], "alice");
    assert_eq!(first["admin"], true);

    // admin_only: nobody but an admin registers anyone.
    anon.post("/v1/auth/register", json!({"username": "bob", "password": PASSWORD}))
        .await
        .expect_error(403, "forbidden");
    let alice = platform.login("alice").await;
    let bob =
        alice.post("/v1/auth/register", json!({"username": "bob", "password": PASSWORD})).await.expect(201);
    assert_eq!(bob["admin"], false);
    let bob = platform.login("bob").await;
    bob.post("/v1/auth/register", json!({"username": "carol", "password": PASSWORD}))
        .await
        .expect_error(403, "forbidden");
    alice
        .post("/v1/auth/register", json!({"username": "bob", "password": PASSWORD}))
        .await
        .expect_error(409, "already_exists");
}

#[tokio::test]
async fn open_and_disabled_registration() {
    let open = spawn_controller_with(|c| c.registration = RegistrationMode::Open).await;
    open.admin().await;
    let user = open
        .anonymous()
        .post("/v1/auth/register", json!({"username": "bob", "password": PASSWORD}))
        .await
        .expect(201);
    assert_eq!(user["admin"], false);

    let closed = spawn_controller_with(|c| c.registration = RegistrationMode::Disabled).await;
    let admin = closed.admin().await;
    let message = admin
        .post("/v1/auth/register", json!({"username": "bob", "password": PASSWORD}))
        .await
        .expect_error(403, "forbidden");
    assert!(message.contains("disabled"), "{message}");
    let platform = closed.anonymous().get("/v1/platform").await.expect(200);
    assert_eq!(platform["registration"], "disabled");
}

#[tokio::test]
async fn registration_refuses_bad_names_and_passwords() {
    let platform = spawn_controller().await;
    let anon = platform.anonymous();
    for (body, needle) in [
        (json!({"username": "Alice", "password": PASSWORD}), "username"),
        (json!({"username": "a", "password": PASSWORD}), "username"),
        (json!({"username": "alice", "password": "short"}), "password"),
    ] {
        let message = anon.post("/v1/auth/register", body).await.expect_error(400, "invalid_request");
        assert!(message.contains(needle), "{message}");
        assert!(!message.contains("short"), "the password must not be echoed: {message}");
    }
}

#[tokio::test]
async fn login_gives_a_jwt_that_whoami_accepts() {
    let platform = spawn_controller().await;
    platform.admin().await;
    let anon = platform.anonymous();
    let session =
        anon.post("/v1/auth/login", json!({"username": "admin", "password": PASSWORD})).await.expect(200);
    assert!(session["expires_at"].as_str().unwrap().ends_with('Z'));
    let token = session["token"].as_str().unwrap();
    let me = anon.with_token(token).get("/v1/auth/whoami").await.expect(200);
    assert_eq!(me["username"], "admin");

    anon.post("/v1/auth/login", json!({"username": "admin", "password": "wrong password"}))
        .await
        .expect_error(401, "unauthenticated");
    anon.post("/v1/auth/login", json!({"username": "nobody", "password": PASSWORD}))
        .await
        .expect_error(401, "unauthenticated");
}

#[tokio::test]
async fn missing_forged_expired_and_unsigned_tokens_are_refused() {
    let platform = spawn_controller_with(|c| c.jwt_ttl = std::time::Duration::from_secs(60)).await;
    let admin = platform.admin().await;
    let anon = platform.anonymous();
    anon.get("/v1/auth/whoami").await.expect_error(401, "unauthenticated");
    anon.get("/v1/apps").await.expect_error(401, "unauthenticated");

    let token = admin.token.clone().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    // alg: none, same claims, no signature.
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    // A signature made with another key.
    let forged = format!("{}.{}.{}", parts[0], parts[1], "c2lnbmF0dXJlIG1hZGUgd2l0aCBhbm90aGVyIGtleQ");
    // Tampered claims under the original signature.
    let tampered = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    for bad in [none.as_str(), forged.as_str(), tampered.as_str(), "garbage", "paas_0000"] {
        anon.with_token(bad).get("/v1/auth/whoami").await.expect_error(401, "unauthenticated");
    }
    anon.get_with_authorization("/v1/auth/whoami", &format!("Basic {token}"))
        .await
        .expect_error(401, "unauthenticated");

    // A token signed with this platform's own key but already expired.
    let expired = expired_token(&platform.config.data_dir.join(paasd::JWT_KEY_FILE));
    let message = anon.with_token(&expired).get("/v1/auth/whoami").await.expect_error(401, "unauthenticated");
    assert!(message.contains("expired"), "{message}");
}

/// A JWT for user 1 that expired an hour ago, signed with the platform's key.
fn expired_token(key_file: &std::path::Path) -> String {
    let secret = std::fs::read_to_string(key_file).unwrap();
    let secret = decode_hex(secret.trim());
    let keys = paas_controller::auth::JwtKeys::new(&secret, std::time::Duration::from_secs(60));
    keys.issue_at(1, "admin", 0).unwrap().0
}

fn decode_hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[tokio::test]
async fn a_disabled_user_is_locked_out_at_once() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let bob = platform.user(&admin, "bob").await;
    let bob_token = bob.post("/v1/tokens", json!({"description": "ci"})).await.expect(201)["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    admin.patch("/v1/users/bob", json!({"disabled": true})).await.expect(200);

    bob.get("/v1/auth/whoami").await.expect_error(403, "forbidden");
    bob.with_token(&bob_token).get("/v1/apps").await.expect_error(403, "forbidden");
    platform
        .anonymous()
        .post("/v1/auth/login", json!({"username": "bob", "password": PASSWORD}))
        .await
        .expect_error(403, "forbidden");

    admin.patch("/v1/users/bob", json!({"disabled": false})).await.expect(200);
    bob.get("/v1/auth/whoami").await.expect(200);
}
