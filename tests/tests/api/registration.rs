//! The registration mode at run time: `GET/PUT /v1/platform/registration` (admins
//! only), stored so that it wins over the start-up `PAAS_REGISTRATION`, restarts
//! included, with an audit event for each change.

use paas_controller::RegistrationMode;
use paas_tests::{spawn_controller, spawn_controller_with, PASSWORD};
use serde_json::json;

fn bob() -> serde_json::Value {
    json!({"username": "bob", "password": PASSWORD})
}

#[tokio::test]
async fn the_start_up_mode_holds_until_an_admin_sets_another() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let settings = admin.get("/v1/platform/registration").await.expect(200);
    assert_eq!(settings, json!({"mode": "admin_only", "changed_by": null, "changed_at": null}));

    let open = admin.put("/v1/platform/registration", json!({"mode": "open"})).await.expect(200);
    assert_eq!((open["mode"].clone(), open["changed_by"].clone()), (json!("open"), json!("admin")));
    assert!(open["changed_at"].as_str().unwrap().ends_with('Z'), "{open}");
    assert_eq!(admin.get("/v1/platform/registration").await.expect(200), open);
    assert_eq!(platform.anonymous().get("/v1/platform").await.expect(200)["registration"], "open");

    // Open: anyone registers, and is no admin.
    let user = platform.anonymous().post("/v1/auth/register", bob()).await.expect(201);
    assert_eq!(user["admin"], false);

    // Disabled: nobody, not even an admin.
    admin.put("/v1/platform/registration", json!({"mode": "disabled"})).await.expect(200);
    let carol = json!({"username": "carol", "password": PASSWORD});
    let message = admin.post("/v1/auth/register", carol).await.expect_error(403, "forbidden");
    assert!(message.contains("disabled"), "{message}");

    let events = admin.get("/v1/events").await.expect(200);
    let changes: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "registration.set")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["disabled", "open"], "newest first");
    assert!(events[0]["app"].is_null() && events[0]["actor"] == "admin");
}

#[tokio::test]
async fn the_stored_mode_wins_over_the_start_up_one_after_a_restart() {
    let mut platform = spawn_controller_with(|c| c.registration = RegistrationMode::Open).await;
    let admin = platform.admin().await;
    admin.put("/v1/platform/registration", json!({"mode": "admin_only"})).await.expect(200);
    platform.restart().await;
    assert_eq!(platform.anonymous().get("/v1/platform").await.expect(200)["registration"], "admin_only");
    platform.anonymous().post("/v1/auth/register", bob()).await.expect_error(403, "forbidden");
    let admin = platform.login("admin").await;
    let settings = admin.get("/v1/platform/registration").await.expect(200);
    assert_eq!(settings["changed_by"], "admin");
    admin.post("/v1/auth/register", bob()).await.expect(201);
}

#[tokio::test]
async fn only_admins_see_or_set_the_mode() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let bob = platform.user(&admin, "bob").await;
    bob.get("/v1/platform/registration").await.expect_error(403, "forbidden");
    bob.put("/v1/platform/registration", json!({"mode": "open"})).await.expect_error(403, "forbidden");
    let anon = platform.anonymous();
    anon.get("/v1/platform/registration").await.expect_error(401, "unauthenticated");
    anon.put("/v1/platform/registration", json!({"mode": "open"})).await.expect_error(401, "unauthenticated");
    assert_eq!(anon.get("/v1/platform").await.expect(200)["registration"], "admin_only");
    let events = admin.get("/v1/events").await.expect(200);
    assert!(!events.as_array().unwrap().iter().any(|e| e["action"] == "registration.set"));
}

#[tokio::test]
async fn a_mode_that_does_not_exist_is_refused_with_a_hint() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    for mode in ["sometimes", "Open", "", "admin-only"] {
        let reply = admin.put("/v1/platform/registration", json!({"mode": mode})).await;
        assert_eq!(
            reply.body["hint"].as_str().map(|h| h.contains("admin_only")),
            Some(true),
            "{}",
            reply.body
        );
        let message = reply.expect_error(400, "invalid_request");
        assert!(message.contains("registration mode"), "{message}");
    }
    admin.put("/v1/platform/registration", json!({})).await.expect_error(400, "invalid_request");
    admin.put("/v1/platform/registration", json!({"mode": 3})).await.expect_error(400, "invalid_request");
    let settings = admin.get("/v1/platform/registration").await.expect(200);
    assert_eq!(settings["mode"], "admin_only");
    assert!(settings["changed_by"].is_null(), "nothing was stored");
}
