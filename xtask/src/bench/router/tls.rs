//! Full TLS handshakes, as many as the proxy will do: a rustls client (ring, the
//! default protocol versions and key exchange groups, so TLS 1.3 with X25519) with
//! session resumption turned off, so that every connection is a full handshake with
//! the server's ECDSA signature; `wrk` and `h2load` keep TLS sessions between their
//! connections and would resume them.
//!
//! Each of several threads connects, completes the handshake, sends `close_notify`
//! and closes, again and again; no HTTP request is sent. The client accepts exactly
//! the benchmark's certificate (pinned by its bytes) and checks the handshake's
//! signature with it.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

use super::procs::{Group, Shares, Usage};

/// The handshakes of one measurement.
#[derive(Debug, Clone, Default)]
pub struct Handshakes {
    pub completed: u64,
    pub failed: u64,
    pub seconds: f64,
    /// The CPU used during the counted time.
    pub usage: Shares,
    /// What the first handshake negotiated, e.g. `TLSv1_3 TLS13_AES_128_GCM_SHA256 X25519`.
    pub negotiated: String,
}

impl Handshakes {
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.completed as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// A client configuration that trusts only the certificate in `cert_pem` and never
/// resumes a session.
pub fn client_config(cert_pem: &std::path::Path) -> anyhow::Result<Arc<ClientConfig>> {
    let cert = CertificateDer::from_pem_file(cert_pem)
        .with_context(|| format!("could not read the certificate {}", cert_pem.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Pinned { cert, algorithms: provider.signature_verification_algorithms };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// One full handshake with `addr`, presenting [`super::HOST`] by SNI; returns what was
/// negotiated.
pub fn handshake(config: &Arc<ClientConfig>, addr: SocketAddr) -> anyhow::Result<String> {
    let name = ServerName::try_from(super::HOST)?;
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    sock.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut conn = ClientConnection::new(config.clone(), name)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    while conn.wants_write() {
        conn.write_tls(&mut sock)?;
    }
    let negotiated = format!(
        "{:?} {:?} {:?}",
        conn.protocol_version().context("a protocol version")?,
        conn.negotiated_cipher_suite().map(|s| s.suite()).context("a cipher suite")?,
        conn.negotiated_key_exchange_group().map(|g| g.name()).context("a key exchange group")?,
    );
    conn.send_close_notify();
    let _ = conn.write_tls(&mut sock);
    Ok(negotiated)
}

/// Handshakes from `threads` threads for `warmup` (not counted) then `duration`,
/// measuring the proxy `group`'s CPU and the busy time of `cpus` over the counted time.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    config: &Arc<ClientConfig>,
    addr: SocketAddr,
    group: &Group,
    cpus: &[usize],
    ticks_per_second: f64,
    threads: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Handshakes> {
    let negotiated = handshake(config, addr).context("the first handshake failed")?;
    let completed = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let mut last_error = None;
    let result = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut error = None;
                    while !stop.load(Ordering::Relaxed) {
                        match handshake(config, addr) {
                            Ok(_) => completed.fetch_add(1, Ordering::Relaxed),
                            Err(err) => {
                                error = Some(format!("{err:#}"));
                                failed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                    error
                })
            })
            .collect();
        std::thread::sleep(warmup);
        let (start, done0, failed0, usage0) = (
            Instant::now(),
            completed.load(Ordering::SeqCst),
            failed.load(Ordering::SeqCst),
            Usage::now(group, cpus),
        );
        std::thread::sleep(duration);
        let (seconds, done1, failed1, usage1) = (
            start.elapsed().as_secs_f64(),
            completed.load(Ordering::SeqCst),
            failed.load(Ordering::SeqCst),
            Usage::now(group, cpus),
        );
        stop.store(true, Ordering::SeqCst);
        for worker in workers {
            if let Ok(Some(error)) = worker.join() {
                last_error = Some(error);
            }
        }
        Handshakes {
            completed: done1 - done0,
            failed: failed1 - failed0,
            seconds,
            usage: usage1.since(&usage0, seconds, ticks_per_second),
            negotiated: negotiated.clone(),
        }
    });
    if result.completed == 0 {
        bail!("no handshake completed (last error: {})", last_error.unwrap_or_default());
    }
    if let Some(error) = last_error.filter(|_| result.failed > 0) {
        eprintln!("xtask: warning: {} handshakes failed; the last: {error}", result.failed);
    }
    Ok(result)
}

/// Accepts the one certificate it was given and checks signatures made with it.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server presented another certificate than the benchmark's".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
