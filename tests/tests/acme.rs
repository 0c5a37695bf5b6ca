//! `paas certs:auto` against Pebble, Let's Encrypt's test ACME server (Debian's
//! `pebble`), with its mock DNS server answering 127.0.0.1 for every name: the
//! controller orders a certificate for the app's host, Pebble fetches the HTTP-01
//! challenge from the router's HTTP port (which sends it to the controller), and curl,
//! trusting only Pebble's root, then trusts the app's HTTPS; trusting the platform's
//! own authority instead, it does not. Before Pebble runs, the order fails with a 503
//! that `paas certs` repeats.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use paas_tests::platform::free_addr;
use paas_tests::{eventually, spawn_platform_with};

/// Pebble and its DNS server, killed on drop.
struct Pebble {
    children: Vec<Child>,
    /// `https://<addr>/dir`.
    directory_url: String,
    /// Pebble's management API, where its issuing root is.
    management: SocketAddr,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A certificate authority for Pebble's own HTTPS, and a certificate for 127.0.0.1 it
/// issued: `(ca.pem, server.pem, server.key)` under `dir`.
fn pebble_server_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "paas test: Pebble's HTTPS");
    let ca = ca_params.self_signed(&ca_key).expect("a CA certificate");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key");
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "127.0.0.1");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("a server certificate");
    let paths = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&paths.0, ca.pem()).expect("write");
    std::fs::write(&paths.1, cert.pem()).expect("write");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write");
    paths
}

fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).expect("a log file");
    let err = out.try_clone().expect("a log file");
    cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().unwrap_or_else(|e| {
        panic!("cannot start {cmd:?}: {e} (`cargo xtask test` installs Debian's pebble package)")
    })
}

/// Starts the DNS server and Pebble, which validates HTTP-01 on `http_port`.
fn start_pebble(
    dir: &Path,
    acme: SocketAddr,
    http_port: u16,
    server: &(PathBuf, PathBuf, PathBuf),
) -> Pebble {
    let dns = free_addr();
    let management = free_addr();
    let dns_management = free_addr();
    let mut children = vec![spawn(
        Command::new("pebble-challtestsrv")
            .args(["-dns01", &dns.to_string(), "-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args([
                "-management",
                &dns_management.to_string(),
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ]),
        &dir.join("challtestsrv.log"),
    )];
    let config = serde_json::json!({"pebble": {
        "listenAddress": acme.to_string(),
        "managementListenAddress": management.to_string(),
        "certificate": server.1,
        "privateKey": server.2,
        "httpPort": http_port,
        "tlsPort": free_addr().port(),
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
    }});
    let config_path = dir.join("pebble.json");
    std::fs::write(&config_path, config.to_string()).expect("write");
    children.push(spawn(
        Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .args(["-dnsserver", &dns.to_string()])
            // Validate at once, and never refuse a nonce on purpose.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0"),
        &dir.join("pebble.log"),
    ));
    Pebble { children, directory_url: format!("https://{acme}/dir"), management }
}

