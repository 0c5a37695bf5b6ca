//! The certificates the HTTPS listener presents, chosen by the name the client asks
//! for (SNI).
//!
//! [`CertStore`] holds one certificate per host name (exact names and `*.` wildcards),
//! and the platform's own certificate authority: made with rcgen on first start into
//! `<state_dir>/tls/<domain>-ca.crt` and `<domain>-ca.key` (0600) and reused after,
//! restricted by a name constraint to `<domain>` and the names under it, so that
//! trusting it (`curl --cacert`, a browser's or system's trust store) trusts nothing
//! else. It signs the default certificate (`<domain>`, `*.<domain>`) at start and, on
//! demand, one for each `<name>.<domain>` a client asks for: TLS clients do not accept
//! a wildcard directly under a one-label domain such as `localhost`. Issued
//! certificates live in memory (at most [`MAX_ISSUED`], a year each, issued anew after
//! [`REISSUE_AFTER`]). Per-host certificates are read at start from
//! `<state_dir>/certs/<hostname>.pem` (the chain, then the private key, in one PEM
//! file) and can be added or replaced while the router runs with
//! [`CertStore::insert`]; the certificates the route feed carries (`paas certs:add`)
//! arrive that way with every new table ([`CertStore::sync_routes`]). A lookup is an exact name, else the wildcard of its parent, else the default.
//!
//! Private keys are never logged and never appear in errors.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use paas_core::routes::RouteTable;
use paas_core::Hostname;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The folder of the state dir holding per-host certificates.
pub const CERTS_DIR: &str = "certs";
/// The folder of the state dir holding the platform's certificate authority.
pub const DEFAULT_DIR: &str = "tls";
/// The most certificates issued on demand kept at once; more start the count over.
pub const MAX_ISSUED: usize = 4096;
/// How long an issued certificate is presented before a new one is issued.
pub const REISSUE_AFTER: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Why a certificate could not be loaded, made or stored.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The file system refused.
    #[error("cannot {action} {path}")]
    Io {
        /// What the router was doing.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The chain holds no certificate, or one that is not PEM.
    #[error("the certificate chain for {host} holds no PEM certificate")]
    NoCertificate {
        /// The host name the certificate is for.
        host: String,
    },
    /// No private key, or one that is not PEM (its content is never shown).
    #[error("the private key for {host} is missing or not a PEM private key")]
    NoKey {
        /// The host name the certificate is for.
        host: String,
    },
    /// rustls refused the pair: an unsupported key type, or a key that does not
    /// belong to the certificate.
    #[error("the certificate and key for {host} are not usable")]
    Unusable {
        /// The host name the certificate is for.
        host: String,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// rcgen could not make the certificate authority or a certificate it signs.
    #[error("cannot generate a certificate for {domain}")]
    Generate {
        /// The platform domain.
        domain: String,
        /// Why.
        #[source]
        source: rcgen::Error,
    },
    /// A file name in the certificates folder is not a host name.
    #[error("{path} is not named <hostname>.pem")]
    FileName {
        /// The file.
        path: PathBuf,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CertError {
    let path = path.to_owned();
    move |source| CertError::Io { action, path, source }
}

/// Every certificate the router can present.
pub struct CertStore {
    provider: Arc<CryptoProvider>,
    ca: LocalCa,
    default: Arc<CertifiedKey>,
    /// Certificates the CA issued for `<name>.<domain>`, with when.
    issued: std::sync::Mutex<HashMap<String, (std::time::Instant, Arc<CertifiedKey>)>>,
    /// Lowercased host names (`*.example.com` for wildcards) to their certificates.
    by_host: ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hosts: Vec<String> = self.by_host.load().keys().cloned().collect();
        hosts.sort_unstable();
        f.debug_struct("CertStore").field("hosts", &hosts).finish_non_exhaustive()
    }
}

impl CertStore {
    /// The certificate authority of `domain` (made and saved in `state_dir` when there
    /// is none yet), the default certificate it signs, and the per-host certificates of
    /// `<state_dir>/certs/`. A per-host file that cannot be used is logged and skipped,
    /// so one bad file does not stop TLS.
    pub fn load(state_dir: &Path, domain: &Hostname) -> Result<Self, CertError> {
        let provider = Arc::new(crate::tls::provider());
        let ca = LocalCa::load_or_make(state_dir, domain)?;
        let default = ca.issue(&provider, vec![domain.to_string(), format!("*.{domain}")])?;
        let store = Self {
            provider,
            ca,
            default,
            issued: std::sync::Mutex::new(HashMap::new()),
            by_host: ArcSwap::default(),
        };
        let dir = state_dir.join(CERTS_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(store),
            Err(e) => return Err(io_error("read", &dir)(e)),
        };
        for entry in entries {
            let path = entry.map_err(io_error("read", &dir))?.path();
            if path.extension().is_none_or(|ext| ext != "pem") {
                continue;
            }
            if let Err(e) = store.load_file(&path) {
                tracing::warn!(error = %crate::error::ErrorChain(&e), "skipping a certificate file");
            }
        }
        Ok(store)
    }

    fn load_file(&self, path: &Path) -> Result<(), CertError> {
        let host = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .and_then(|stem| Hostname::parse(stem).ok())
            .ok_or_else(|| CertError::FileName { path: path.to_owned() })?;
        let pem = fs::read(path).map_err(io_error("read", path))?;
        self.insert(&host, &pem, &pem)?;
        tracing::info!(%host, "loaded a certificate");
        Ok(())
    }

    /// Presents `chain_pem` (the certificate, then its intermediates) with `key_pem`
    /// for `host` from now on, in place of any certificate it had. Both may be the
    /// same PEM text holding the chain and the key.
    pub fn insert(&self, host: &Hostname, chain_pem: &[u8], key_pem: &[u8]) -> Result<(), CertError> {
        let name = host.to_string();
        let certified = certified_key(&self.provider, &name, chain_pem, key_pem)?;
        self.by_host.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(name.clone(), certified.clone());
            next
        });
        Ok(())
    }

    /// Stops presenting the certificate of `host`; the default one serves it again.
    pub fn remove(&self, host: &Hostname) {
        let name = host.to_string();
        self.by_host.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.remove(&name);
            next
        });
    }

    /// Carries the certificates of the route table from `old` to `new`: a host whose
    /// certificate is new or changed gets it, a host whose certificate is gone (its route
    /// or only its certificate) is served by the default again. A certificate that
    /// cannot be used is logged by host name, and that host falls back to the default.
    pub fn sync_routes(&self, old: &RouteTable, new: &RouteTable) {
        let cert_of =
            |table: &RouteTable, host: &Hostname| table.routes.get(host).and_then(|r| r.tls.cert.clone());
        for (host, route) in &new.routes {
            let Some(cert) = &route.tls.cert else { continue };
            if cert_of(old, host).as_ref() == Some(cert) {
                continue;
            }
            match self.insert(host, cert.chain.as_bytes(), cert.key.as_bytes()) {
                Ok(()) => tracing::info!(%host, "presenting the app's certificate"),
                Err(e) => {
                    tracing::warn!(%host, error = %crate::error::ErrorChain(&e), "cannot use the app's certificate");
                    self.remove(host);
                }
            }
        }
        for host in old.routes.keys() {
            if cert_of(old, host).is_some() && cert_of(new, host).is_none() {
                self.remove(host);
                tracing::info!(%host, "the app's certificate is gone");
            }
        }
    }

    /// The certificate for the name a client asked for: exact, else the wildcard of
    /// its parent, else for `<name>.<domain>` one the CA issues, else the default.
    pub fn find(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = server_name.map(|n| n.trim_end_matches('.').to_ascii_lowercase()) else {
            return self.default.clone();
        };
        let by_host = self.by_host.load();
        if let Some(found) = by_host.get(&name) {
            return found.clone();
        }
        if let Some(found) = name.split_once('.').and_then(|(_, parent)| by_host.get(&format!("*.{parent}")))
        {
            return found.clone();
        }
        match self.ca.covers(&name) {
            true => self.issued_for(&name),
            false => self.default.clone(),
        }
    }

    /// The CA's certificate for `name`, issued now when it has none or an old one.
    fn issued_for(&self, name: &str) -> Arc<CertifiedKey> {
        let mut issued = self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, certified)) = issued.get(name) {
            if at.elapsed() < REISSUE_AFTER {
                return certified.clone();
            }
        }
        match self.ca.issue(&self.provider, vec![name.to_owned()]) {
            Ok(certified) => {
                if issued.len() >= MAX_ISSUED {
                    issued.clear();
                }
                issued.insert(name.to_owned(), (std::time::Instant::now(), certified.clone()));
                certified
            }
            Err(e) => {
                tracing::warn!(name, error = %crate::error::ErrorChain(&e), "cannot issue a certificate");
                self.default.clone()
            }
        }
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.find(client_hello.server_name()))
    }
}

