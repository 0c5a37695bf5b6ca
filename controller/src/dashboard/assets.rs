//! The dashboard's only assets, compiled in: one style sheet, the small script of the
//! live log tail, and an icon. Nothing is loaded from outside the platform.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{get, HttpResponse};

/// The style sheet.
pub const CSS: &str = include_str!("../../../templates/dashboard.css");
/// The live log tail.
pub const JS: &str = include_str!("../../../templates/dashboard.js");

/// The icon (so browsers do not ask for a missing `/favicon.ico`).
pub const ICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">\
<rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#3b5bdb\"/></svg>";

/// `GET /dashboard/static/icon.svg`.
#[get("/static/icon.svg")]
pub async fn icon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((CACHE_CONTROL, "max-age=86400"))
        .body(ICON)
}

/// `GET /dashboard/static/dashboard.css`.
#[get("/static/dashboard.css")]
pub async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((CACHE_CONTROL, "max-age=300"))
        .body(CSS)
}

/// `GET /dashboard/static/dashboard.js`.
#[get("/static/dashboard.js")]
pub async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((CACHE_CONTROL, "max-age=300"))
        .body(JS)
}
