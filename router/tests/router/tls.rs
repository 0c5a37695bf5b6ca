//! HTTPS through the router: certificates by SNI (an app's own, the platform's
//! default), HTTP/2 and HTTP/1.1 by ALPN, WebSockets over TLS, old protocol versions
//! refused. Clients are rustls (trusting only the certificate under test) and curl.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::HOST;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use paas_core::Hostname;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::helpers::{feed_config, route, table, Echo, TestBackend, TestFeed, TestRouter, DOMAIN};
use crate::websocket::{self, EchoServer};

/// A router with an HTTPS listener serving `hello.paas.test`, `shop.example.com` and
/// `chat.paas.test` (a WebSocket echo server).
async fn tls_router() -> (TestRouter, TestBackend, EchoServer) {
    let hello = TestBackend::spawn("hello").await;
    let chat = EchoServer::spawn().await;
    let feed = TestFeed::spawn(table(
        1,
        vec![
            ("hello.paas.test", route("hello", &[hello.addr])),
            ("shop.example.com", route("shop", &[hello.addr])),
            ("chat.paas.test", route("chat", &[chat.addr])),
        ],
    ))
    .await;
    let url = feed.url();
    let router = TestRouter::spawn_tls(|config| config.feed = Some(feed_config(url))).await;
    router.wait_for_version(1).await;
    (router, hello, chat)
}

fn ca_cert_path(router: &TestRouter) -> std::path::PathBuf {
    paas_router::certs::ca_paths(&router.state_dir, &Hostname::parse(DOMAIN).unwrap()).0
}

fn pem_certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>().unwrap()
}

