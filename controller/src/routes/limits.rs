//! `/v1/apps/{app}/limits`.

use actix_web::{delete, get, patch, web};
use paas_core::api::{ErrorBody, LimitsUpdate, ProcessLimits};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The resource limits of the app's process types that have any.
#[utoipa::path(operation_id = "limits_get", get, path = "/v1/apps/{app}/limits", tag = "limits",
    security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = [ProcessLimits]), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/limits")]
pub async fn get(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<Vec<ProcessLimits>>> {
    Ok(web::Json(app::limits::get(&state, &caller, &name).await?))
}

/// Sets memory and CPU limits of process types; their processes are replaced, rolling.
/// A bad size is a 400 and changes nothing.
#[utoipa::path(operation_id = "limits_set", patch, path = "/v1/apps/{app}/limits", tag = "limits",
    security(("bearer" = [])), params(("app" = String, Path)),
    request_body = LimitsUpdate,
    responses((status = 200, body = [ProcessLimits]), (status = "4XX", body = ErrorBody)))]
#[patch("/apps/{app}/limits")]
pub async fn set(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<LimitsUpdate>,
) -> ApiResult<web::Json<Vec<ProcessLimits>>> {
    Ok(web::Json(app::limits::set(&state, &caller, &name, body.into_inner()).await?))
}

/// Removes the limits of one process type; its processes are replaced, rolling.
#[utoipa::path(operation_id = "limits_unset", delete, path = "/v1/apps/{app}/limits/{type}", tag = "limits",
    security(("bearer" = [])), params(("app" = String, Path), ("type" = String, Path)),
    responses((status = 200, body = [ProcessLimits]), (status = "4XX", body = ErrorBody)))]
#[delete("/apps/{app}/limits/{type}")]
pub async fn unset(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<web::Json<Vec<ProcessLimits>>> {
    let (name, process_type) = path.into_inner();
    Ok(web::Json(app::limits::unset(&state, &caller, &name, &process_type).await?))
}
