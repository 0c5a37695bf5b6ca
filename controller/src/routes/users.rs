//! `/v1/users`: user management for admins.

use actix_web::{get, patch, web};
use paas_core::api::{ErrorBody, User, UserUpdate};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// Every user (admins only).
#[utoipa::path(operation_id = "users_list", get, path = "/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = [User]), (status = "4XX", body = ErrorBody)))]
#[get("/users")]
pub async fn list(state: web::Data<State>, caller: Caller) -> ApiResult<web::Json<Vec<User>>> {
    Ok(web::Json(app::users::list(&state, &caller).await?))
}

/// Promotes, demotes, disables or enables a user (admins only).
#[utoipa::path(operation_id = "users_update", patch, path = "/v1/users/{username}", tag = "users", security(("bearer" = [])), request_body = UserUpdate,
    params(("username" = String, Path)),
    responses((status = 200, body = User), (status = "4XX", body = ErrorBody)))]
#[patch("/users/{username}")]
pub async fn update(
    state: web::Data<State>,
    caller: Caller,
    username: web::Path<String>,
    body: web::Json<UserUpdate>,
) -> ApiResult<web::Json<User>> {
    Ok(web::Json(app::users::update(&state, &caller, &username, body.into_inner()).await?))
}
