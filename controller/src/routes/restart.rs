//! `/v1/apps/{app}/processes/restart`.

use actix_web::{post, web};
use paas_core::api::{ErrorBody, Restart, RestartRequest};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// Replaces the processes of one type (or every type) rolling, without downtime: new
/// ones start, pass their health checks and enter the route table before the old ones
/// drain. Not a release. The body may be left out (every type).
#[utoipa::path(operation_id = "processes_restart", post, path = "/v1/apps/{app}/processes/restart", tag = "processes",
    security(("bearer" = [])), params(("app" = String, Path)),
    request_body(content = RestartRequest, description = "optional"),
    responses((status = 200, body = Restart), (status = "4XX", body = ErrorBody)))]
#[post("/apps/{app}/processes/restart")]
pub async fn restart(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    body: Option<web::Json<RestartRequest>>,
) -> ApiResult<web::Json<Restart>> {
    let request = body.map(web::Json::into_inner).unwrap_or_default();
    Ok(web::Json(app::restart::restart(&state, &caller, &name, request).await?))
}
