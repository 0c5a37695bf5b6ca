//! `/v1/apps/{app}/config`.

use actix_web::{get, patch, web};
use paas_core::api::{Config, ConfigUpdate, ErrorBody};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The app's config vars.
#[utoipa::path(operation_id = "config_get", get, path = "/v1/apps/{app}/config", tag = "config", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = Config), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/config")]
pub async fn get(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<Config>> {
    Ok(web::Json(app::config::get(&state, &caller, &name).await?))
}

/// Sets (string) and unsets (`null`) config vars in one new release.
#[utoipa::path(operation_id = "config_update", patch, path = "/v1/apps/{app}/config", tag = "config", security(("bearer" = [])), params(("app" = String, Path)),
    request_body = ConfigUpdate,
    responses((status = 200, body = Config), (status = "4XX", body = ErrorBody)))]
#[patch("/apps/{app}/config")]
pub async fn update(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<ConfigUpdate>,
) -> ApiResult<web::Json<Config>> {
    Ok(web::Json(app::config::update(&state, &caller, &name, body.into_inner()).await?))
}