/// Where the certificate authority of `domain` is kept: `(certificate, key)`. The
/// certificate is what clients trust.
pub fn ca_paths(state_dir: &Path, domain: &Hostname) -> (PathBuf, PathBuf) {
    let dir = state_dir.join(DEFAULT_DIR);
    (dir.join(format!("{domain}-ca.crt")), dir.join(format!("{domain}-ca.key")))
}

fn certified_key(
    provider: &CryptoProvider,
    host: &str,
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<CertifiedKey>, CertError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| CertError::NoCertificate { host: host.to_owned() })?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate { host: host.to_owned() });
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| CertError::NoKey { host: host.to_owned() })?;
    CertifiedKey::from_der(chain, key, provider)
        .map(Arc::new)
        .map_err(|source| CertError::Unusable { host: host.to_owned(), source })
}

/// The platform's certificate authority: its key, and its certificate as rcgen signs
/// with (made again from the key at each start: the subject, key and serial number, a
/// hash of the key, are those of the saved certificate clients trust).
struct LocalCa {
    domain: String,
    issuer: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl LocalCa {
    fn load_or_make(state_dir: &Path, domain: &Hostname) -> Result<Self, CertError> {
        let generate = |source| CertError::Generate { domain: domain.to_string(), source };
        let (cert_path, key_path) = ca_paths(state_dir, domain);
        let saved = match fs::read_to_string(&key_path) {
            Ok(pem) => match rcgen::KeyPair::from_pem(&pem) {
                Ok(key) => Some(key),
                Err(_) => {
                    tracing::warn!(path = %key_path.display(), "the saved CA key is not usable: making a new CA");
                    None
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error("read", &key_path)(e)),
        };
        let made = saved.is_none();
        let key = match saved {
            Some(key) => key,
            None => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generate)?,
        };
        let issuer = Self::params(domain).self_signed(&key).map_err(generate)?;
        if made || !cert_path.exists() {
            let dir = cert_path.parent().expect("the CA is in a folder");
            fs::create_dir_all(dir).map_err(io_error("create", dir))?;
            if made {
                let _ = fs::remove_file(&key_path);
                write_new(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
            }
            let _ = fs::remove_file(&cert_path);
            write_new(&cert_path, issuer.pem().as_bytes(), 0o644)?;
            tracing::info!(%domain, path = %cert_path.display(), "made the platform's certificate authority");
        }
        Ok(Self { domain: domain.to_string(), issuer, key })
    }

    /// The CA's own certificate: for `domain` and the names under it only.
    fn params(domain: &Hostname) -> rcgen::CertificateParams {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("paas local CA for {domain}"));
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "paas router (self-signed)");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        params.name_constraints = Some(rcgen::NameConstraints {
            permitted_subtrees: vec![rcgen::GeneralSubtree::DnsName(domain.to_string())],
            excluded_subtrees: Vec::new(),
        });
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        params
    }

