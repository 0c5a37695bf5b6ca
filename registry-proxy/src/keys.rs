//! The token signing key: an ECDSA P-256 key pair and a self-signed certificate of it,
//! generated into the data directory on first start and loaded afterwards.
//!
//! Distribution trusts a token when the certificate in its `x5c` header chains to the
//! `rootcertbundle` of its configuration; here both are the one self-signed certificate.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use jsonwebtoken::EncodingKey;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};

/// The private key file in the key directory (mode 0600).
pub const KEY_FILE: &str = "token-key.pem";
/// The certificate file in the key directory: Distribution's `rootcertbundle`.
pub const CERT_FILE: &str = "token-cert.pem";

/// Why the signing key cannot be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file cannot be read or written.
    #[error("cannot use {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The key or certificate cannot be made, or the saved key cannot be read.
    #[error("invalid signing key or certificate in {path}")]
    Crypto {
        /// The key directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: rcgen::Error,
    },
}

/// The key tokens are signed with, and its certificate.
pub struct SigningKey {
    encoding: EncodingKey,
    /// The certificate, DER, standard base64 with padding: the `x5c` header entry.
    x5c: String,
    cert_path: PathBuf,
}

impl SigningKey {
    /// Loads the key pair saved in `dir`, or generates one there (the directory is made
    /// with mode 0700, the key written with 0600). A new certificate is made from the key
    /// on every start, so a lost certificate file heals itself.
    pub fn load_or_generate(dir: &Path) -> Result<Self, KeyError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| KeyError::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        let crypto = |source| KeyError::Crypto { path: dir.to_owned(), source };
        let key_path = dir.join(KEY_FILE);
        let key = match fs::read_to_string(&key_path) {
            Ok(pem) => KeyPair::from_pem(&pem).map_err(crypto)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(crypto)?;
                write_new(&key_path, key.serialize_pem().as_bytes(), 0o600).map_err(io(&key_path))?;
                tracing::info!(path = %key_path.display(), "generated the registry token signing key");
                key
            }
            Err(e) => return Err(io(&key_path)(e)),
        };
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "paas registry token issuer");
        params.distinguished_name = name;
        let cert = params.self_signed(&key).map_err(crypto)?;
        let cert_path = dir.join(CERT_FILE);
        write_replace(&cert_path, cert.pem().as_bytes()).map_err(io(&cert_path))?;
        Ok(Self {
            encoding: EncodingKey::from_ec_der(&key.serialize_der()),
            x5c: base64::engine::general_purpose::STANDARD.encode(cert.der()),
            cert_path,
        })
    }

    /// The key to sign with (ES256).
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The certificate as an `x5c` header entry.
    pub fn x5c(&self) -> &str {
        &self.x5c
    }

    /// The certificate file, for Distribution's `rootcertbundle`.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }
}

/// Writes a new file with `mode`; fails if it exists.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Writes a file through a temporary one and a rename, so a reader never sees half.
fn write_replace(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_then_loads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let first = SigningKey::load_or_generate(&keys).unwrap();
        let mode = fs::metadata(keys.join(KEY_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key_pem = fs::read_to_string(keys.join(KEY_FILE)).unwrap();
        let second = SigningKey::load_or_generate(&keys).unwrap();
        assert_eq!(fs::read_to_string(keys.join(KEY_FILE)).unwrap(), key_pem);
        assert!(first.cert_path().exists());
        assert!(!second.x5c().is_empty());
    }
}
