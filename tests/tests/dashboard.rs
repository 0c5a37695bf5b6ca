//! Page tests of the dashboard against the real controller (paasd in-process, no
//! Docker but for the platform page's engine): every page's status, its key content and
//! who may see it, sign-in and sign-out with the session cookie, and every form refused
//! without its CSRF token.

use paas_tests::dashboard::Browser;
use paas_tests::docker::DockerCleanup;
use paas_tests::{spawn_controller, spawn_controller_with, ApiClient, TestPlatform, PASSWORD};
use serde_json::json;

/// A platform with an admin, alice (a user with an app and a secret) and mallory.
async fn platform_with_people() -> (TestPlatform, ApiClient, ApiClient) {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let alice = platform.user(&admin, "alice").await;
    platform.user(&admin, "mallory").await;
    alice.create_app("alice-app").await;
    alice.config_set("alice-app", &[("SECRET", "hunter2-value"), ("GREETING", "hi")]).await;
    admin.create_app("admin-app").await;
    (platform, admin, alice)
}

#[tokio::test]
async fn signing_in_sets_a_safe_session_cookie_and_signing_out_ends_it() {
    let platform = spawn_controller().await;
    platform.admin().await;
    let browser = Browser::new(&platform.url);

    browser.get("/").await.expect_redirect("/dashboard/apps");
    browser.get("/dashboard/apps").await.expect_redirect("/dashboard/sign-in");

    let form = browser.get("/dashboard/sign-in").await;
    assert!(form.expect(200).contains(r#"<label for="password">Password</label>"#));
    let nonce = form.set_cookie("paas_sign_in").expect("the sign-in cookie");
    assert!(nonce.contains("HttpOnly") && nonce.contains("SameSite=Lax"), "{nonce}");

    let wrong = browser.sign_in("admin", "not the password at all").await;
    assert!(wrong.expect(401).contains("wrong username or password"));
    assert!(wrong.contains(r#"value="admin""#), "the username stays in the form");
    assert!(!browser.has_cookie("paas_session"));

    let signed_in = browser.sign_in("admin", PASSWORD).await;
    signed_in.expect_redirect("/dashboard/apps");
    let session = signed_in.set_cookie("paas_session").expect("the session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(session.contains("Path=/dashboard"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP gets no Secure flag: {session}");
    assert!(!signed_in.set_cookies.iter().any(|c| c.contains(PASSWORD)));

    let apps = browser.get("/dashboard/apps").await;
    assert!(apps.expect(200).contains("<h1>Apps</h1>"));
    assert!(apps.content_type.starts_with("text/html"));
    assert!(apps.csp.contains("default-src 'self'"), "{}", apps.csp);

    // Sign-out is a form like any other: refused without the token.
    browser.post("/dashboard/sign-out", &[]).await.expect(403);
    browser.get("/dashboard/apps").await.expect(200);
    let csrf = apps.csrf();
    let out = browser.post("/dashboard/sign-out", &[("csrf", &csrf)]).await;
    out.expect_redirect("/dashboard/sign-in");
    assert!(out.set_cookie("paas_session").is_some_and(|c| c.contains("Max-Age=0")));
    browser.get("/dashboard/apps").await.expect_redirect("/dashboard/sign-in");
}

#[tokio::test]
async fn behind_tls_the_session_cookie_is_secure() {
    let platform = spawn_controller().await;
    platform.admin().await;
    let mut browser = Browser::new(&platform.url);
    browser.headers.push(("x-forwarded-proto".into(), "https".into()));
    let signed_in = browser.sign_in("admin", PASSWORD).await;
    signed_in.expect_redirect("/dashboard/apps");
    let session = signed_in.set_cookie("paas_session").expect("the session cookie");
    assert!(session.contains("; Secure"), "{session}");
}

#[tokio::test]
async fn a_sign_in_without_its_csrf_token_is_refused() {
    let platform = spawn_controller().await;
    platform.admin().await;
    let browser = Browser::new(&platform.url);
    // No form was opened: no sign-in cookie, no token.
    let page = browser.post("/dashboard/sign-in", &[("username", "admin"), ("password", PASSWORD)]).await;
    assert!(page.expect(403).contains("CSRF"));
    // A token of another browser's form does not fit this browser's cookie.
    let other = Browser::new(&platform.url);
    let token = other.get("/dashboard/sign-in").await.csrf();
    browser.get("/dashboard/sign-in").await;
    let form = [("username", "admin"), ("password", PASSWORD), ("csrf", token.as_str())];
    browser.post("/dashboard/sign-in", &form).await.expect(403);
    assert!(!browser.has_cookie("paas_session"));
}

#[tokio::test]
async fn disabled_users_are_out_at_once() {
    let (platform, admin, _alice) = platform_with_people().await;
    let browser = Browser::signed_in(&platform.url, "alice").await;
    browser.get("/dashboard/apps").await.expect(200);
    admin.patch("/v1/users/alice", json!({ "disabled": true })).await.expect(200);
    browser.get("/dashboard/apps").await.expect_redirect("/dashboard/sign-in");
    let again = Browser::new(&platform.url).sign_in("alice", PASSWORD).await;
    assert!(again.expect(403).contains("disabled"));
}

#[tokio::test]
async fn the_app_list_shows_each_user_only_their_apps_with_status_and_filters() {
    let (platform, admin, alice) = platform_with_people().await;
    alice.scale("alice-app", "web", 2).await;

    let as_alice = Browser::signed_in(&platform.url, "alice").await;
    let page = as_alice.get("/dashboard/apps").await;
    let body = page.expect(200);
    assert!(body.contains(r#"href="/dashboard/apps/alice-app""#), "{body}");
    assert!(!body.contains("admin-app"), "alice sees only her apps");
    assert!(body.contains("web=2"), "the formation");
    assert!(body.contains("http://alice-app.paas.test"), "the URL");
    assert!(body.contains("status-stopped"), "nothing runs without a scheduler");
    assert!(body.contains(r#"<td data-label="Release">v2</td>"#), "the current release");
    assert!(!body.contains("/dashboard/admin"), "no Admin for a non-admin");

    let as_mallory = Browser::signed_in(&platform.url, "mallory").await;
    let body = as_mallory.get("/dashboard/apps").await.body;
    assert!(!body.contains("alice-app") && !body.contains("admin-app"));

    let as_admin = Browser::signed_in(&platform.url, "admin").await;
    let body = as_admin.get("/dashboard/apps").await.body;
    assert!(body.contains("alice-app") && body.contains("admin-app"));
    assert!(body.contains(r#"href="/dashboard/admin/users""#));
    let filtered = as_admin.get("/dashboard/apps?q=alice").await.body;
    assert!(filtered.contains("alice-app") && !filtered.contains(r#"href="/dashboard/apps/admin-app""#));
    let by_owner = as_admin.get("/dashboard/apps?owner=admin").await.body;
    assert!(
        by_owner.contains(r#"href="/dashboard/apps/admin-app""#)
            && !by_owner.contains("/dashboard/apps/alice-app")
    );
    let running = as_admin.get("/dashboard/apps?status=running").await.body;
    assert!(running.contains("0 of 2 apps"), "{running}");
    drop(admin);
}

#[tokio::test]
async fn the_app_page_shows_releases_formation_config_and_events_to_collaborators_only() {
    let (platform, _admin, alice) = platform_with_people().await;
    alice.scale("alice-app", "web", 1).await;
    let browser = Browser::signed_in(&platform.url, "alice").await;
    let page = browser.get("/dashboard/apps/alice-app").await;
    let body = page.expect(200);
    assert!(body.contains("<h1>alice-app"));
    assert!(
        body.contains("Set SECRET and GREETING config vars")
            || body.contains("Set GREETING and SECRET config vars")
    );
    assert!(body.contains("Initial release"));
    assert!(body.contains("Roll back to v1"), "older releases have the button");
    assert!(!body.contains("Roll back to v2"), "the current one has none");
    assert!(body.contains(r#"<label for="scale-web">web</label>"#), "a labelled scale form");
    assert!(body.contains("SECRET") && !body.contains("hunter2-value"), "values are hidden");
    assert!(body.contains("alice-app.paas.test"), "the domain");
    assert!(body.contains("formation.scale"), "recent events");
    assert!(body.contains(r#"data-log-stream="/dashboard/apps/alice-app/logs/stream""#));
    assert!(body.contains(r#"<script src="/dashboard/static/dashboard.js" defer></script>"#));

    // Mallory is told the app does not exist, on every page and form of it.
    let mallory = Browser::signed_in(&platform.url, "mallory").await;
    let csrf = mallory.csrf().await;
    mallory.get("/dashboard/apps/alice-app").await.expect(404);
    mallory.get("/dashboard/apps/alice-app/logs").await.expect(404);
    mallory.get("/dashboard/apps/alice-app/logs/stream").await.expect(404);
    let reveal =
        mallory.post("/dashboard/apps/alice-app/config/reveal", &[("csrf", &csrf), ("key", "SECRET")]).await;
    assert!(!reveal.expect(404).contains("hunter2-value"));
    let scale = [("csrf", csrf.as_str()), ("type", "web"), ("quantity", "5")];
    mallory.post("/dashboard/apps/alice-app/scale", &scale).await.expect(404);
    let rollback = [("csrf", csrf.as_str()), ("version", "1")];
    mallory.post("/dashboard/apps/alice-app/rollback", &rollback).await.expect(404);
    mallory.post("/dashboard/apps/alice-app/restart", &[("csrf", &csrf)]).await.expect(404);
    assert_eq!(alice.get("/v1/apps/alice-app/releases").await.expect(200).as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_config_value_is_revealed_on_request_and_never_without_the_token() {
    let (platform, _admin, _alice) = platform_with_people().await;
    let browser = Browser::signed_in(&platform.url, "alice").await;
    let page = browser.get("/dashboard/apps/alice-app").await;
    let csrf = page.csrf();
    let refused = browser.post("/dashboard/apps/alice-app/config/reveal", &[("key", "SECRET")]).await;
    assert!(!refused.expect(403).contains("hunter2-value"));
    let revealed =
        browser.post("/dashboard/apps/alice-app/config/reveal", &[("csrf", &csrf), ("key", "SECRET")]).await;
    let body = revealed.expect(200);
    assert!(body.contains("hunter2-value"));
    assert!(!body.contains(r#"<code class="value">hi</code>"#), "only the key asked for");
}

#[tokio::test]
async fn the_scale_form_scales_and_shows_errors_next_to_the_field() {
    let (platform, _admin, alice) = platform_with_people().await;
    alice.scale("alice-app", "web", 1).await;
    let browser = Browser::signed_in(&platform.url, "alice").await;
    let csrf = browser.get("/dashboard/apps/alice-app").await.csrf();

    let no_token = [("type", "web"), ("quantity", "4")];
    browser.post("/dashboard/apps/alice-app/scale", &no_token).await.expect(403);
    let wrong_token = [("type", "web"), ("quantity", "4"), ("csrf", "00ff")];
    browser.post("/dashboard/apps/alice-app/scale", &wrong_token).await.expect(403);
    let formation = alice.get("/v1/apps/alice-app/formation").await.expect(200);
    assert_eq!(formation, json!([{ "type": "web", "quantity": 1 }]));

    let form = [("csrf", csrf.as_str()), ("type", "web"), ("quantity", "3")];
    browser.post("/dashboard/apps/alice-app/scale", &form).await.expect_redirect("/dashboard/apps/alice-app");
    let formation = alice.get("/v1/apps/alice-app/formation").await.expect(200);
    assert_eq!(formation, json!([{ "type": "web", "quantity": 3 }]));
    assert!(browser.get("/dashboard/apps/alice-app").await.contains(r#"value="3""#));

    let bad = [("csrf", csrf.as_str()), ("type", "web"), ("quantity", "lots")];
    let page = browser.post("/dashboard/apps/alice-app/scale", &bad).await;
    let body = page.expect(400);
    assert!(body.contains(r#"id="scale-web-error""#), "the error is next to the field");
    assert!(body.contains(r#"value="lots""#), "what was typed stays");
    let too_many = [("csrf", csrf.as_str()), ("type", "web"), ("quantity", "100000")];
    assert!(browser
        .post("/dashboard/apps/alice-app/scale", &too_many)
        .await
        .expect(400)
        .contains("scale-web-error"));
}

#[tokio::test]
async fn the_rollback_button_makes_a_new_release_on_top() {
    let (platform, _admin, alice) = platform_with_people().await;
    alice.config_set("alice-app", &[("GREETING", "hello")]).await;
    let browser = Browser::signed_in(&platform.url, "alice").await;
    let csrf = browser.get("/dashboard/apps/alice-app").await.csrf();

    browser.post("/dashboard/apps/alice-app/rollback", &[("version", "2")]).await.expect(403);
    let form = [("csrf", csrf.as_str()), ("version", "2")];
    browser
        .post("/dashboard/apps/alice-app/rollback", &form)
        .await
        .expect_redirect("/dashboard/apps/alice-app");
    let releases = alice.get("/v1/apps/alice-app/releases").await.expect(200);
    assert_eq!(releases[0]["version"], 4);
    assert_eq!(releases[0]["summary"], "Rollback to v2");

    let body = browser.get("/dashboard/apps/alice-app").await.body;
    let top = body.find(r#"data-version="4""#).expect("v4 on the timeline");
    assert!(top < body.find(r#"data-version="3""#).unwrap(), "the new release is on top");
    assert!(body.contains("kind-rollback current"));

    let missing = [("csrf", csrf.as_str()), ("version", "99")];
    let page = browser.post("/dashboard/apps/alice-app/rollback", &missing).await;
    assert!(page.expect(404).contains("release v99 of alice-app not found"));
}

#[tokio::test]
async fn the_restart_button_restarts_and_says_when_there_is_nothing_to_restart() {
    let (platform, _admin, alice) = platform_with_people().await;
    let browser = Browser::signed_in(&platform.url, "alice").await;
    let csrf = browser.get("/dashboard/apps/alice-app").await.csrf();
    let page = browser.post("/dashboard/apps/alice-app/restart", &[("csrf", &csrf)]).await;
    assert!(page.expect(409).contains("has no processes to restart"));

    alice.scale("alice-app", "web", 1).await;
    browser.post("/dashboard/apps/alice-app/restart", &[("type", "web")]).await.expect(403);
    let form = [("csrf", csrf.as_str()), ("type", "web")];
    browser
        .post("/dashboard/apps/alice-app/restart", &form)
        .await
        .expect_redirect("/dashboard/apps/alice-app");
    let events = alice.get("/v1/apps/alice-app/events").await.expect(200);
    assert_eq!(events[0]["action"], "ps.restart");
}

#[tokio::test]
async fn logs_without_an_engine_say_so() {
    let (platform, _admin, _alice) = platform_with_people().await;
    let browser = Browser::signed_in(&platform.url, "alice").await;
    let page = browser.get("/dashboard/apps/alice-app/logs").await;
    assert!(page.expect(200).contains("no Docker engine"));
    let stream = browser.get("/dashboard/apps/alice-app/logs/stream").await;
    assert!(stream.content_type.starts_with("text/event-stream"));
    assert!(stream.expect(200).starts_with("event: unavailable\ndata: "));
}

#[tokio::test]
async fn admin_pages_are_for_admins_only() {
    let (platform, _admin, _alice) = platform_with_people().await;
    let alice = Browser::signed_in(&platform.url, "alice").await;
    let csrf = alice.csrf().await;
    for path in
        ["/dashboard/admin", "/dashboard/admin/users", "/dashboard/admin/audit", "/dashboard/admin/platform"]
    {
        let page = alice.get(path).await;
        assert!(page.expect(403).contains("only admins"), "{path}");
    }
    let create = [("csrf", csrf.as_str()), ("username", "eve"), ("password", PASSWORD)];
    alice.post("/dashboard/admin/users", &create).await.expect(403);
    let promote = [("csrf", csrf.as_str()), ("action", "promote")];
    alice.post("/dashboard/admin/users/alice", &promote).await.expect(403);
    let admin = Browser::signed_in(&platform.url, "admin").await;
    let body = admin.get("/dashboard/admin/users").await.body;
    assert!(body.contains(r#"data-user="alice""#) && !body.contains("eve"));
    assert!(body.contains(r#"<td data-label="Role">user</td>"#));
}

#[tokio::test]
async fn admins_create_disable_and_promote_users() {
    let (platform, admin_api, _alice) = platform_with_people().await;
    let admin = Browser::signed_in(&platform.url, "admin").await;
    let page = admin.get("/dashboard/admin/users").await;
    assert!(page.expect(200).contains(r#"id="registration">admin_only<"#));
    let csrf = page.csrf();

    admin.post("/dashboard/admin/users", &[("username", "bob"), ("password", PASSWORD)]).await.expect(403);
    let short = [("csrf", csrf.as_str()), ("username", "bob"), ("password", "short")];
    let refused = admin.post("/dashboard/admin/users", &short).await;
    assert!(refused.expect(400).contains(r#"id="new-password-error""#));
    let taken = [("csrf", csrf.as_str()), ("username", "alice"), ("password", PASSWORD)];
    assert!(admin
        .post("/dashboard/admin/users", &taken)
        .await
        .expect(409)
        .contains(r#"id="new-username-error""#));

    let create = [("csrf", csrf.as_str()), ("username", "bob"), ("password", PASSWORD)];
    admin.post("/dashboard/admin/users", &create).await.expect_redirect("/dashboard/admin/users");
    platform.login("bob").await;

    admin.post("/dashboard/admin/users/bob", &[("action", "disable")]).await.expect(403);
    let disable = [("csrf", csrf.as_str()), ("action", "disable")];
    admin.post("/dashboard/admin/users/bob", &disable).await.expect_redirect("/dashboard/admin/users");
    let promote = [("csrf", csrf.as_str()), ("action", "promote")];
    admin.post("/dashboard/admin/users/alice", &promote).await.expect_redirect("/dashboard/admin/users");
    let users = admin_api.get("/v1/users").await.expect(200);
    let user = |name: &str| users.as_array().unwrap().iter().find(|u| u["username"] == name).unwrap().clone();
    assert_eq!(user("bob")["disabled"], true);
    assert_eq!(user("alice")["admin"], true);

    // The last admin stays one; the error is shown beside that user.
    let demote = [("csrf", csrf.as_str()), ("action", "demote")];
    admin.post("/dashboard/admin/users/alice", &demote).await.expect_redirect("/dashboard/admin/users");
    let page = admin.post("/dashboard/admin/users/admin", &demote).await;
    assert!(page.expect(409).contains("at least one enabled admin"));
}

#[tokio::test]
async fn admins_set_the_registration_mode_with_a_form_and_it_holds() {
    let (platform, admin_api, _alice) = platform_with_people().await;
    let admin = Browser::signed_in(&platform.url, "admin").await;
    let page = admin.get("/dashboard/admin/users").await;
    let body = page.expect(200);
    assert!(body.contains(r#"<label for="registration-mode">Who may register</label>"#), "a labelled field");
    assert!(body.contains(r#"<option value="admin_only" selected>"#), "{body}");
    assert!(body.contains("the start-up default, PAAS_REGISTRATION"));
    let csrf = page.csrf();
    let anon = platform.anonymous();
    let bob = json!({"username": "bob", "password": PASSWORD});

    // Without the token nothing changes.
    admin.post("/dashboard/admin/registration", &[("mode", "open")]).await.expect(403);
    admin.post("/dashboard/admin/registration", &[("mode", "open"), ("csrf", "00ff")]).await.expect(403);
    anon.post("/v1/auth/register", bob.clone()).await.expect_error(403, "forbidden");

    // Open: anyone registers.
    let open = [("csrf", csrf.as_str()), ("mode", "open")];
    admin.post("/dashboard/admin/registration", &open).await.expect_redirect("/dashboard/admin/users");
    let body = admin.get("/dashboard/admin/users").await.body;
    assert!(body.contains(r#"id="registration">open<"#) && body.contains("set by admin on "), "{body}");
    assert!(body.contains(r#"<option value="open" selected>"#));
    assert_eq!(anon.get("/v1/platform").await.expect(200)["registration"], "open");
    assert_eq!(anon.post("/v1/auth/register", bob).await.expect(201)["admin"], false);

    // Disabled: nobody, not even the admin's own form.
    let disabled = [("csrf", csrf.as_str()), ("mode", "disabled")];
    admin.post("/dashboard/admin/registration", &disabled).await.expect_redirect("/dashboard/admin/users");
    let carol = [("csrf", csrf.as_str()), ("username", "carol"), ("password", PASSWORD)];
    let refused = admin.post("/dashboard/admin/users", &carol).await;
    assert!(refused.expect(403).contains("registration is disabled"));
    let events = admin_api.get("/v1/events").await.expect(200);
    assert_eq!(
        (events[0]["action"].clone(), events[0]["detail"].clone()),
        (json!("registration.set"), json!("disabled"))
    );

    // A mode that does not exist: the error is next to the field, nothing changes.
    let bad = [("csrf", csrf.as_str()), ("mode", "sometimes")];
    let page = admin.post("/dashboard/admin/registration", &bad).await;
    let body = page.expect(400);
    assert!(
        body.contains(r#"id="registration-mode-error""#)
            && body.contains("expected open, admin_only or disabled")
    );
    assert!(body.contains(r#"aria-describedby="registration-mode-error""#));
    assert!(body.contains(r#"id="registration">disabled<"#));
}

#[tokio::test]
async fn a_non_admin_cannot_set_the_registration_mode() {
    let (platform, admin_api, _alice) = platform_with_people().await;
    let alice = Browser::signed_in(&platform.url, "alice").await;
    let csrf = alice.csrf().await;
    let open = [("csrf", csrf.as_str()), ("mode", "open")];
    assert!(alice.post("/dashboard/admin/registration", &open).await.expect(403).contains("only admins"));
    alice.post("/dashboard/admin/registration", &[("mode", "open")]).await.expect(403);
    Browser::new(&platform.url)
        .post("/dashboard/admin/registration", &open)
        .await
        .expect_redirect("/dashboard/sign-in");
    let settings = admin_api.get("/v1/platform/registration").await.expect(200);
    assert_eq!(
        (settings["mode"].clone(), settings["changed_by"].clone()),
        (json!("admin_only"), json!(null))
    );
}

/// A self-signed certificate for `names`, valid until `days` from now, and its key.
fn cert(names: &[&str], days: i64) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
    params.distinguished_name.push(rcgen::DnType::CommonName, "paas dashboard test");
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

#[tokio::test]
async fn the_app_page_shows_each_domains_certificate_and_its_expiry_never_its_key() {
    let (platform, _admin, alice) = platform_with_people().await;
    for host in ["www.alice.example", "shop.alice.example"] {
        alice.post("/v1/apps/alice-app/domains", json!({"hostname": host})).await.expect(201);
    }
    let (chain, key) = cert(&["alice-app.paas.test", "www.alice.example"], 90);
    let far = alice.post("/v1/apps/alice-app/certs", json!({"chain": chain, "key": key})).await.expect(201);
    let (soon_chain, soon_key) = cert(&["shop.alice.example"], 10);
    let soon = alice
        .post("/v1/apps/alice-app/certs", json!({"chain": soon_chain, "key": soon_key}))
        .await
        .expect(201);

    let browser = Browser::signed_in(&platform.url, "alice").await;
    let body = browser.get("/dashboard/apps/alice-app").await.expect(200).to_owned();
    let row = |host: &str| {
        let start = body.find(&format!(r#"data-host="{host}""#)).unwrap_or_else(|| panic!("{host}:\n{body}"));
        body[start..start + body[start..].find("</tr>").unwrap()].to_owned()
    };
    let www = row("www.alice.example");
    assert!(www.contains("CN=paas dashboard test"), "the issuer: {www}");
    let not_after = &far["not_after"].as_str().unwrap()[..10];
    assert!(www.contains(&format!("<time>{not_after}</time>")), "the expiry date: {www}");
    assert!(www.contains(&format!("({} days left)", far["days_left"])), "{www}");
    assert!(!www.contains("expiring soon"), "{www}");
    assert!(row("alice-app.paas.test").contains("CN=paas dashboard test"), "one certificate, two names");

    let shop = row("shop.alice.example");
    assert!(shop.contains("cert-expiry expiring") && shop.contains("expiring soon"), "{shop}");
    assert!(shop.contains(&format!("({} days left)", soon["days_left"])), "{shop}");
    assert!(body.contains("The certificate for shop.alice.example ("), "a warning above the table");
    assert!(!body.contains("The certificate for alice-app.paas.test"));

    let key_body = |pem: &str| pem.lines().nth(1).unwrap().to_owned();
    for secret in [key_body(&key), key_body(&soon_key)] {
        assert!(!body.contains(&secret), "no key material");
    }
    assert!(!body.contains("PRIVATE KEY"));

    // A domain without one says so; another collaborator's view is the same page.
    alice.post("/v1/apps/alice-app/domains", json!({"hostname": "bare.alice.example"})).await.expect(201);
    let body = browser.get("/dashboard/apps/alice-app").await.body;
    let start = body.find(r#"data-host="bare.alice.example""#).unwrap();
    assert!(body[start..].split("</tr>").next().unwrap().contains("none uploaded"));
}

#[tokio::test]
async fn the_audit_log_covers_every_app_and_filters() {
    let (platform, _admin, _alice) = platform_with_people().await;
    let admin = Browser::signed_in(&platform.url, "admin").await;
    let body = admin.get("/dashboard/admin/audit").await.body;
    assert!(body.contains("config.update") && body.contains("alice-app") && body.contains("admin-app"));
    assert!(!body.contains("hunter2-value"), "events name keys, never values");
    let body = admin.get("/dashboard/admin/audit?app=admin-app").await.body;
    assert!(body.contains("app.create") && !body.contains("config.update"));
    let body = admin.get("/dashboard/admin/audit?actor=alice&action=config").await.body;
    assert!(body.contains("config.update") && !body.contains("app.create"));
}

#[tokio::test]
async fn the_platform_page_shows_its_parts() {
    let (platform, _admin, alice) = platform_with_people().await;
    let admin = Browser::signed_in(&platform.url, "admin").await;
    let page = admin.get("/dashboard/admin/platform").await;
    let body = page.expect(200);
    assert!(body.contains("this platform runs without a Docker engine"));
    assert!(body.contains(r#"id="route-version">version "#));
    assert!(body.contains("Recent failures") && body.contains("No failures."));
    assert!(body.contains(r#"id="registry-size">unknown: no registry runs on this machine<"#), "{body}");
    assert!(body.contains(r#"id="router-rps">0.0/s (0 in the last 60 s)<"#), "{body}");

    // Creating an app changes the route table: its time is shown.
    let version = |body: &str| -> u64 {
        let start =
            body.find(r#"id="route-version">version "#).unwrap() + r#"id="route-version">version "#.len();
        body[start..].split('<').next().unwrap().parse().unwrap()
    };
    let before = version(body);
    alice.create_app("alice-second").await;
    let body = admin.get("/dashboard/admin/platform").await.body;
    assert_eq!(version(&body), before + 1);
    let changed = body.split(r#"id="route-changed">"#).nth(1).unwrap().split("</dd>").next().unwrap();
    assert!(changed.contains(" UTC (") && changed.contains("s ago)"), "{changed}");

    // The requests the routers report, over the last minute.
    let record = json!({
        "at": 1, "app": "alice-app", "method": "GET", "host": "alice-app.paas.test", "path": "/",
        "status": 200, "bytes": 2, "service_us": 10, "upstream": "web.1", "request_id": "r",
        "client": "127.0.0.1"
    });
    let router = platform.anonymous().with_token(&platform.internal_token());
    let batch = json!({"records": vec![record; 27], "dropped": 3});
    assert_eq!(router.post(paas_core::access::ACCESS_PATH, batch).await.status, 204);
    let body = admin.get("/dashboard/admin/platform").await.body;
    assert!(body.contains(r#"id="router-rps">0.5/s (30 in the last 60 s)<"#), "{body}");
}

#[tokio::test]
async fn the_platform_page_shows_the_engine_and_its_disk() {
    let platform = spawn_controller_with(|c| c.docker = true).await;
    let _cleanup = DockerCleanup::new(&platform.platform_id());
    platform.admin().await;
    let admin = Browser::signed_in(&platform.url, "admin").await;
    // A first measurement of the disk use has 2 s to come (container sizes are slow on a
    // busy engine): the page says so when it did not, and a later look shows it.
    let body = paas_tests::eventually("the engine tells its disk use", || async {
        let body = admin.get("/dashboard/admin/platform").await.expect(200).to_owned();
        body.contains(r#"id="engine-disk""#).then_some(body)
    })
    .await;
    assert!(body.contains(r#"id="engine-version">"#), "{body}");
    let disk = body.split(r#"id="engine-disk""#).nth(1).unwrap_or_else(|| panic!("the disk use:\n{body}"));
    let disk = disk.split("</dl>").next().unwrap();
    for kind in ["Images", "Containers", "Volumes", "Build cache"] {
        assert!(disk.contains(&format!("<dt>{kind}</dt><dd>")), "{kind}: {disk}");
    }
    assert!(body.contains("<p class=\"hint\">From the engine"), "where the numbers come from:\n{body}");
    assert!(body.contains("; measured "), "when they were measured:\n{body}");
}

#[tokio::test]
async fn the_style_sheet_and_script_are_served_by_the_platform() {
    let platform = spawn_controller().await;
    let browser = Browser::new(&platform.url);
    let css = browser.get("/dashboard/static/dashboard.css").await;
    assert!(css.content_type.starts_with("text/css"));
    assert!(css.expect(200).contains("@media (max-width: 640px)"), "usable at phone width");
    let js = browser.get("/dashboard/static/dashboard.js").await;
    assert!(js.expect(200).contains("EventSource"));
    let page = browser.get("/dashboard/sign-in").await;
    assert!(page.contains(r#"<meta name="viewport""#));
    for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!page.contains(external), "no asset from outside the platform");
    }
}
