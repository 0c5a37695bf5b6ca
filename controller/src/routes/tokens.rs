//! `/v1/tokens`: the caller's API tokens.

use actix_web::{delete, get, post, web, HttpResponse};
use paas_core::api::{ErrorBody, Token, TokenCreate, TokenCreated};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The caller's API tokens (never their secrets).
#[utoipa::path(operation_id = "tokens_list", get, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = [Token]), (status = "4XX", body = ErrorBody)))]
#[get("/tokens")]
pub async fn list(state: web::Data<State>, caller: Caller) -> ApiResult<web::Json<Vec<Token>>> {
    Ok(web::Json(app::tokens::list(&state, &caller).await?))
}

/// Makes an API token; its secret is in this answer only.
#[utoipa::path(operation_id = "tokens_create", post, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])), request_body = TokenCreate,
    responses((status = 201, body = TokenCreated), (status = "4XX", body = ErrorBody)))]
#[post("/tokens")]
pub async fn create(
    state: web::Data<State>,
    caller: Caller,
    body: web::Json<TokenCreate>,
) -> ApiResult<HttpResponse> {
    let created = app::tokens::create(&state, &caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(operation_id = "tokens_revoke", delete, path = "/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = i64, Path, description = "token id")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
#[delete("/tokens/{id}")]
pub async fn revoke(state: web::Data<State>, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    app::tokens::revoke(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
