//! `/v1/apps/{app}/builds`.

use actix_web::{get, web};
use paas_core::api::{Build, ErrorBody};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The app's builds, newest first (at most 100), each with the releases that run it.
#[utoipa::path(operation_id = "builds_list", get, path = "/v1/apps/{app}/builds", tag = "builds",
    security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = [Build]), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/builds")]
pub async fn list(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<Vec<Build>>> {
    Ok(web::Json(app::builds::list(&state, &caller, &name).await?))
}
