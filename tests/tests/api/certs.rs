//! TLS certificates (`/v1/apps/{app}/certs`) and `tls:enforce` (`/v1/apps/{app}/tls`):
//! what is accepted, what is refused with nothing stored, who may, and what the audit
//! log and the route table say.

use paas_core::routes::{WatchMessage, WATCH_PATH};
use paas_tests::{spawn_controller, TestPlatform};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The route table the routers get now: the first message of a watch stream, as JSON.
async fn routes_table(platform: &TestPlatform) -> Value {
    let addr = platform.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let token = platform.internal_token();
    let request = format!(
        "GET {WATCH_PATH} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).await.unwrap() > 0, "the stream ended");
        if let Ok(Some(message @ WatchMessage::Snapshot { .. })) = WatchMessage::from_line(line.trim_end()) {
            let WatchMessage::Snapshot { table } = message else { unreachable!() };
            return serde_json::to_value(table).unwrap();
        }
    }
}

/// A self-signed certificate for `names`, valid from `from` to `to` days from now, and
/// its key, both PEM.
fn cert(names: &[&str], from: i64, to: i64) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from);
    params.not_after = now + time::Duration::days(to);
    params.distinguished_name.push(rcgen::DnType::CommonName, "paas api test");
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

fn upload(chain: &str, key: &str) -> Value {
    json!({"chain": chain, "key": key})
}

#[tokio::test]
async fn certificates_are_added_listed_without_their_key_and_removed() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("shop").await;
    admin.post("/v1/apps/shop/domains", json!({"hostname": "shop.example.com"})).await.expect(201);
    let (chain, key) = cert(&["shop.example.com", "shop.paas.test"], -1, 90);
    let added = admin.post("/v1/apps/shop/certs", upload(&chain, &key)).await.expect(201);
    assert_eq!(added["hostnames"], json!(["shop.example.com", "shop.paas.test"]));
    assert!(matches!(added["days_left"].as_i64(), Some(89 | 90)), "{added}");
    assert_eq!((added["expiring_soon"].clone(), added["added_by"].clone()), (json!(false), json!("admin")));
    assert_eq!(added["fingerprint_sha256"].as_str().unwrap().len(), 95);
    assert!(added["issuer"].as_str().unwrap().contains("paas api test"));

    let list = admin.get("/v1/apps/shop/certs").await.expect(200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], added["id"]);
    let secret = key.lines().nth(1).unwrap();
    assert!(!list.to_string().contains(secret) && !list.to_string().contains("PRIVATE"), "never the key");

    // One certificate per host name: the same name again is a 409, and stores nothing.
    let (again, again_key) = cert(&["shop.example.com"], -1, 90);
    admin.post("/v1/apps/shop/certs", upload(&again, &again_key)).await.expect_error(409, "already_exists");
    assert_eq!(admin.get("/v1/apps/shop/certs").await.expect(200).as_array().unwrap().len(), 1);

    // The routers get the certificate, key and all, with the route of each of its hosts.
    let table = routes_table(&platform).await;
    assert_eq!(table["routes"]["shop.example.com"]["tls"]["cert"]["key"], json!(key));
    assert_eq!(table["routes"]["shop.paas.test"]["tls"]["cert"]["chain"], json!(chain));

    // Expiring within 30 days is flagged.
    admin.post("/v1/apps/shop/domains", json!({"hostname": "soon.example.com"})).await.expect(201);
    let (soon, soon_key) = cert(&["soon.example.com"], -1, 10);
    let soon = admin.post("/v1/apps/shop/certs", upload(&soon, &soon_key)).await.expect(201);
    assert_eq!(soon["expiring_soon"], json!(true));

    admin.delete("/v1/apps/shop/certs/shop.example.com").await.expect(204);
    admin.delete("/v1/apps/shop/certs/shop.example.com").await.expect_error(404, "not_found");
    admin.delete(&format!("/v1/apps/shop/certs/{}", soon["id"])).await.expect(204);
    assert_eq!(admin.get("/v1/apps/shop/certs").await.expect(200), json!([]));
    let table = routes_table(&platform).await;
    assert!(table["routes"]["shop.example.com"].get("tls").is_none(), "{table}");

    let events = admin.get("/v1/apps/shop/events").await.expect(200);
    let actions: Vec<&str> =
        events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions[..4], ["cert.remove", "cert.remove", "cert.add", "domain.add"]);
    assert!(!events.to_string().contains(secret));
}

