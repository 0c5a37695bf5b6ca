//! TLS certificates per app (`paas certs`, `certs:add`, `certs:remove`) and
//! `paas tls:enforce`.
//!
//! An upload is a PEM chain and a PEM private key. [`parse_upload`] (pure: the time
//! comes in) refuses a chain that does not parse, a key that does not parse or does not
//! belong to the certificate, a certificate not yet valid or expired, and one that names
//! no host. [`add`] then refuses a name that is not one of the app's domains (its
//! `<app>.<domain>` or a custom one, compared exactly: a wildcard name only when the
//! app has that wildcard domain), and a name another certificate covers already (409:
//! remove that one first). Certificates reach the routers through the route table.
//!
//! The key is stored and sent to the routers, never returned, logged, put in an error
//! or an event, and never in `Debug`.

use paas_core::api::{Certificate, CertificateCreate, TlsSettings, CERT_EXPIRY_WARNING_DAYS};
use paas_core::Hostname;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use super::access::{app_for, find_app, Need};
use super::timestamp;
use crate::auth::Caller;
use crate::db::{self, certs::CertificateRow};
use crate::error::{is_unique_violation, ApiError, ApiResult};
use crate::State;

const MS_PER_DAY: i64 = 24 * 3600 * 1000;

/// An upload that parsed: what is stored of it.
#[derive(Clone)]
pub struct ParsedCert {
    /// The chain as uploaded.
    pub chain_pem: String,
    /// The key as uploaded.
    pub key_pem: String,
    /// The leaf's subjectAltName DNS names, lowercased, without repeats, in order.
    pub hostnames: Vec<Hostname>,
    /// The leaf's issuer.
    pub issuer: String,
    /// SHA-256 of the leaf's DER, `AB:CD:...`.
    pub fingerprint: String,
    /// Unix ms.
    pub not_before: i64,
    /// Unix ms.
    pub not_after: i64,
}

impl std::fmt::Debug for ParsedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedCert")
            .field("hostnames", &self.hostnames)
            .field("fingerprint", &self.fingerprint)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Why an upload was refused. No variant holds any part of the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertRefusal {
    /// No PEM `CERTIFICATE` block, or a broken one.
    #[error("the certificate chain is not PEM: no readable CERTIFICATE block")]
    ChainNotPem,
    /// A block is not an X.509 certificate.
    #[error("certificate {index} of the chain is not an X.509 certificate")]
    NotX509 {
        /// From 1.
        index: usize,
    },
    /// No PEM private key.
    #[error("the key is not a PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    KeyNotPem,
    /// A key type rustls cannot sign with.
    #[error("the private key's type is not supported (use RSA, ECDSA P-256/P-384 or Ed25519)")]
    KeyUnsupported,
    /// The key's public half is not the certificate's.
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    /// `notBefore` is in the future.
    #[error("the certificate is not valid before {0}")]
    NotYetValid(String),
    /// `notAfter` is in the past.
    #[error("the certificate expired on {0}")]
    Expired(String),
    /// No usable subjectAltName DNS name.
    #[error("the certificate names no host name (subjectAltName DNS entries)")]
    NoHostnames,
    /// A DNS name that is not a host name.
    #[error("the certificate names {0:?}, which is not a host name")]
    BadHostname(String),
}

impl CertRefusal {
    fn hint(&self) -> &'static str {
        match self {
            Self::ChainNotPem | Self::NotX509 { .. } => {
                "pass the certificate file first (-----BEGIN CERTIFICATE-----), then the key file"
            }
            Self::KeyNotPem | Self::KeyUnsupported => {
                "pass the private key file second (-----BEGIN PRIVATE KEY-----)"
            }
            Self::KeyMismatch => "pass the key the certificate was issued for",
            Self::NotYetValid(_) | Self::Expired(_) => "upload a certificate that is valid now",
            Self::NoHostnames | Self::BadHostname(_) => {
                "issue the certificate for the app's domains (see `paas domains`)"
            }
        }
    }
}

impl From<CertRefusal> for ApiError {
    fn from(refusal: CertRefusal) -> Self {
        let hint = refusal.hint();
        ApiError::invalid(refusal.to_string()).with_hint(hint)
    }
}

