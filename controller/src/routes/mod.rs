//! HTTP handlers: parse the request, call one function of [`crate::app`], return its
//! answer. Handlers never touch the database pool.

pub mod apps;
pub mod auth;
pub mod builds;
pub mod certs;
pub mod config;
pub mod domains;
pub mod formation;
pub mod healthchecks;
pub mod internal;
pub mod limits;
pub mod logs;
pub mod perms;
pub mod platform;
pub mod processes;
pub mod releases;
pub mod restart;
pub mod run;
pub mod tokens;
pub mod users;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::{ApiError, ErrorKind};

/// The largest JSON body accepted, in bytes.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(MAX_JSON_BODY).error_handler(json_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        // Raw bodies: the routers' access batches are the largest.
        .app_data(web::PayloadConfig::new(paas_core::access::MAX_BATCH_BYTES))
        .service(platform::healthz)
        .service(platform::readyz)
        .service(certs::acme_challenge)
        .service(
            web::scope("/v1")
                .service(platform::platform)
                .service(platform::registration_get)
                .service(platform::registration_set)
                .service(platform::events)
                .service(internal::routes_watch)
                .service(internal::access_post)
                .service(internal::routes_applied)
                .service(auth::register)
                .service(auth::login)
                .service(auth::whoami)
                .service(tokens::list)
                .service(tokens::create)
                .service(tokens::revoke)
                .service(users::list)
                .service(users::update)
                .service(apps::list)
                .service(apps::create)
                .service(apps::info)
                .service(apps::destroy)
                .service(apps::events)
                .service(config::get)
                .service(config::update)
                .service(releases::list)
                .service(releases::info)
                .service(releases::rollback)
                .service(formation::get)
                .service(formation::scale)
                .service(processes::list)
                .service(restart::restart)
                .service(limits::get)
                .service(limits::set)
                .service(limits::unset)
                .service(healthchecks::list)
                .service(healthchecks::set)
                .service(healthchecks::unset)
                .service(builds::list)
                .service(logs::get)
                .service(run::run)
                .service(domains::list)
                .service(domains::add)
                .service(domains::remove)
                .service(certs::list)
                .service(certs::add)
                // Before `remove`, whose `{cert}` would take `auto`.
                .service(certs::auto_status)
                .service(certs::auto_enable)
                .service(certs::auto_disable)
                .service(certs::remove)
                .service(certs::tls_get)
                .service(certs::tls_set)
                .service(perms::list)
                .service(perms::add)
                .service(perms::remove),
        )
        .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!("no such endpoint: {} {}", req.method(), req.path()))
        .with_hint("the API lives under /v1; see docs/openapi.json"))
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!("the request body is larger than {limit} bytes"),
            )
        }
        JsonPayloadError::ContentType => ApiError::invalid("the request body must be JSON")
            .with_hint("send `Content-Type: application/json`"),
        JsonPayloadError::Deserialize(e) => ApiError::invalid(format!("invalid JSON body: {e}")),
        other => ApiError::invalid(format!("cannot read the request body: {other}")),
    };
    api.into()
}

fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::invalid(format!("invalid path: {err}")).into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::invalid(format!("invalid query string: {err}")).into()
}
