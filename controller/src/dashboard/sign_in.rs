//! Sign-in and sign-out. The sign-in form's CSRF token is bound to a random cookie set
//! with the form; a good password (checked by [`app::users::login`], which refuses
//! disabled users) sets the session cookie, the login JWT, for the JWT's lifetime.
//! Passwords are never logged: the form's `Debug` leaves it out.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use paas_core::api::Credentials;
use rand::RngCore;
use serde::Deserialize;

use super::csrf::{self, Purpose};
use super::error::DashError;
use super::session::{
    self, cookie, over_tls, set_cookie, Viewer, SESSION_COOKIE, SIGN_IN_COOKIE, SIGN_IN_TTL,
};
use super::views::{self, Nav};
use super::PREFIX;
use crate::app;
use crate::error::ErrorKind;
use crate::State;

/// The sign-in page.
#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    nav: Option<Nav>,
    csrf: String,
    username: String,
    error: Option<String>,
}

/// `POST /dashboard/sign-in`.
#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

impl std::fmt::Debug for SignInForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInForm").field("username", &self.username).finish_non_exhaustive()
    }
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

fn page(
    state: &State,
    req: &HttpRequest,
    status: StatusCode,
    username: String,
    error: Option<String>,
) -> HttpResponse {
    let (nonce, fresh) = match cookie(req, SIGN_IN_COOKIE) {
        Some(nonce) => (nonce, false),
        None => {
            let mut bytes = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut bytes);
            (hex::encode(bytes), true)
        }
    };
    let csrf = csrf::token(&state.config.jwt_secret, Purpose::SignIn, &nonce);
    let mut resp = HttpResponse::build(status);
    if fresh {
        set_cookie(&mut resp, SIGN_IN_COOKIE, &nonce, SIGN_IN_TTL, over_tls(req));
    }
    views::render(resp, &SignInPage { nav: None, csrf, username, error })
}

/// `GET /dashboard/sign-in`: the form.
#[get("/sign-in")]
pub async fn show_form(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    page(&state, &req, StatusCode::OK, String::new(), None)
}

/// `POST /dashboard/sign-in`: checks the password and sets the session cookie.
#[post("/sign-in")]
pub async fn sign_in(
    state: web::Data<State>,
    req: HttpRequest,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, DashError> {
    let form = form.into_inner();
    let nonce = cookie(&req, SIGN_IN_COOKIE).unwrap_or_default();
    if nonce.is_empty() || !csrf::verify(&state.config.jwt_secret, Purpose::SignIn, &nonce, &form.csrf) {
        return Err(DashError::Csrf);
    }
    let creds = Credentials { username: form.username.clone(), password: form.password };
    match app::users::login(&state, creds).await {
        Ok(session) => {
            let mut resp = HttpResponse::SeeOther();
            resp.insert_header((actix_web::http::header::LOCATION, format!("{PREFIX}/apps")));
            let secure = over_tls(&req);
            set_cookie(&mut resp, SESSION_COOKIE, &session.token, state.config.jwt_ttl, secure);
            set_cookie(&mut resp, SIGN_IN_COOKIE, "", std::time::Duration::ZERO, secure);
            Ok(resp.finish())
        }
        Err(e) if matches!(e.kind, ErrorKind::Unauthenticated | ErrorKind::Forbidden) => {
            Ok(page(&state, &req, e.status_code(), form.username, Some(e.message)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /dashboard/sign-out`: removes the session cookie.
#[post("/sign-out")]
pub async fn sign_out(
    viewer: Viewer,
    req: HttpRequest,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, DashError> {
    viewer.check_csrf(&form.csrf)?;
    let mut resp = HttpResponse::SeeOther();
    resp.insert_header((actix_web::http::header::LOCATION, format!("{PREFIX}/sign-in")));
    set_cookie(&mut resp, session::SESSION_COOKIE, "", std::time::Duration::ZERO, over_tls(&req));
    Ok(resp.finish())
}