#[tokio::test]
async fn bad_certificates_are_refused_and_nothing_is_stored() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("shop").await;
    admin.post("/v1/apps/shop/domains", json!({"hostname": "shop.example.com"})).await.expect(201);
    let (good, good_key) = cert(&["shop.example.com"], -1, 90);
    let (_, other_key) = cert(&["shop.example.com"], -1, 90);
    let (expired, expired_key) = cert(&["shop.example.com"], -90, -1);
    let (future, future_key) = cert(&["shop.example.com"], 5, 90);
    let (stranger, stranger_key) = cert(&["shop.example.com", "bank.example.com"], -1, 90);
    let (other_app, other_app_key) = cert(&["other.paas.test"], -1, 90);
    let (wild, wild_key) = cert(&["*.example.com"], -1, 90);
    for (what, chain, key, says) in [
        ("a key of another certificate", &good, &other_key, "does not belong"),
        ("garbage for a chain", &"garbage".to_owned(), &good_key, "not PEM"),
        (
            "garbage for a key",
            &good,
            &"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_owned(),
            "private key",
        ),
        ("the chain twice", &good, &good, "private key"),
        ("an expired certificate", &expired, &expired_key, "expired"),
        ("a certificate not valid yet", &future, &future_key, "not valid before"),
        ("a name that is not the app's", &stranger, &stranger_key, "bank.example.com"),
        ("another app's default domain", &other_app, &other_app_key, "other.paas.test"),
        ("a wildcard the app does not have", &wild, &wild_key, "*.example.com"),
    ] {
        let refused = admin.post("/v1/apps/shop/certs", upload(chain, key)).await;
        let body = refused.body.clone();
        refused.expect_error(400, "invalid_request");
        let text = body.to_string();
        assert!(text.contains(says), "{what}: {text}");
        assert!(body["hint"].is_string(), "{what}: {text}");
        for line in [&good_key, &other_key].iter().flat_map(|k| k.lines()).filter(|l| !l.starts_with("-----"))
        {
            assert!(!text.contains(line), "{what}: the key is never repeated");
        }
    }
    admin.post("/v1/apps/shop/certs", json!({"chain": good})).await.expect_error(400, "invalid_request");
    assert_eq!(admin.get("/v1/apps/shop/certs").await.expect(200), json!([]));
    let events = admin.get("/v1/apps/shop/events").await.expect(200);
    assert!(!events.to_string().contains("cert."), "{events}");
}

#[tokio::test]
async fn only_the_apps_collaborators_manage_its_certificates_and_tls() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let bob = platform.user(&admin, "bob").await;
    let carol = platform.user(&admin, "carol").await;
    bob.create_app("bobs").await;
    let (chain, key) = cert(&["bobs.paas.test"], -1, 90);
    carol.get("/v1/apps/bobs/certs").await.expect_error(404, "not_found");
    carol.post("/v1/apps/bobs/certs", upload(&chain, &key)).await.expect_error(404, "not_found");
    carol.put("/v1/apps/bobs/tls", json!({"enforce": true})).await.expect_error(404, "not_found");
    let added = bob.post("/v1/apps/bobs/certs", upload(&chain, &key)).await.expect(201);
    carol.delete("/v1/apps/bobs/certs/bobs.paas.test").await.expect_error(404, "not_found");
    bob.post("/v1/apps/bobs/collaborators", json!({"username": "carol"})).await.expect(201);
    assert_eq!(carol.get("/v1/apps/bobs/certs").await.expect(200)[0]["id"], added["id"]);

    assert_eq!(bob.get("/v1/apps/bobs/tls").await.expect(200), json!({"enforce": false}));
    assert_eq!(
        carol.put("/v1/apps/bobs/tls", json!({"enforce": true})).await.expect(200),
        json!({"enforce": true})
    );
    assert_eq!(bob.get("/v1/apps/bobs/tls").await.expect(200), json!({"enforce": true}));
    let table = routes_table(&platform).await;
    assert_eq!(table["routes"]["bobs.paas.test"]["tls"]["enforce"], json!(true));
    bob.put("/v1/apps/bobs/tls", json!({"enforce": "yes"})).await.expect_error(400, "invalid_request");
    carol.delete(&format!("/v1/apps/bobs/certs/{}", added["id"])).await.expect(204);
    let events = bob.get("/v1/apps/bobs/events").await.expect(200);
    let actions: Vec<(&str, &str)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .take(3)
        .collect();
    assert_eq!(actions, [("cert.remove", "carol"), ("tls.enforce", "carol"), ("perms.add", "bob")]);
}
