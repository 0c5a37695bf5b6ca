//! An app's own certificate, end to end: uploaded through the API for a custom domain,
//! carried by the route stream to the router paasd runs, and presented by SNI to curl,
//! which trusts only the test's own certificate authority; the platform's default
//! certificate still serves `<app>.localhost`. Then `tls:enforce`: plain HTTP gets a
//! 308 to HTTPS and HTTPS answers carry HSTS, and neither once it is off again.

use std::path::Path;
use std::process::Command;

use paas_tests::docker::DockerCleanup;
use paas_tests::{eventually, spawn_platform, STACK_IMAGE};
use serde_json::json;

/// A certificate authority of the test's own, and a certificate it signed for `host`.
fn issue(host: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = rcgen::CertificateParams::default();
    ca.distinguished_name.push(rcgen::DnType::CommonName, "paas e2e test CA");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec![host.to_owned()]).unwrap();
    leaf.distinguished_name.push(rcgen::DnType::CommonName, host);
    let now = time::OffsetDateTime::now_utc();
    leaf.not_before = now - time::Duration::days(1);
    leaf.not_after = now + time::Duration::days(60);
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

/// curl `url` with `host:port` resolved to loopback, trusting `cacert`: exit code,
/// `%{http_code}` and the headers, and stderr (`--verbose`: the certificate shown).
fn curl(host: &str, port: u16, cacert: &Path, url: &str) -> (Option<i32>, String, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--verbose", "--cacert"])
        .arg(cacert)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1"), "--output", "/dev/null"])
        .args(["--dump-header", "-", "--write-out", "%{http_code}"])
        .arg(url)
        .output()
        .expect("curl runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_ascii_lowercase(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apps_own_certificate_is_served_by_sni_and_tls_can_be_enforced() {
    let platform = spawn_platform().await;
    let _cleanup = DockerCleanup::new(&platform.platform_id());
    let admin = platform.admin().await;
    admin.create_app("shop").await;
    admin.post("/v1/apps/shop/domains", json!({"hostname": "shop.example.com"})).await.expect(201);
    platform.stand_in_build("shop", STACK_IMAGE, &json!({"web": "exec python3 -m http.server $PORT"})).await;
    admin.scale("shop", "web", 1).await;
    eventually("the app answers through the router", || async {
        platform.router_get("shop", "/").await.filter(|(status, _)| *status == 200)
    })
    .await;
    let router = platform.config.router.as_ref().expect("a router");
    let https = router.https_addr.expect("an HTTPS listener").port();
    let http = router.http_addr.port();
    let temp = tempfile::tempdir().unwrap();
    let (ca, chain, key) = issue("shop.example.com");
    let our_ca = temp.path().join("ca.pem");
    std::fs::write(&our_ca, &ca).unwrap();
    let platform_ca = platform.config.data_dir.join("router/tls/localhost-ca.crt");

    // Before the upload, the router's own certificate is not one our CA signed.
    let (code, _, _) =
        curl("shop.example.com", https, &our_ca, &format!("https://shop.example.com:{https}/"));
    assert_ne!(code, Some(0), "curl trusts only our CA");

    let added = admin.post("/v1/apps/shop/certs", json!({"chain": chain, "key": key})).await.expect(201);
    assert_eq!(added["hostnames"], json!(["shop.example.com"]));
    let url = format!("https://shop.example.com:{https}/");
    let (_, head, verbose) = eventually("the router presents the app's certificate", || async {
        let got = curl("shop.example.com", https, &our_ca, &url);
        (got.0 == Some(0)).then_some(got)
    })
    .await;
    assert!(head.ends_with("200"), "{head}");
    assert!(verbose.contains("subject: CN=shop.example.com"), "{verbose}");
    assert!(verbose.contains("issuer: CN=paas e2e test CA"), "{verbose}");
    assert!(!head.contains("strict-transport-security"), "no HSTS until tls:enforce: {head}");
    let (code, head, verbose) =
        curl("shop.localhost", https, &platform_ca, &format!("https://shop.localhost:{https}/"));
    assert_eq!(code, Some(0), "the platform domain keeps the default certificate: {verbose}");
    assert!(head.ends_with("200") && verbose.contains("issuer: CN=paas local CA for localhost"), "{verbose}");
    let plain = format!("http://shop.example.com:{http}/some/path?q=1");
    let (code, head, _) = curl("shop.example.com", http, &our_ca, &plain);
    assert!(code == Some(0) && head.contains("server: simplehttp"), "plain HTTP reaches the app: {head}");

    admin.put("/v1/apps/shop/tls", json!({"enforce": true})).await.expect(200);
    let head = eventually("plain HTTP is redirected", || async {
        let (_, head, _) = curl("shop.example.com", http, &our_ca, &plain);
        head.ends_with("308").then_some(head)
    })
    .await;
    let location = format!("location: https://shop.example.com:{https}/some/path?q=1");
    assert!(head.contains(&location), "{head}");
    let (_, head, _) = curl("shop.example.com", https, &our_ca, &url);
    assert!(head.ends_with("200") && head.contains("strict-transport-security: max-age=31536000"), "{head}");

    admin.put("/v1/apps/shop/tls", json!({"enforce": false})).await.expect(200);
    eventually("plain HTTP is served again", || async {
        let (_, head, _) = curl("shop.example.com", http, &our_ca, &plain);
        head.contains("server: simplehttp").then_some(())
    })
    .await;
    let (_, head, _) = curl("shop.example.com", https, &our_ca, &url);
    assert!(head.ends_with("200") && !head.contains("strict-transport-security"), "{head}");

    // Removed, the app's certificate is no longer presented.
    admin.delete("/v1/apps/shop/certs/shop.example.com").await.expect(204);
    eventually("the router stops presenting the app's certificate", || async {
        (curl("shop.example.com", https, &our_ca, &url).0 != Some(0)).then_some(())
    })
    .await;
}
