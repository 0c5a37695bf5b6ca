//! `/v1/apps/{app}/healthchecks`.

use actix_web::{delete, get, put, web, HttpResponse};
use paas_core::api::{ErrorBody, Healthcheck, HealthcheckUpdate};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The app's health checks, by process type (types without one use the default: the
/// port accepts a connection and answers HTTP).
#[utoipa::path(operation_id = "healthchecks_list", get, path = "/v1/apps/{app}/healthchecks", tag = "healthchecks",
    security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = [Healthcheck]), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/healthchecks")]
pub async fn list(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<Vec<Healthcheck>>> {
    Ok(web::Json(app::healthchecks::list(&state, &caller, &name).await?))
}

/// Sets the health check of one process type; it applies to processes started from now on.
#[utoipa::path(operation_id = "healthchecks_set", put, path = "/v1/apps/{app}/healthchecks/{type}", tag = "healthchecks",
    security(("bearer" = [])), params(("app" = String, Path), ("type" = String, Path)),
    request_body = HealthcheckUpdate,
    responses((status = 200, body = Healthcheck), (status = "4XX", body = ErrorBody)))]
#[put("/apps/{app}/healthchecks/{type}")]
pub async fn set(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<HealthcheckUpdate>,
) -> ApiResult<web::Json<Healthcheck>> {
    let (name, process_type) = path.into_inner();
    Ok(web::Json(app::healthchecks::set(&state, &caller, &name, &process_type, body.into_inner()).await?))
}

/// Removes the health check of one process type: the default applies again.
#[utoipa::path(operation_id = "healthchecks_unset", delete, path = "/v1/apps/{app}/healthchecks/{type}", tag = "healthchecks",
    security(("bearer" = [])), params(("app" = String, Path), ("type" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
#[delete("/apps/{app}/healthchecks/{type}")]
pub async fn unset(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (name, process_type) = path.into_inner();
    app::healthchecks::unset(&state, &caller, &name, &process_type).await?;
    Ok(HttpResponse::NoContent().finish())
}
