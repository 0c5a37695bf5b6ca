//! Registry tokens: JWTs signed ES256 with the [`SigningKey`], in the shape Distribution
//! 2.8 verifies (`iss`, a single-string `aud`, `sub`, `exp`, `nbf`, `iat`, `jti`, and an
//! `access` list), carrying the certificate in the `x5c` header.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Header};
use rand::RngCore;
use serde::Serialize;

use crate::keys::SigningKey;
use crate::scope::Scope;

/// How long a token is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);

/// The claims of a registry token.
#[derive(Debug, Serialize)]
pub struct Claims {
    /// The issuer, as the registry's `auth.token.issuer`.
    pub iss: String,
    /// The subject: who the token is for.
    pub sub: String,
    /// The audience: the registry's `auth.token.service`. Distribution 2.8 wants a string.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Not before, Unix seconds.
    pub nbf: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// A unique id.
    pub jti: String,
    /// What the token grants.
    pub access: Vec<Scope>,
}

/// A signed token and when it was issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Seconds it is valid for.
    pub expires_in: u64,
    /// When it was issued.
    pub issued_at: SystemTime,
}

/// Why a token cannot be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign a registry token")]
pub struct SignError(#[source] jsonwebtoken::errors::Error);

/// Signs tokens for one registry.
#[derive(Clone)]
pub struct TokenIssuer {
    key: Arc<SigningKey>,
    issuer: String,
    service: String,
}

impl TokenIssuer {
    /// An issuer named `issuer` for the registry named `service`.
    pub fn new(key: Arc<SigningKey>, issuer: impl Into<String>, service: impl Into<String>) -> Self {
        Self { key, issuer: issuer.into(), service: service.into() }
    }

    /// The registry's service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Signs a token for `subject` granting `access`, valid for [`TOKEN_TTL`].
    pub fn issue(&self, subject: &str, access: Vec<Scope>) -> Result<IssuedToken, SignError> {
        let issued_at = SystemTime::now();
        let now = issued_at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut jti = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut jti);
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.service.clone(),
            exp: now + TOKEN_TTL.as_secs(),
            // A little slack for clocks that differ between hosts.
            nbf: now.saturating_sub(10),
            iat: now,
            jti: hex(&jti),
            access,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(vec![self.key.x5c().to_owned()]);
        let token = jsonwebtoken::encode(&header, &claims, self.key.encoding_key()).map_err(SignError)?;
        Ok(IssuedToken { token, expires_in: TOKEN_TTL.as_secs(), issued_at })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    #[test]
    fn tokens_carry_the_certificate_and_claims() {
        let dir = tempfile::tempdir().unwrap();
        let key = Arc::new(SigningKey::load_or_generate(dir.path()).unwrap());
        let issuer = TokenIssuer::new(key.clone(), "paas", "paas-registry");
        let access = vec![Scope::parse("repository:team/app:pull").unwrap()];
        let issued = issuer.issue("node", access).unwrap();
        let parts: Vec<_> = issued.token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |s: &str| -> serde_json::Value {
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap())
                .unwrap()
        };
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["x5c"][0], key.x5c());
        let claims = decode(parts[1]);
        assert_eq!(claims["aud"], "paas-registry");
        assert_eq!(claims["sub"], "node");
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
        assert_eq!(
            claims["access"],
            serde_json::json!([{"type": "repository", "name": "team/app", "actions": ["pull"]}])
        );
    }
}
