//! What every page shares: the navigation bar's facts, turning a template into a
//! response with the dashboard's headers, and how times are shown.

use actix_web::http::header::{CONTENT_TYPE, X_FRAME_OPTIONS};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;

use super::error::NO_STORE;
use super::session::Viewer;

/// The navigation bar: who is signed in, whether they see Admin, and the sign-out
/// form's CSRF token.
#[derive(Debug, Clone)]
pub struct Nav {
    /// The signed-in user.
    pub username: String,
    /// Whether the Admin pages are shown.
    pub admin: bool,
    /// The CSRF token of the session's forms.
    pub csrf: String,
}

impl Nav {
    /// The bar of `viewer`'s pages.
    pub fn of(viewer: &Viewer) -> Option<Nav> {
        Some(Nav {
            username: viewer.caller.username.clone(),
            admin: viewer.caller.admin,
            csrf: viewer.csrf.clone(),
        })
    }
}

/// Only the platform's own scripts, styles and forms; never framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// A rendered page with `status`, not cached, under the content security policy.
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    render(HttpResponse::build(status), page)
}

/// A rendered page on `resp` (which may carry cookies already).
pub fn render(mut resp: HttpResponseBuilder, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => resp
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header(NO_STORE)
            .insert_header(("content-security-policy", CSP))
            .insert_header((X_FRAME_OPTIONS, "DENY"))
            .insert_header(("referrer-policy", "same-origin"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard template did not render");
            HttpResponse::InternalServerError().content_type("text/plain").body("the page did not render\n")
        }
    }
}

/// A 200 page.
pub fn ok(page: &impl Template) -> HttpResponse {
    html(StatusCode::OK, page)
}

/// `2026-11-18T11:06:40.123Z` as `2026-11-18 11:06 UTC`.
pub fn when(timestamp: &str) -> String {
    match (timestamp.get(..10), timestamp.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => timestamp.to_owned(),
    }
}

/// Seconds as `3d 4h`, `5h 6m`, `7m 8s` or `9s`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// A redirect after a form post (the page shows what changed).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, location)).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_read_short() {
        assert_eq!(when("2026-11-18T11:06:40.123Z"), "2026-11-18 11:06 UTC");
        assert_eq!(when("odd"), "odd");
        assert_eq!(duration(9), "9s");
        assert_eq!(duration(7 * 60 + 8), "7m 8s");
        assert_eq!(duration(5 * 3600 + 6 * 60 + 1), "5h 6m");
        assert_eq!(duration(3 * 86_400 + 4 * 3600), "3d 4h");
    }
}