/// Reads an upload, at `now_ms`. Never panics, whatever the bytes.
pub fn parse_upload(chain_pem: &str, key_pem: &str, now_ms: i64) -> Result<ParsedCert, CertRefusal> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|_| CertRefusal::ChainNotPem)?;
    let leaf_der = chain.first().ok_or(CertRefusal::ChainNotPem)?.clone();
    for (i, der) in chain.iter().enumerate() {
        x509_parser::parse_x509_certificate(der).map_err(|_| CertRefusal::NotX509 { index: i + 1 })?;
    }
    let (_, leaf) =
        x509_parser::parse_x509_certificate(&leaf_der).map_err(|_| CertRefusal::NotX509 { index: 1 })?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| CertRefusal::KeyNotPem)?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(key).map_err(|_| CertRefusal::KeyUnsupported)?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(CertRefusal::KeyMismatch)
        }
        Err(rustls::Error::InconsistentKeys(_)) => return Err(CertRefusal::KeyUnsupported),
        Err(_) => return Err(CertRefusal::NotX509 { index: 1 }),
    }
    let validity = leaf.validity();
    let not_before = validity.not_before.timestamp().saturating_mul(1000);
    let not_after = validity.not_after.timestamp().saturating_mul(1000);
    if now_ms < not_before {
        return Err(CertRefusal::NotYetValid(timestamp(not_before)));
    }
    if now_ms > not_after {
        return Err(CertRefusal::Expired(timestamp(not_after)));
    }
    let names = match leaf.subject_alternative_name() {
        Ok(Some(san)) => san.value.general_names.clone(),
        Ok(None) => Vec::new(),
        Err(_) => return Err(CertRefusal::NotX509 { index: 1 }),
    };
    let mut hostnames: Vec<Hostname> = Vec::new();
    for name in names {
        if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
            let host = Hostname::parse(&dns.to_ascii_lowercase())
                .map_err(|_| CertRefusal::BadHostname(dns.chars().take(100).collect()))?;
            if !hostnames.contains(&host) {
                hostnames.push(host);
            }
        }
    }
    if hostnames.is_empty() {
        return Err(CertRefusal::NoHostnames);
    }
    let fingerprint =
        Sha256::digest(leaf_der.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
    Ok(ParsedCert {
        chain_pem: chain_pem.to_owned(),
        key_pem: key_pem.to_owned(),
        hostnames,
        issuer: leaf.issuer().to_string(),
        fingerprint,
        not_before,
        not_after,
    })
}

pub(super) fn view(row: CertificateRow, hostnames: Vec<String>, now_ms: i64) -> Certificate {
    let days_left = (row.not_after - now_ms).div_euclid(MS_PER_DAY);
    Certificate {
        id: row.id,
        hostnames,
        issuer: row.issuer,
        not_before: timestamp(row.not_before),
        not_after: timestamp(row.not_after),
        days_left,
        expiring_soon: days_left < CERT_EXPIRY_WARNING_DAYS,
        fingerprint_sha256: row.fingerprint,
        added_by: row.created_by,
        created_at: timestamp(row.created_at),
        auto: row.auto != 0,
    }
}

/// The app's certificates, oldest first, without their keys.
pub async fn list(state: &State, caller: &Caller, name: &str) -> ApiResult<Vec<Certificate>> {
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    let now = db::now_ms();
    Ok(with_hosts(&mut conn, app.id).await?.into_iter().map(|(row, names)| view(row, names, now)).collect())
}

/// An app's certificates, oldest first, each with its host names by name.
pub(super) async fn with_hosts(
    conn: &mut db::Conn,
    app_id: i64,
) -> Result<Vec<(CertificateRow, Vec<String>)>, sqlx::Error> {
    let rows = db::certs::certificate_list_for_app(conn, app_id).await?;
    let hosts = db::certs::certificate_host_list_for_app(conn, app_id).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let names = hosts.iter().filter(|(id, _)| *id == row.id).map(|(_, h)| h.clone()).collect();
            (row, names)
        })
        .collect())
}