fn curl_https(host: &str, https: SocketAddr, ca: &Path) -> (Option<i32>, String, String) {
    let authority = format!("{host}:{}", https.port());
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{authority}:127.0.0.1"), "--output", "/dev/null"])
        .args(["--write-out", "%{http_code}"])
        .arg(format!("https://{authority}/"))
        .output()
        .expect("curl runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn certs_auto_gets_a_certificate_from_pebble_that_curl_then_trusts() {
    let dir = tempfile::tempdir().expect("a temporary dir");
    let server = pebble_server_certificate(dir.path());
    let acme = free_addr();
    let server_root = server.0.clone();
    let platform = spawn_platform_with(|c| {
        c.acme = paas_controller::acme::AcmeConfig {
            directory_url: format!("https://{acme}/dir"),
            server_root: Some(server_root),
            ..paas_controller::acme::AcmeConfig::default()
        };
    })
    .await;
    let router = platform.config.router.as_ref().expect("a router");
    let https = router.https_addr.expect("an HTTPS listener");
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    let status = admin.get("/v1/apps/hello/certs/auto").await.expect(200);
    assert_eq!(status["enabled"], false);

    // With no ACME server answering yet: a 503 that says so, kept for `paas certs`,
    // and no certificate.
    let failed = admin.post("/v1/apps/hello/certs/auto", serde_json::json!({})).await;
    let message = failed.expect_error(503, "unavailable");
    assert!(message.contains(&format!("https://{acme}/dir")), "{message}");
    let status = admin.get("/v1/apps/hello/certs/auto").await.expect(200);
    assert_eq!(status["enabled"], true);
    assert!(status["last_error"].as_str().is_some_and(|e| e == message), "{status}");
    assert_eq!(admin.get("/v1/apps/hello/certs").await.expect(200), serde_json::json!([]));

    let pebble = start_pebble(dir.path(), acme, router.http_addr.port(), &server);
    let pebble_client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&server.0).expect("read")).expect("a certificate"),
        )
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    eventually("Pebble answers its directory", || async {
        let resp = pebble_client.get(&pebble.directory_url).send().await.ok()?;
        resp.status().is_success().then_some(())
    })
    .await;

    // The real CLI, as a user runs it.
    let config_dir = tempfile::tempdir().expect("a temporary dir");
    let paas = |args: &[&str]| {
        let out = paas_tests::paas_command(config_dir.path(), args).output().expect("paas runs");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(
            out.status.success(),
            "paas {args:?}: {stderr}\npebble.log:\n{}",
            std::fs::read_to_string(dir.path().join("pebble.log")).unwrap_or_default()
        );
        (stdout, stderr)
    };
    paas(&["login", &platform.url, "--username", "admin"]);
    let (_, warned) = paas(&["certs", "-a", "hello"]);
    assert!(warned.contains("warning: certs:auto: the last order failed"), "{warned}");
    let (_, said) = paas(&["certs:auto", "-a", "hello"]);
    assert!(said.contains("hello.localhost") && said.contains("renewed 30 days before"), "{said}");
    let certs = admin.get("/v1/apps/hello/certs").await.expect(200);
    assert_eq!(certs.as_array().map(Vec::len), Some(1), "{certs}");
    assert_eq!(certs[0]["hostnames"], serde_json::json!(["hello.localhost"]));
    assert_eq!(certs[0]["auto"], true);
    assert!(certs[0]["issuer"].as_str().unwrap_or_default().contains("Pebble"), "{certs}");
    assert!(certs[0]["days_left"].as_i64().unwrap_or_default() > 30, "{certs}");
    let (table, _) = paas(&["certs", "-a", "hello"]);
    assert!(table.contains("hello.localhost") && table.contains("certs:auto"), "{table}");
    let status = admin.get("/v1/apps/hello/certs/auto").await.expect(200);
    assert_eq!(status, serde_json::json!({"enabled": true, "last_error": null}));
    let events = admin.get("/v1/apps/hello/events").await.expect(200);
    assert!(events.to_string().contains("cert.auto"), "{events}");

    // Pebble's issuing root, which curl is then told to trust, and nothing else.
    let root = pebble_client
        .get(format!("https://{}/roots/0", pebble.management))
        .send()
        .await
        .expect("Pebble's management API answers")
        .text()
        .await
        .expect("a root");
    let root_path = dir.path().join("pebble-root.pem");
    std::fs::write(&root_path, root).expect("write");
    eventually("the router serves the Pebble certificate", || async {
        let (code, out, _) = curl_https("hello.localhost", https, &root_path);
        // No process runs: the router's own 503, over a connection curl trusted.
        (code == Some(0) && out == "503").then_some(())
    })
    .await;
    let platform_ca = platform.config.data_dir.join("router/tls/localhost-ca.crt");
    let (code, _, err) = curl_https("hello.localhost", https, &platform_ca);
    assert_eq!(code, Some(60), "the platform's own authority did not issue it: {err}");

    // Turning certs:auto off keeps the certificate.
    paas(&["certs:auto:disable", "-a", "hello"]);
    let status = admin.get("/v1/apps/hello/certs/auto").await.expect(200);
    assert_eq!(status["enabled"], false);
    let certs = admin.get("/v1/apps/hello/certs").await.expect(200);
    assert_eq!(certs.as_array().map(Vec::len), Some(1), "{certs}");

    // Someone who is not a collaborator can neither see nor change it.
    let mallory = platform.user(&admin, "mallory").await;
    assert_eq!(mallory.post("/v1/apps/hello/certs/auto", serde_json::json!({})).await.status, 404);
    assert_eq!(mallory.get("/v1/apps/hello/certs/auto").await.status, 404);
}
