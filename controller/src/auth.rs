//! Who is calling: passwords, login JWTs, API tokens and the [`Caller`] extractor.
//!
//! A request proves its caller with `Authorization: Bearer <credential>`, where the
//! credential is either a JWT from `POST /v1/auth/login` (HS256 only; any other `alg`,
//! `none` included, is refused) or an API token `paas_...`, which is looked up by its
//! SHA-256 hash. Either way the user is read afresh, so a disabled user is refused at
//! once.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::{web, FromRequest, HttpRequest};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::{self, users::UserRow};
use crate::error::{ApiError, ApiResult};
use crate::State;

/// The prefix of every API token.
pub const TOKEN_PREFIX: &str = "paas_";

/// The user a request acts as.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User id.
    pub id: i64,
    /// Username.
    pub username: String,
    /// Whether they administer the platform.
    pub admin: bool,
}

impl Caller {
    fn from_row(row: UserRow) -> ApiResult<Caller> {
        if row.is_disabled() {
            return Err(ApiError::forbidden(format!("user {} is disabled", row.username))
                .with_hint("ask an admin to enable the account"));
        }
        let admin = row.admin();
        Ok(Caller { id: row.id, username: row.username, admin })
    }

    /// Refuses non-admins.
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("only admins may do this").with_hint("ask an admin of this platform"))
        }
    }
}

/// Hashes a password with Argon2id and a random salt (CPU-heavy: call off the
/// async executor).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// Checks a password against a stored hash, or against a dummy one when there is no
/// user, so that a login takes as long whether or not the name exists.
pub fn verify_password(stored: Option<&str>, password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("dummy password for timing").unwrap_or_default());
    let found = stored.is_some();
    let hash = stored.unwrap_or(dummy);
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && found
}

/// A new API token: the secret to show once, its display prefix and the hash to store.
pub fn new_api_token() -> (String, String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let prefix = secret[..TOKEN_PREFIX.len() + 6].to_owned();
    let hash = hash_api_token(&secret);
    (secret, prefix, hash)
}

/// The stored form of an API token.
pub fn hash_api_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The claims of a login JWT.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id.
    sub: String,
    /// The username, for people reading the token.
    name: String,
    iat: u64,
    exp: u64,
    iss: String,
}

const ISSUER: &str = "paas";

/// Signs and checks login JWTs with one HMAC key.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl JwtKeys {
    /// Keys from the platform's secret.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A token for a user and when it expires (Unix seconds).
    pub fn issue(&self, user_id: i64, username: &str) -> Result<(String, u64), jsonwebtoken::errors::Error> {
        self.issue_at(user_id, username, u64::try_from(db::now_ms() / 1000).unwrap_or_default())
    }

    /// A token issued at `now` (Unix seconds); tests use it to make expired tokens.
    pub fn issue_at(
        &self,
        user_id: i64,
        username: &str,
        now: u64,
    ) -> Result<(String, u64), jsonwebtoken::errors::Error> {
        let exp = now + self.ttl.as_secs();
        let claims =
            Claims { sub: user_id.to_string(), name: username.to_owned(), iat: now, exp, iss: ISSUER.into() };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, exp))
    }

    /// The user id of a valid token.
    fn verify(&self, token: &str) -> ApiResult<i64> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            let message = match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "your session has expired",
                _ => "invalid credentials",
            };
            ApiError::unauthenticated(message).with_hint("run `paas login URL` to sign in again")
        })?;
        data.claims.sub.parse().map_err(|_| ApiError::unauthenticated("invalid credentials"))
    }
}

