//! The dashboard's session: the login JWT in an `HttpOnly`, `SameSite=Lax` cookie
//! (`Secure` when the request came over TLS), read afresh on every request through
//! [`auth::authenticate`], so a disabled user is out at once; and the [`Viewer`]
//! extractor, the signed-in user of a page with the CSRF token of their forms.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::http::header::{HeaderValue, COOKIE, SET_COOKIE};
use actix_web::{web, FromRequest, HttpRequest, HttpResponseBuilder};

use super::csrf::{self, Purpose};
use super::error::DashError;
use super::PREFIX;
use crate::auth::{self, Caller};
use crate::error::ErrorKind;
use crate::State;

/// The session cookie: the login JWT.
pub const SESSION_COOKIE: &str = "paas_session";
/// The sign-in form's cookie: a random value its CSRF token is bound to.
pub const SIGN_IN_COOKIE: &str = "paas_sign_in";
/// How long the sign-in cookie lives.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(3600);

/// The value of cookie `name` in the request, if sent.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether the request came over TLS (directly, or through the router, which says so
/// with `X-Forwarded-Proto: https`).
pub fn over_tls(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

/// Adds `Set-Cookie` for `name=value` under the dashboard's path, living `ttl` (zero
/// removes it).
pub fn set_cookie(resp: &mut HttpResponseBuilder, name: &str, value: &str, ttl: Duration, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let header =
        format!("{name}={value}; Path={PREFIX}; Max-Age={}; HttpOnly; SameSite=Lax{secure}", ttl.as_secs());
    // JWTs and hex are cookie-safe; anything else is not set at all.
    if let Ok(value) = HeaderValue::from_str(&header) {
        resp.append_header((SET_COOKIE, value));
    }
}

/// The signed-in user of a dashboard page, and the CSRF token their forms carry.
#[derive(Clone)]
pub struct Viewer {
    /// Who, with the same rights as through the API.
    pub caller: Caller,
    /// The CSRF token bound to this session.
    pub csrf: String,
    key: Vec<u8>,
    session: String,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the session (a bearer credential) nor the key.
        f.debug_struct("Viewer").field("caller", &self.caller).finish_non_exhaustive()
    }
}

impl Viewer {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, given: &str) -> Result<(), DashError> {
        if csrf::verify(&self.key, Purpose::Session, &self.session, given) {
            Ok(())
        } else {
            Err(DashError::Csrf)
        }
    }

    async fn from_session(state: &State, session: Option<String>) -> Result<Viewer, DashError> {
        let Some(session) = session else { return Err(DashError::SignIn) };
        match auth::authenticate(state, Some(&format!("Bearer {session}"))).await {
            Ok(caller) => {
                let key = state.config.jwt_secret.clone();
                let csrf = csrf::token(&key, Purpose::Session, &session);
                Ok(Viewer { caller, csrf, key, session })
            }
            // Expired, forged, or a user since disabled or removed: sign in again.
            Err(e) if matches!(e.kind, ErrorKind::Unauthenticated | ErrorKind::Forbidden) => {
                Err(DashError::SignIn)
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl FromRequest for Viewer {
    type Error = DashError;
    type Future = Pin<Box<dyn Future<Output = Result<Viewer, DashError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let session = cookie(req, SESSION_COOKIE);
        let state = req.app_data::<web::Data<State>>().cloned();
        Box::pin(async move {
            let state = state.ok_or(DashError::SignIn)?;
            Viewer::from_session(&state, session).await
        })
    }
}
