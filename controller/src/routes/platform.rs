//! The platform itself: `/v1/platform`, its registration mode, the admin's event log,
//! health probes.

use actix_web::{get, put, web, HttpResponse};
use paas_core::api::{ErrorBody, Event, Platform, RegistrationSettings, RegistrationUpdate};
use serde::Deserialize;

use crate::app;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::State;

/// Facts about the platform a client needs before signing in.
#[utoipa::path(operation_id = "platform_platform", get, path = "/v1/platform", tag = "platform",
    responses((status = 200, body = Platform), (status = "5XX", body = ErrorBody)))]
#[get("/platform")]
pub async fn platform(state: web::Data<State>) -> ApiResult<web::Json<Platform>> {
    let registration = app::users::registration_mode(&state).await?;
    Ok(web::Json(Platform {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        domain: state.config.domain.to_string(),
        api_url: state.config.public_url.clone(),
        git_url: state.config.git_url(),
        registration: registration.as_str().to_owned(),
    }))
}

/// Who may register once the first user exists, and which admin set it (admins only).
#[utoipa::path(operation_id = "platform_registration_get", get, path = "/v1/platform/registration", tag = "platform", security(("bearer" = [])),
    responses((status = 200, body = RegistrationSettings), (status = "4XX", body = ErrorBody)))]
#[get("/platform/registration")]
pub async fn registration_get(
    state: web::Data<State>,
    caller: Caller,
) -> ApiResult<web::Json<RegistrationSettings>> {
    Ok(web::Json(app::users::registration(&state, &caller).await?))
}

/// Sets who may register (admins only): stored, it replaces the start-up
/// `PAAS_REGISTRATION` from now on, restarts included.
#[utoipa::path(operation_id = "platform_registration_set", put, path = "/v1/platform/registration", tag = "platform", security(("bearer" = [])),
    request_body = RegistrationUpdate,
    responses((status = 200, body = RegistrationSettings), (status = "4XX", body = ErrorBody)))]
#[put("/platform/registration")]
pub async fn registration_set(
    state: web::Data<State>,
    caller: Caller,
    body: web::Json<RegistrationUpdate>,
) -> ApiResult<web::Json<RegistrationSettings>> {
    Ok(web::Json(app::users::registration_set(&state, &caller, body.into_inner()).await?))
}

/// `?app=NAME&limit=N` of the platform's event log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlatformEventQuery {
    /// Only events of this app (also destroyed ones).
    pub app: Option<String>,
    /// At most this many events, newest first (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// The platform's audit log (admins only).
#[utoipa::path(operation_id = "platform_events", get, path = "/v1/events", tag = "platform", security(("bearer" = [])), params(PlatformEventQuery),
    responses((status = 200, body = [Event]), (status = "4XX", body = ErrorBody)))]
#[get("/events")]
pub async fn events(
    state: web::Data<State>,
    caller: Caller,
    query: web::Query<PlatformEventQuery>,
) -> ApiResult<web::Json<Vec<Event>>> {
    Ok(web::Json(app::events::list_all(&state, &caller, query.app.as_deref(), query.limit).await?))
}

/// Liveness: the process answers.
#[utoipa::path(operation_id = "platform_healthz", get, path = "/healthz", tag = "platform", responses((status = 200)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Readiness: the database answers.
#[utoipa::path(operation_id = "platform_readyz", get, path = "/readyz", tag = "platform", responses((status = 200), (status = 503, body = ErrorBody)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<State>) -> ApiResult<HttpResponse> {
    app::platform_ready(&state).await.map_err(|e| {
        ApiError::new(ErrorKind::Unavailable, "the database does not answer").with_hint(e.to_string())
    })?;
    Ok(HttpResponse::Ok().content_type("text/plain").body("ready\n"))
}
