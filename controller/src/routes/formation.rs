//! `/v1/apps/{app}/formation`.

use actix_web::{get, patch, web};
use paas_core::api::{ErrorBody, FormationUpdate, ProcessFormation};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// How many processes of each type the app should run.
#[utoipa::path(operation_id = "formation_get", get, path = "/v1/apps/{app}/formation", tag = "formation", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = [ProcessFormation]), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/formation")]
pub async fn get(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<Vec<ProcessFormation>>> {
    Ok(web::Json(app::formation::get(&state, &caller, &name).await?))
}

/// Scales process types; not a release.
#[utoipa::path(operation_id = "formation_scale", patch, path = "/v1/apps/{app}/formation", tag = "formation", security(("bearer" = [])), params(("app" = String, Path)),
    request_body = FormationUpdate,
    responses((status = 200, body = [ProcessFormation]), (status = "4XX", body = ErrorBody)))]
#[patch("/apps/{app}/formation")]
pub async fn scale(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<FormationUpdate>,
) -> ApiResult<web::Json<Vec<ProcessFormation>>> {
    Ok(web::Json(app::formation::scale(&state, &caller, &name, body.into_inner()).await?))
}
