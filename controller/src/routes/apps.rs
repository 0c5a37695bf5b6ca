//! `/v1/apps`: create, list, info, destroy, and an app's events.

use actix_web::{delete, get, post, web, HttpResponse};
use paas_core::api::{App, AppCreate, AppInfo, ErrorBody, Event};
use serde::Deserialize;

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The apps the caller may act on (every app for an admin).
#[utoipa::path(operation_id = "apps_list", get, path = "/v1/apps", tag = "apps", security(("bearer" = [])),
    responses((status = 200, body = [App]), (status = "4XX", body = ErrorBody)))]
#[get("/apps")]
pub async fn list(state: web::Data<State>, caller: Caller) -> ApiResult<web::Json<Vec<App>>> {
    Ok(web::Json(app::apps::list(&state, &caller).await?))
}

/// Creates an app owned by the caller; its release v1 has an empty config.
#[utoipa::path(operation_id = "apps_create", post, path = "/v1/apps", tag = "apps", security(("bearer" = [])), request_body = AppCreate,
    responses((status = 201, body = App), (status = "4XX", body = ErrorBody)))]
#[post("/apps")]
pub async fn create(
    state: web::Data<State>,
    caller: Caller,
    body: web::Json<AppCreate>,
) -> ApiResult<HttpResponse> {
    let created = app::apps::create(&state, &caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// An app with its collaborators, domains and formation.
#[utoipa::path(operation_id = "apps_info", get, path = "/v1/apps/{app}", tag = "apps", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = AppInfo), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}")]
pub async fn info(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<AppInfo>> {
    Ok(web::Json(app::apps::info(&state, &caller, &name).await?))
}

/// Destroys an app and everything it owns (owner or admin).
#[utoipa::path(operation_id = "apps_destroy", delete, path = "/v1/apps/{app}", tag = "apps", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
#[delete("/apps/{app}")]
pub async fn destroy(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    app::apps::destroy(&state, &caller, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `?limit=N` of an event listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// At most this many events, newest first (1 to 1000, default 100).
    pub limit: Option<i64>,
}

/// The app's newest events.
#[utoipa::path(operation_id = "apps_events", get, path = "/v1/apps/{app}/events", tag = "apps", security(("bearer" = [])),
    params(("app" = String, Path), EventQuery),
    responses((status = 200, body = [Event]), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/events")]
pub async fn events(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    query: web::Query<EventQuery>,
) -> ApiResult<web::Json<Vec<Event>>> {
    Ok(web::Json(app::events::list_for_app(&state, &caller, &name, query.limit).await?))
}
