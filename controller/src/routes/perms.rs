//! `/v1/apps/{app}/collaborators`.

use actix_web::{delete, get, post, web, HttpResponse};
use paas_core::api::{Collaborator, CollaboratorAdd, ErrorBody};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The app's owner and collaborators.
#[utoipa::path(operation_id = "perms_list", get, path = "/v1/apps/{app}/collaborators", tag = "perms", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = [Collaborator]), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/collaborators")]
pub async fn list(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<Vec<Collaborator>>> {
    Ok(web::Json(app::perms::list(&state, &caller, &name).await?))
}

/// Lets a user act on the app (owner or admin).
#[utoipa::path(operation_id = "perms_add", post, path = "/v1/apps/{app}/collaborators", tag = "perms", security(("bearer" = [])), params(("app" = String, Path)),
    request_body = CollaboratorAdd,
    responses((status = 201, body = Collaborator), (status = "4XX", body = ErrorBody)))]
#[post("/apps/{app}/collaborators")]
pub async fn add(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<CollaboratorAdd>,
) -> ApiResult<HttpResponse> {
    let added = app::perms::add(&state, &caller, &name, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(added))
}

/// Stops a user from acting on the app (owner or admin).
#[utoipa::path(operation_id = "perms_remove", delete, path = "/v1/apps/{app}/collaborators/{username}", tag = "perms", security(("bearer" = [])),
    params(("app" = String, Path), ("username" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
#[delete("/apps/{app}/collaborators/{username}")]
pub async fn remove(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (name, username) = path.into_inner();
    app::perms::remove(&state, &caller, &name, &username).await?;
    Ok(HttpResponse::NoContent().finish())
}