/// Adds a certificate to an app.
pub async fn add(
    state: &State,
    caller: &Caller,
    name: &str,
    request: CertificateCreate,
) -> ApiResult<Certificate> {
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let now = db::now_ms();
    let parsed = parse_upload(&request.chain, &request.key, now)?;
    let domains = {
        let mut conn = state.db.pool.acquire().await?;
        super::domains::domains_of(&mut conn, state, &app).await?
    };
    if let Some(stranger) =
        parsed.hostnames.iter().find(|h| !domains.iter().any(|d| d.hostname == h.as_str()))
    {
        return Err(ApiError::invalid(format!("the certificate names {stranger}, which is not a domain of {name}"))
            .with_hint(format!("add it first with `paas domains:add {stranger} -a {name}`, or upload a certificate for the app's domains only")));
    }
    let mut tx = state.db.begin_write().await?;
    let row = store(&mut tx, app.id, name, &parsed, &caller.username, false).await?;
    let names: Vec<String> = parsed.hostnames.iter().map(|h| h.to_string()).collect();
    let detail = format!("{} ({})", names.join(" "), parsed.fingerprint);
    db::events::event_insert(&mut tx, &caller.username, "cert.add", Some(name), &detail).await?;
    tx.commit().await?;
    super::routes_changed(state).await;
    Ok(view(row, names, now))
}

/// Stores a parsed certificate of app `name` (id `app_id`) and the host names it
/// covers; a name another certificate covers is a 409.
pub(super) async fn store(
    conn: &mut db::Conn,
    app_id: i64,
    name: &str,
    parsed: &ParsedCert,
    created_by: &str,
    auto: bool,
) -> ApiResult<CertificateRow> {
    let new = db::certs::CertificateNew {
        chain_pem: &parsed.chain_pem,
        key_pem: &parsed.key_pem,
        issuer: &parsed.issuer,
        fingerprint: &parsed.fingerprint,
        not_before: parsed.not_before,
        not_after: parsed.not_after,
        created_by,
        auto,
    };
    let row = db::certs::certificate_insert(conn, app_id, &new).await?;
    for host in &parsed.hostnames {
        match db::certs::certificate_host_insert(conn, row.id, host.as_str()).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::already_exists(format!("{host} has a certificate already"))
                    .with_hint(format!("remove it first with `paas certs:remove {host} -a {name}`")))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(row)
}

/// Removes the certificate with id `which`, or the one covering host name `which`.
pub async fn remove(state: &State, caller: &Caller, name: &str, which: &str) -> ApiResult<()> {
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let hosts = {
        let mut conn = state.db.pool.acquire().await?;
        db::certs::certificate_host_list_for_app(&mut conn, app.id).await?
    };
    let wanted = which.trim_end_matches('.').to_ascii_lowercase();
    let found = match wanted.parse::<i64>() {
        Ok(id) => hosts.iter().find(|(cert, _)| *cert == id),
        Err(_) => hosts.iter().find(|(_, host)| *host == wanted),
    };
    let not_found = || {
        ApiError::not_found(format!("{name} has no certificate for {which}"))
            .with_hint(format!("see `paas certs -a {name}`"))
    };
    let Some((id, _)) = found else { return Err(not_found()) };
    let names: Vec<&str> = hosts.iter().filter(|(cert, _)| cert == id).map(|(_, h)| h.as_str()).collect();
    let mut tx = state.db.begin_write().await?;
    if !db::certs::certificate_delete(&mut tx, app.id, *id).await? {
        return Err(not_found());
    }
    db::events::event_insert(&mut tx, &caller.username, "cert.remove", Some(name), &names.join(" ")).await?;
    tx.commit().await?;
    super::routes_changed(state).await;
    Ok(())
}

/// The app's HTTPS policy.
pub async fn tls_get(state: &State, caller: &Caller, name: &str) -> ApiResult<TlsSettings> {
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    Ok(TlsSettings { enforce: db::certs::app_tls_enforce_get(&mut conn, app.id).await? })
}

