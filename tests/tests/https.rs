//! HTTPS through the whole platform: paasd starts the router with its TLS listener
//! (`PAAS_HTTPS_ADDR`), which serves the app with a certificate its own certificate
//! authority issued for the app's host, over HTTP/2 to a client that offers it. curl is
//! the client, and trusts only that authority.

use paas_tests::docker::DockerCleanup;
use paas_tests::spawn_platform;

#[tokio::test(flavor = "multi_thread")]
async fn apps_answer_over_https_with_a_certificate_of_the_platform_ca_and_http2() {
    let platform = spawn_platform().await;
    let _cleanup = DockerCleanup::new(&platform.platform_id());
    let admin = platform.admin().await;
    platform.serve_python_http_server(&admin, "hello").await;

    let https = platform.config.router.as_ref().and_then(|r| r.https_addr).expect("an HTTPS listener");
    let cert = platform.config.data_dir.join("router/tls/localhost-ca.crt");
    assert!(cert.is_file(), "the router made its certificate authority: {}", cert.display());
    let curl = |extra: &[&str]| {
        let host = format!("hello.localhost:{}", https.port());
        let out = std::process::Command::new("curl")
            .args(["--silent", "--show-error", "--cacert"])
            .arg(&cert)
            .args(["--resolve", &format!("{host}:127.0.0.1"), "--output", "/dev/null"])
            .args(["--write-out", "%{http_code} %{http_version}"])
            .args(extra)
            .arg(format!("https://{host}/"))
            .output()
            .expect("curl runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = curl(&["--http2"]);
    assert_eq!((code, out.as_str()), (Some(0), "200 2"), "{err}");
    let (code, out, err) = curl(&["--http1.1"]);
    // curl 7.88 writes HTTP/1.1 as "1".
    assert!(code == Some(0) && (out == "200 1.1" || out == "200 1"), "{out} {err}");
    // TLS 1.1 is refused in the handshake.
    let (code, _, _) = curl(&["--tlsv1.0", "--tls-max", "1.1"]);
    assert_ne!(code, Some(0));
}
