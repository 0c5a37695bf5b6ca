//! `/v1/auth`: register, login, whoami.

use actix_web::{get, post, web, HttpResponse};
use paas_core::api::{Credentials, ErrorBody, Session, User};

use crate::app;
use crate::auth::{Caller, MaybeCaller};
use crate::error::ApiResult;
use crate::State;

/// Registers a user. The first user becomes an admin; after that `PAAS_REGISTRATION`
/// decides who may register.
#[utoipa::path(operation_id = "auth_register", post, path = "/v1/auth/register", tag = "auth", request_body = Credentials,
    responses((status = 201, body = User), (status = "4XX", body = ErrorBody)))]
#[post("/auth/register")]
pub async fn register(
    state: web::Data<State>,
    caller: MaybeCaller,
    body: web::Json<Credentials>,
) -> ApiResult<HttpResponse> {
    let user = app::users::register(&state, caller.0.as_ref(), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(user))
}

/// Exchanges a username and password for a short-lived JWT.
#[utoipa::path(operation_id = "auth_login", post, path = "/v1/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = Session), (status = "4XX", body = ErrorBody)))]
#[post("/auth/login")]
pub async fn login(state: web::Data<State>, body: web::Json<Credentials>) -> ApiResult<web::Json<Session>> {
    Ok(web::Json(app::users::login(&state, body.into_inner()).await?))
}

/// The signed-in user.
#[utoipa::path(operation_id = "auth_whoami", get, path = "/v1/auth/whoami", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User), (status = "4XX", body = ErrorBody)))]
#[get("/auth/whoami")]
pub async fn whoami(state: web::Data<State>, caller: Caller) -> ApiResult<web::Json<User>> {
    Ok(web::Json(app::users::whoami(&state, &caller).await?))
}