/// Turns `tls:enforce` on or off.
pub async fn tls_set(
    state: &State,
    caller: &Caller,
    name: &str,
    request: TlsSettings,
) -> ApiResult<TlsSettings> {
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let mut tx = state.db.begin_write().await?;
    db::certs::app_tls_enforce_update(&mut tx, app.id, request.enforce).await?;
    let detail = if request.enforce { "on" } else { "off" };
    db::events::event_insert(&mut tx, &caller.username, "tls.enforce", Some(name), detail).await?;
    tx.commit().await?;
    super::routes_changed(state).await;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = MS_PER_DAY;

    fn now() -> i64 {
        db::now_ms()
    }

    /// A self-signed certificate for `names`, valid `from`..`to` days from now.
    fn cert(names: &[&str], from: i64, to: i64) -> (String, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let today = time::OffsetDateTime::now_utc();
        params.not_before = today + time::Duration::days(from);
        params.not_after = today + time::Duration::days(to);
        params.distinguished_name.push(rcgen::DnType::CommonName, names.first().copied().unwrap_or("x"));
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn a_good_upload_gives_names_dates_and_fingerprint() {
        let (chain, key) = cert(&["Shop.Example.com", "shop.example.com", "*.example.com"], -1, 90);
        let parsed = parse_upload(&chain, &key, now()).unwrap();
        let names: Vec<&str> = parsed.hostnames.iter().map(|h| h.as_str()).collect();
        assert_eq!(names, ["shop.example.com", "*.example.com"]);
        assert!(parsed.not_before < now() && now() + 89 * DAY < parsed.not_after);
        assert_eq!(parsed.fingerprint.len(), 32 * 3 - 1);
        assert!(parsed.issuer.contains("Shop.Example.com"), "{}", parsed.issuer);
        let secret = key.lines().nth(1).unwrap();
        assert!(!format!("{parsed:?}").contains(secret));
    }

    #[test]
    fn bad_uploads_are_refused_without_the_key() {
        let (chain, key) = cert(&["shop.example.com"], -1, 90);
        let (_, other_key) = cert(&["shop.example.com"], -1, 90);
        let (old, old_key) = cert(&["shop.example.com"], -90, -1);
        let (future, future_key) = cert(&["shop.example.com"], 2, 90);
        let (nameless, nameless_key) = cert(&[], -1, 90);
        let cases = [
            (chain.as_str(), other_key.as_str(), "does not belong"),
            ("garbage", key.as_str(), "not PEM"),
            ("", key.as_str(), "not PEM"),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", key.as_str(), "not an X.509"),
            (chain.as_str(), "garbage", "not a PEM private key"),
            (chain.as_str(), chain.as_str(), "not a PEM private key"),
            (old.as_str(), old_key.as_str(), "expired on"),
            (future.as_str(), future_key.as_str(), "not valid before"),
            (nameless.as_str(), nameless_key.as_str(), "names no host"),
        ];
        for (chain, key_pem, says) in cases {
            let refusal = parse_upload(chain, key_pem, now()).unwrap_err();
            let text = format!("{refusal} {refusal:?}");
            assert!(text.contains(says), "{text} should say {says}");
            for line in other_key.lines().chain(key.lines()).filter(|l| !l.starts_with("-----")) {
                assert!(!text.contains(line));
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(chain in any::<Vec<u8>>(), key in any::<Vec<u8>>()) {
            let chain = String::from_utf8_lossy(&chain);
            let key = String::from_utf8_lossy(&key);
            let _ = parse_upload(&chain, &key, 0);
            let wrapped = format!("-----BEGIN CERTIFICATE-----\n{chain}\n-----END CERTIFICATE-----\n");
            let _ = parse_upload(&wrapped, &format!("-----BEGIN PRIVATE KEY-----\n{key}\n-----END PRIVATE KEY-----\n"), 0);
        }

        #[test]
        fn base64_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..600)) {
            use base64_body::encode;
            let wrapped = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", encode(&body));
            let _ = parse_upload(&wrapped, &wrapped.replace("CERTIFICATE", "PRIVATE KEY"), 0);
        }
    }

    /// Enough base64 for the property test, without a dependency.
    mod base64_body {
        pub fn encode(bytes: &[u8]) -> String {
            const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
                for i in 0..=chunk.len() {
                    out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
                }
                out.push_str(&"=".repeat(3 - chunk.len()));
            }
            out
        }
    }
}
