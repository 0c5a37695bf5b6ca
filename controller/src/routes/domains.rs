//! `/v1/apps/{app}/domains`.

use actix_web::{delete, get, post, web, HttpResponse};
use paas_core::api::{Domain, DomainCreate, ErrorBody};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The app's default and custom domains.
#[utoipa::path(operation_id = "domains_list", get, path = "/v1/apps/{app}/domains", tag = "domains", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = [Domain]), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/domains")]
pub async fn list(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<Vec<Domain>>> {
    Ok(web::Json(app::domains::list(&state, &caller, &name).await?))
}

/// Adds a custom domain; each host name belongs to at most one app.
#[utoipa::path(operation_id = "domains_add", post, path = "/v1/apps/{app}/domains", tag = "domains", security(("bearer" = [])), params(("app" = String, Path)),
    request_body = DomainCreate,
    responses((status = 201, body = Domain), (status = "4XX", body = ErrorBody)))]
#[post("/apps/{app}/domains")]
pub async fn add(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<DomainCreate>,
) -> ApiResult<HttpResponse> {
    let domain = app::domains::add(&state, &caller, &name, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(domain))
}

/// Removes a custom domain.
#[utoipa::path(operation_id = "domains_remove", delete, path = "/v1/apps/{app}/domains/{hostname}", tag = "domains", security(("bearer" = [])),
    params(("app" = String, Path), ("hostname" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
#[delete("/apps/{app}/domains/{hostname}")]
pub async fn remove(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (name, hostname) = path.into_inner();
    app::domains::remove(&state, &caller, &name, &hostname).await?;
    Ok(HttpResponse::NoContent().finish())
}
