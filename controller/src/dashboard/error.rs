//! The dashboard's one error type, turned into a response once: a user who is not
//! signed in is sent to the sign-in page, a form without its CSRF token is refused with
//! a 403 page, and any other [`ApiError`] becomes an HTML page with the API's status,
//! message and hint (the API's own wording, so both tell the same story).

use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use paas_core::ErrorChain;

use super::session::{set_cookie, SESSION_COOKIE};
use super::PREFIX;
use crate::error::{ApiError, ErrorKind};

/// Why a dashboard request did not get its page.
#[derive(Debug, thiserror::Error)]
pub enum DashError {
    /// No session, or one that no longer proves who the user is.
    #[error("sign in first")]
    SignIn,
    /// A form came without the CSRF token of the session.
    #[error("the form's CSRF token is missing or wrong")]
    Csrf,
    /// What the logic refused, or failed at.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The page shown for an error.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Option<super::views::Nav>,
    status: u16,
    title: &'a str,
    message: &'a str,
    hint: Option<&'a str>,
}

impl ResponseError for DashError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let Self::SignIn = self {
            let mut resp = HttpResponse::SeeOther();
            resp.insert_header((LOCATION, format!("{PREFIX}/sign-in")));
            set_cookie(&mut resp, SESSION_COOKIE, "", Duration::ZERO, false);
            return resp.finish();
        }
        let (title, message, hint) = match self {
            Self::Api(e) => {
                if let Some(source) = &e.source {
                    let cause = ErrorChain(source.as_ref());
                    tracing::error!(message = %e.message, %cause, "dashboard request failed");
                }
                let title = match e.kind {
                    ErrorKind::NotFound => "Not found",
                    ErrorKind::Forbidden => "Forbidden",
                    ErrorKind::InvalidRequest => "Invalid request",
                    ErrorKind::Conflict | ErrorKind::AlreadyExists => "Conflict",
                    ErrorKind::Unavailable => "Unavailable",
                    _ => "Something went wrong",
                };
                (title, e.message.as_str(), e.hint.as_deref())
            }
            _ => (
                "Forbidden",
                "This form was not sent from your dashboard session (its CSRF token is missing or wrong).",
                Some("Reload the page and try again."),
            ),
        };
        let page = ErrorPage { nav: None, status: status.as_u16(), title, message, hint };
        super::views::html(status, &page)
    }
}

/// 400 for a form the dashboard cannot read.
pub fn form_error(err: actix_web::error::UrlencodedError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    DashError::Api(ApiError::invalid(format!("cannot read the form: {err}"))).into()
}

/// Pages are never cached: they show config values and CSRF tokens.
pub const NO_STORE: (actix_web::http::header::HeaderName, &str) = (CACHE_CONTROL, "no-store");
