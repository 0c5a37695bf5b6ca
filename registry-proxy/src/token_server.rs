//! The token endpoint of the Docker registry token authentication spec:
//! `GET /token?service=...&scope=...` with HTTP basic authentication answers a JWT
//! granting what the [`Authorizer`] allows of what was asked.
//!
//! Unknown or malformed credentials get 401 with `WWW-Authenticate: Basic`, so `docker
//! login` reports them; a client without credentials gets a token granting nothing, so
//! the registry refuses it at once.

use std::sync::Arc;

use base64::Engine;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::auth::{AuthError, Authorizer, Credentials, Grant};
use crate::error::ErrorChain;
use crate::scope::Scope;
use crate::server::{error, json, ResponseBody};
use crate::token::TokenIssuer;

/// The subject of tokens given to clients without credentials; they grant nothing.
pub const ANONYMOUS: &str = "anonymous";

/// The path of the token endpoint.
pub const TOKEN_PATH: &str = "/token";

/// The token endpoint: who decides, and who signs.
#[derive(Clone)]
pub struct TokenService {
    issuer: TokenIssuer,
    authorizer: Arc<dyn Authorizer>,
}

impl TokenService {
    /// An endpoint signing with `issuer` what `authorizer` allows.
    pub fn new(issuer: TokenIssuer, authorizer: Arc<dyn Authorizer>) -> Self {
        Self { issuer, authorizer }
    }

    /// Answers one request. Never fails: every failure is a response.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<ResponseBody> {
        if req.uri().path() != TOKEN_PATH {
            return error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found");
        }
        if req.method() != Method::GET {
            return error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "use GET with basic authentication");
        }
        let query = req.uri().query().unwrap_or_default();
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let param =
            |name: &'static str| params.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str());
        if let Some(service) = param("service").next() {
            if service != self.issuer.service() {
                return error(StatusCode::BAD_REQUEST, "DENIED", "unknown service");
            }
        }
        let requested = Scope::parse_all(param("scope"));
        let grant = match basic_credentials(req.headers().get(AUTHORIZATION)) {
            // An anonymous client gets a token that grants nothing, as Docker Hub does:
            // the registry then refuses it with a final `unauthorized`, which Docker does
            // not retry (a 401 here would make `docker push` retry each layer for a minute).
            None if req.headers().get(AUTHORIZATION).is_none() => {
                Ok(Grant { subject: ANONYMOUS.to_owned(), access: Vec::new() })
            }
            None => return unauthorized(),
            Some(credentials) => self
                .authorizer
                .authorize(&credentials, &requested)
                .await
                .map_err(|e| (credentials.username, e)),
        };
        let grant = match grant {
            Ok(grant) => grant,
            Err((user, AuthError::Unauthenticated)) => {
                tracing::info!(%user, "refused a registry token");
                return unauthorized();
            }
            Err((_, e @ AuthError::Unavailable(_))) => {
                tracing::error!(error = %ErrorChain(&e), "cannot check registry credentials");
                return error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "cannot check credentials now");
            }
        };
        let granted: Vec<String> = grant.access.iter().map(ToString::to_string).collect();
        let issued = match self.issuer.issue(&grant.subject, grant.access) {
            Ok(issued) => issued,
            Err(e) => {
                tracing::error!(error = %ErrorChain(&e), "cannot sign a registry token");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "cannot sign a token");
            }
        };
        tracing::info!(user = %grant.subject, ?granted, "issued a registry token");
        let issued_at = OffsetDateTime::from(issued.issued_at).format(&Rfc3339).unwrap_or_default();
        let mut response = json(
            StatusCode::OK,
            &json!({
                "token": issued.token,
                "access_token": issued.token,
                "expires_in": issued.expires_in,
                "issued_at": issued_at,
            }),
        );
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// 401 asking for basic authentication.
fn unauthorized() -> Response<ResponseBody> {
    let mut response = error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authentication required");
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"paas registry\""));
    response
}

/// The username and password of an `Authorization: Basic` header.
pub fn basic_credentials(header: Option<&HeaderValue>) -> Option<Credentials> {
    let value = header?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some(Credentials { username: username.to_owned(), password: password.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_basic_credentials() {
        let header = HeaderValue::from_static("Basic YnVpbGRlcjpzM2NyOnQ="); // builder:s3cr:t
        let credentials = basic_credentials(Some(&header)).unwrap();
        assert_eq!((credentials.username.as_str(), credentials.password.as_str()), ("builder", "s3cr:t"));
        for bad in ["Bearer abc", "Basic !!!", "Basic YnVpbGRlcg=="] {
            assert!(basic_credentials(Some(&HeaderValue::from_static(bad))).is_none(), "{bad}");
        }
        assert!(basic_credentials(None).is_none());
    }
}