    /// Whether the CA issues for `name` on demand: the domain, or one label under it.
    fn covers(&self, name: &str) -> bool {
        name == self.domain
            || name.strip_suffix(&self.domain).and_then(|rest| rest.strip_suffix('.')).is_some_and(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    }

    /// A new key and a certificate for `names`, valid from a day ago for a year.
    fn issue(&self, provider: &CryptoProvider, names: Vec<String>) -> Result<Arc<CertifiedKey>, CertError> {
        let generate = |source| CertError::Generate { domain: self.domain.clone(), source };
        let first = names.first().cloned().unwrap_or_default();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generate)?;
        let mut params = rcgen::CertificateParams::new(names).map_err(generate)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, first.clone());
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(365);
        let cert = params.signed_by(&key, &self.issuer, &self.key).map_err(generate)?;
        certified_key(provider, &first, cert.pem().as_bytes(), key.serialize_pem().as_bytes())
    }
}

/// Writes `bytes` to `path` through a temporary file created with `mode`, so the file
/// never exists with wider permissions or half written.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertError> {
    let temp = path.with_extension("tmp");
    let _ = fs::remove_file(&temp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .map_err(io_error("create", &temp))?;
    file.write_all(bytes).map_err(io_error("write", &temp))?;
    file.sync_all().map_err(io_error("sync", &temp))?;
    fs::rename(&temp, path).map_err(io_error("rename into place", path))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn self_signed(names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    fn host(name: &str) -> Hostname {
        Hostname::parse(name).unwrap()
    }

    #[test]
    fn the_certificate_authority_is_made_once_with_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let domain = host("paas.test");
        let _first = CertStore::load(dir.path(), &domain).unwrap();
        let (cert, key) = ca_paths(dir.path(), &domain);
        assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        let saved = (fs::read(&cert).unwrap(), fs::read(&key).unwrap());
        assert!(String::from_utf8_lossy(&saved.0).starts_with("-----BEGIN CERTIFICATE-----"));
        let _again = CertStore::load(dir.path(), &domain).unwrap();
        assert_eq!((fs::read(&cert).unwrap(), fs::read(&key).unwrap()), saved, "reused after a restart");
        let _other = CertStore::load(dir.path(), &host("other.test")).unwrap();
        assert_ne!(
            fs::read(ca_paths(dir.path(), &host("other.test")).0).unwrap(),
            saved.0,
            "a new domain gets its own"
        );
    }

    #[test]
    fn names_one_label_under_the_domain_get_their_own_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::load(dir.path(), &host("localhost")).unwrap();
        let default = store.find(None).cert.clone();
        let hello = store.find(Some("hello.localhost")).cert.clone();
        assert_ne!(hello, default);
        assert_eq!(store.find(Some("HELLO.localhost.")).cert, hello, "issued once, then kept");
        assert_ne!(store.find(Some("localhost")).cert, default);
        for other in ["a.b.localhost", "example.com", "hello_x.localhost", "xlocalhost"] {
            assert_eq!(store.find(Some(other)).cert, default, "{other}");
        }
    }

    #[test]
    fn names_pick_exact_then_wildcard_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::load(dir.path(), &host("paas.test")).unwrap();
        let default = store.find(None).cert.clone();
        let (exact_cert, exact_key) = self_signed(&["shop.example.com"]);
        let (wild_cert, wild_key) = self_signed(&["*.example.com"]);
        store.insert(&host("shop.example.com"), exact_cert.as_bytes(), exact_key.as_bytes()).unwrap();
        store.insert(&host("*.example.com"), wild_cert.as_bytes(), wild_key.as_bytes()).unwrap();
        let exact = store.find(Some("Shop.Example.com.")).cert.clone();
        let wild = store.find(Some("blog.example.com")).cert.clone();
        assert_ne!(exact, wild);
        assert_ne!(exact, default);
        assert_eq!(store.find(Some("a.b.example.com")).cert, default);
        assert_ne!(store.find(Some("hello.paas.test")).cert, default, "issued by the CA");
        store.remove(&host("shop.example.com"));
        assert_eq!(store.find(Some("shop.example.com")).cert, wild);
    }

    #[test]
    fn files_in_the_certs_folder_are_loaded_and_bad_ones_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join(CERTS_DIR);
        fs::create_dir_all(&certs).unwrap();
        let (cert, key) = self_signed(&["shop.example.com"]);
        fs::write(certs.join("shop.example.com.pem"), format!("{cert}{key}")).unwrap();
        fs::write(certs.join("broken.example.com.pem"), "not pem").unwrap();
        let store = CertStore::load(dir.path(), &host("paas.test")).unwrap();
        assert_ne!(store.find(Some("shop.example.com")).cert, store.find(None).cert);
        assert_eq!(store.find(Some("broken.example.com")).cert, store.find(None).cert);
    }

    #[test]
    fn errors_never_show_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::load(dir.path(), &host("paas.test")).unwrap();
        let (cert, _) = self_signed(&["shop.example.com"]);
        let (_, other_key) = self_signed(&["shop.example.com"]);
        let e = store.insert(&host("shop.example.com"), cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert!(matches!(e, CertError::Unusable { .. }), "{e:?}");
        let secret = other_key.lines().nth(1).unwrap();
        assert!(!format!("{e:?} {e}").contains(secret));
        let e = store.insert(&host("shop.example.com"), cert.as_bytes(), b"garbage").unwrap_err();
        assert!(matches!(e, CertError::NoKey { .. }), "{e:?}");
        assert!(matches!(
            store.insert(&host("shop.example.com"), b"", other_key.as_bytes()),
            Err(CertError::NoCertificate { .. })
        ));
    }
}
