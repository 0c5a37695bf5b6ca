//! Certificates and `tls:enforce` carried by the route stream: the router presents a
//! route's certificate by SNI as soon as the table carries it and stops when it is
//! gone, redirects plain HTTP of enforcing routes to its HTTPS port with a 308, and adds
//! HSTS to their HTTPS answers.

use std::sync::Arc;

use paas_core::routes::{CertPem, RouteTls, WatchMessage};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::helpers::{eventually, feed_config, route, table, TestBackend, TestFeed, TestRouter};

fn self_signed(host: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params = rcgen::CertificateParams::new(vec![host.to_owned()]).unwrap();
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

/// Whether a TLS handshake for `sni` succeeds trusting only `trusted` (PEM).
async fn trusted_by(addr: std::net::SocketAddr, sni: &str, trusted: &str) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(trusted.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    TlsConnector::from(Arc::new(config)).connect(name, tcp).await.is_ok()
}

#[tokio::test]
async fn route_certificates_come_and_go_with_the_table_and_enforcement_redirects() {
    let backend = TestBackend::spawn("shop").await;
    let feed = TestFeed::spawn(table(1, vec![("shop.example.com", route("shop", &[backend.addr]))])).await;
    let url = feed.url();
    let router = TestRouter::spawn_tls(|config| config.feed = Some(feed_config(url))).await;
    router.wait_for_version(1).await;
    let https = router.https_addr.unwrap();
    let (cert, key) = self_signed("shop.example.com");
    assert!(!trusted_by(https, "shop.example.com", &cert).await, "the default certificate before");
    assert_eq!(router.get("shop.example.com", "/").await.status, 200);

    let mut with_tls = route("shop", &[backend.addr]);
    with_tls.tls = RouteTls { cert: Some(CertPem { chain: cert.clone(), key: key.clone() }), enforce: true };
    feed.push(&WatchMessage::Snapshot { table: table(2, vec![("shop.example.com", with_tls)]) });
    router.wait_for_version(2).await;
    assert!(trusted_by(https, "shop.example.com", &cert).await, "the route's certificate");
    let plain = router.get("shop.example.com", "/a?b=c").await;
    assert_eq!(plain.status, 308);
    assert_eq!(plain.headers["location"], format!("https://shop.example.com:{}/a?b=c", https.port()));
    assert_eq!(backend.hits(), 1, "a redirect never reaches the app");
    // The table is saved after it is served from.
    let routes_file = router.state_dir.join(paas_router::persist::ROUTES_FILE);
    eventually("the key rests in the 0600 routes.json", || async {
        std::fs::read_to_string(&routes_file).ok().filter(|saved| saved.contains("PRIVATE KEY")).map(drop)
    })
    .await;

    feed.push(&WatchMessage::Snapshot {
        table: table(3, vec![("shop.example.com", route("shop", &[backend.addr]))]),
    });
    router.wait_for_version(3).await;
    eventually("the default certificate again", || async {
        (!trusted_by(https, "shop.example.com", &cert).await).then_some(())
    })
    .await;
    assert_eq!(router.get("shop.example.com", "/").await.status, 200, "no redirect once off");
}
