//! The admin web dashboard: server-rendered pages (askama templates in the repository's
//! `templates/`) under [`PREFIX`], for people in a browser; the API under `/v1` stays
//! the interface of programs. Every page works without JavaScript (forms post and
//! redirect); `dashboard.js` only adds the live log tail.
//!
//! Handlers are thin: they read the form or the session cookie ([`session::Viewer`]),
//! check the form's CSRF token ([`csrf`]), call one function of [`crate::app`] (the
//! same rules as the API: a collaborator sees only their apps, only admins see Admin),
//! and render a template or redirect. [`error::DashError`] turns every failure into a
//! page once. None of these routes are in the OpenAPI document: they are not API.

pub mod admin;
pub mod app_page;
pub mod apps;
pub mod assets;
pub mod csrf;
pub mod error;
pub mod session;
pub mod sign_in;
pub mod views;

use actix_web::web;

/// Where the dashboard lives on the controller's listener (and on `paas.<domain>`
/// through the router).
pub const PREFIX: &str = "/dashboard";

/// Registers the dashboard's routes, and `/`, which leads to it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { views::see_other(&format!("{PREFIX}/apps")) })).service(
        web::scope(PREFIX)
            .app_data(web::FormConfig::default().limit(64 * 1024).error_handler(error::form_error))
            .route("", web::get().to(|| async { views::see_other(&format!("{PREFIX}/apps")) }))
            .route("/", web::get().to(|| async { views::see_other(&format!("{PREFIX}/apps")) }))
            .service(assets::css)
            .service(assets::js)
            .service(assets::icon)
            .service(sign_in::show_form)
            .service(sign_in::sign_in)
            .service(sign_in::sign_out)
            .service(apps::list)
            .service(app_page::page)
            .service(app_page::scale)
            .service(app_page::restart)
            .service(app_page::rollback)
            .service(app_page::reveal)
            .service(app_page::logs)
            .service(app_page::log_stream)
            .service(admin::index)
            .service(admin::users_list)
            .service(admin::create_user)
            .service(admin::update_user)
            .service(admin::set_registration)
            .service(admin::audit)
            .service(admin::platform),
    );
}