/// Finds the caller of a request from its `Authorization` header.
pub async fn authenticate(state: &State, header: Option<&str>) -> ApiResult<Caller> {
    let Some(header) = header else {
        return Err(ApiError::unauthenticated("no credentials were sent")
            .with_hint("run `paas login URL`, or send `Authorization: Bearer <token>`"));
    };
    let Some(credential) = header.strip_prefix("Bearer ").map(str::trim) else {
        return Err(ApiError::unauthenticated("the Authorization header must be `Bearer <token>`"));
    };
    let mut conn = state.db.pool.acquire().await?;
    let row = if credential.starts_with(TOKEN_PREFIX) {
        let user_id = db::tokens::token_user_by_hash(&mut conn, &hash_api_token(credential))
            .await?
            .ok_or_else(|| ApiError::unauthenticated("invalid API token").with_hint("see `paas tokens`"))?;
        db::users::user_by_id(&mut conn, user_id).await?
    } else {
        let user_id = state.jwt.verify(credential)?;
        db::users::user_by_id(&mut conn, user_id).await?
    };
    let row =
        row.ok_or_else(|| ApiError::unauthenticated("the user of these credentials no longer exists"))?;
    Caller::from_row(row)
}

/// Checks the internal credential that the platform's own parts (routers) present.
pub fn authenticate_internal(state: &State, header: Option<&str>) -> ApiResult<()> {
    let expected = state.config.internal_token.as_bytes();
    let given = header.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default().as_bytes();
    // Compare in constant time: the length is not secret, the bytes are.
    let same = given.len() == expected.len()
        && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if expected.is_empty() || !same {
        return Err(ApiError::unauthenticated("this endpoint is for the platform's own parts"));
    }
    Ok(())
}

/// Checks a user's password for login; refuses unknown users, wrong passwords and
/// disabled users alike slowly.
pub async fn login(state: &State, username: &str, password: &str) -> ApiResult<Caller> {
    let mut conn = state.db.pool.acquire().await?;
    let row = db::users::user_by_name(&mut conn, username).await?;
    drop(conn);
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(stored.as_deref(), &password))
        .await
        .map_err(|e| ApiError::internal("checking a password", e))?;
    match row {
        Some(row) if ok => Caller::from_row(row),
        _ => Err(ApiError::unauthenticated("wrong username or password")),
    }
}

/// The `Authorization` header of a request, if it is text.
pub fn authorization_header(req: &HttpRequest) -> Option<String> {
    req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn state_of(req: &HttpRequest) -> ApiResult<web::Data<State>> {
    req.app_data::<web::Data<State>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("finding the controller state", std::fmt::Error))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Caller>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let header = authorization_header(req);
        let state = state_of(req);
        Box::pin(async move { authenticate(&*state?, header.as_deref()).await })
    }
}

/// A caller who may or may not have sent credentials; bad credentials are still an
/// error.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequest for MaybeCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<MaybeCaller>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let header = authorization_header(req);
        let state = state_of(req);
        Box::pin(async move {
            match header {
                None => Ok(MaybeCaller(None)),
                Some(h) => authenticate(&*state?, Some(&h)).await.map(|c| MaybeCaller(Some(c))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(verify_password(Some(&hash), "correct horse battery"));
        assert!(!verify_password(Some(&hash), "wrong horse battery"));
        assert!(!verify_password(None, "dummy password for timing"));
    }

    #[test]
    fn tokens_are_prefixed_and_hashed() {
        let (secret, prefix, hash) = new_api_token();
        assert!(secret.starts_with("paas_") && secret.len() == 5 + 64);
        assert!(secret.starts_with(&prefix));
        assert_eq!(hash, hash_api_token(&secret));
        assert!(!hash.contains(&secret[5..]));
    }

    #[test]
    fn jwts_round_trip_and_refuse_forgeries() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let (token, _) = keys.issue(42, "alice").unwrap();
        assert_eq!(keys.verify(&token).unwrap(), 42);

        let other = JwtKeys::new(b"another key entirely, 32 bytes!!", Duration::from_secs(60));
        let (forged, _) = other.issue(42, "alice").unwrap();
        assert!(keys.verify(&forged).is_err());

        // alg: none with the same claims.
        let payload = token.split('.').nth(1).unwrap();
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        assert!(keys.verify(&format!("{none_header}.{payload}.")).is_err());
    }
}
