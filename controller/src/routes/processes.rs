//! `/v1/apps/{app}/processes`.

use actix_web::{get, web};
use paas_core::api::{ErrorBody, Process};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The app's processes, as the scheduler last saw them (it looks every 5 s and after
/// every change).
#[utoipa::path(operation_id = "processes_list", get, path = "/v1/apps/{app}/processes", tag = "processes",
    security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = [Process]), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/processes")]
pub async fn list(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<Vec<Process>>> {
    Ok(web::Json(app::processes::list(&state, &caller, &name).await?))
}
