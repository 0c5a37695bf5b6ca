//! `/v1/apps/{app}/releases` and rollback.

use actix_web::{get, post, web, HttpResponse};
use paas_core::api::{ErrorBody, Release, ReleaseInfo, RollbackRequest};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The app's releases, newest first (at most 100).
#[utoipa::path(operation_id = "releases_list", get, path = "/v1/apps/{app}/releases", tag = "releases", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = [Release]), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/releases")]
pub async fn list(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<Vec<Release>>> {
    Ok(web::Json(app::releases::list(&state, &caller, &name).await?))
}

/// One release with its config.
#[utoipa::path(operation_id = "releases_info", get, path = "/v1/apps/{app}/releases/{version}", tag = "releases", security(("bearer" = [])),
    params(("app" = String, Path), ("version" = String, Path, description = "N or vN")),
    responses((status = 200, body = ReleaseInfo), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/releases/{version}")]
pub async fn info(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<web::Json<ReleaseInfo>> {
    let (name, version) = path.into_inner();
    Ok(web::Json(app::releases::info(&state, &caller, &name, &version).await?))
}

/// Makes a new release with an earlier release's build and config.
#[utoipa::path(operation_id = "releases_rollback", post, path = "/v1/apps/{app}/rollback", tag = "releases", security(("bearer" = [])), params(("app" = String, Path)),
    request_body = RollbackRequest,
    responses((status = 201, body = Release), (status = "4XX", body = ErrorBody)))]
#[post("/apps/{app}/rollback")]
pub async fn rollback(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<RollbackRequest>,
) -> ApiResult<HttpResponse> {
    let release = app::releases::rollback(&state, &caller, &name, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(release))
}