/// Opens TLS to `addr` asking for `sni`, trusting only `trusted`, offering `alpn`.
async fn connect(
    addr: SocketAddr,
    sni: &str,
    trusted: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> Result<TlsStream<TcpStream>, std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in trusted {
        roots.add(cert.clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(Arc::new(config)).connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp).await
}

/// `GET /` for `host` over HTTP/1.1 on an open TLS stream; the backend's echo.
async fn get_http1(stream: TlsStream<TcpStream>, host: &str) -> Echo {
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = Request::get("/tls").header(HOST, host).body(Empty::<Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn the_platform_domain_gets_the_default_certificate_and_apps_learn_it_was_https() {
    let (router, _hello, _chat) = tls_router().await;
    let https = router.https_addr.unwrap();
    let ca = pem_certs(&std::fs::read(ca_cert_path(&router)).unwrap());
    let stream = connect(https, "hello.paas.test", &ca, &[b"http/1.1"]).await.expect("trusted");
    assert_ne!(stream.get_ref().1.peer_certificates().unwrap()[0], ca[0], "a certificate the CA issued");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let echo = get_http1(stream, "hello.paas.test").await;
    assert_eq!(echo.backend, "hello");
    assert_eq!(echo.header("x-forwarded-proto"), Some("https"));
    assert_eq!(echo.header("x-forwarded-port"), Some(https.port().to_string().as_str()));

    // The CA's certificates cover the domain itself and one level below it.
    assert!(connect(https, DOMAIN, &ca, &[]).await.is_ok());
    assert!(connect(https, "a.b.paas.test", &ca, &[]).await.is_err(), "not a.b.<domain>");
    // Plain HTTP still says http.
    assert_eq!(router.get("hello.paas.test", "/").await.echo().header("x-forwarded-proto"), Some("http"));
}

#[tokio::test]
async fn an_app_gets_its_own_certificate_by_sni_from_the_store_and_from_disk() {
    let make = |name: &str| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap().self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    // One certificate on disk before the router starts...
    let temp = tempfile::tempdir().unwrap();
    let state_dir = temp.path().join("router");
    std::fs::create_dir_all(state_dir.join("certs")).unwrap();
    let (blog_cert, blog_key) = make("blog.example.com");
    std::fs::write(state_dir.join("certs/blog.example.com.pem"), format!("{blog_cert}{blog_key}")).unwrap();
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(
        1,
        vec![
            ("shop.example.com", route("shop", &[hello.addr])),
            ("blog.example.com", route("blog", &[hello.addr])),
        ],
    ))
    .await;
    let url = feed.url();
    let router = TestRouter::spawn_tls_in(&state_dir, |config| config.feed = Some(feed_config(url))).await;
    router.wait_for_version(1).await;
    let https = router.https_addr.unwrap();

    // ...and one added while it runs.
    let (shop_cert, shop_key) = make("shop.example.com");
    let ca = pem_certs(&std::fs::read(ca_cert_path(&router)).unwrap());
    assert!(connect(https, "shop.example.com", &ca, &[]).await.is_err(), "the CA does not vouch for it");
    router
        .state
        .certs()
        .insert(&Hostname::parse("shop.example.com").unwrap(), shop_cert.as_bytes(), shop_key.as_bytes())
        .unwrap();
    for (host, cert) in [("shop.example.com", &shop_cert), ("blog.example.com", &blog_cert)] {
        let own = pem_certs(cert.as_bytes());
        let stream = connect(https, host, &own, &[b"http/1.1"]).await.expect("the app's own certificate");
        assert_eq!(stream.get_ref().1.peer_certificates().unwrap()[0], own[0]);
        assert_eq!(get_http1(stream, host).await.header("x-forwarded-proto"), Some("https"));
    }
}

#[tokio::test]
async fn h2_is_served_when_alpn_picks_it_and_http11_reaches_the_process() {
    let (router, _hello, _chat) = tls_router().await;
    let https = router.https_addr.unwrap();
    let ca = pem_certs(&std::fs::read(ca_cert_path(&router)).unwrap());
    let stream = connect(https, "hello.paas.test", &ca, &[b"h2", b"http/1.1"]).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    for i in 0..3 {
        let request =
            Request::get(format!("https://hello.paas.test/h2/{i}")).body(Empty::<Bytes>::new()).unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let echo: Echo = serde_json::from_slice(&body).unwrap();
        assert_eq!(echo.path, format!("/h2/{i}"));
        assert_eq!(echo.header("host"), Some("hello.paas.test"), "the process gets a Host");
        assert_eq!(echo.header("x-forwarded-proto"), Some("https"));
    }
}

#[tokio::test]
async fn websockets_work_over_tls() {
    let (router, _hello, chat) = tls_router().await;
    let ca = pem_certs(&std::fs::read(ca_cert_path(&router)).unwrap());
    // A client that wants a WebSocket offers only HTTP/1.1.
    let stream = connect(router.https_addr.unwrap(), "chat.paas.test", &ca, &[b"http/1.1"]).await.unwrap();
    let (head, mut client) = websocket::Client::open(stream, "chat.paas.test", "/chat", &[]).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    client.echo_several().await;
    assert_eq!(chat.requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}

fn curl(router: &TestRouter, args: &[&str]) -> std::process::Output {
    let https = router.https_addr.unwrap();
    let ca = ca_cert_path(router);
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .arg("--resolve")
        .arg(format!("hello.paas.test:{}:127.0.0.1", https.port()))
        .arg("--cacert")
        .arg(&ca)
        .args(args)
        .arg(format!("https://hello.paas.test:{}/curl", https.port()))
        .output()
        .expect("curl runs (it is installed on every machine of the project)")
}

#[tokio::test]
async fn curl_gets_h2_and_http11_and_is_refused_tls_11() {
    let (router, hello, _chat) = tls_router().await;
    let router = Arc::new(router);
    let run = |args: &'static [&'static str]| {
        let router = router.clone();
        tokio::task::spawn_blocking(move || curl(&router, args))
    };
    let out = run(&["--http2", "--write-out", "\n%{http_version}"]).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.ends_with("\n2"), "answered over HTTP/2: {text}");
    assert!(text.contains("\"x-forwarded-proto\":[\"https\"]"), "{text}");
    let out = run(&["--http1.1", "--write-out", "\n%{http_version}"]).await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("\n1.1"));
    let hits = hello.hits();
    // OpenSSL offers TLS 1.1 only at security level 0.
    let out = run(&["--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0"]).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    // 35: the TLS handshake failed; the router's alert says so (rustls sends
    // `handshake_failure` or `protocol_version`).
    assert_eq!(out.status.code(), Some(35), "TLS 1.1 was not refused in the handshake: {stderr}");
    assert!(stderr.contains("alert"), "the router refused it: {stderr}");
    assert_eq!(hello.hits(), hits, "nothing reached the app");
}
