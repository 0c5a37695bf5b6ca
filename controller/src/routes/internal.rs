//! `/v1/internal`: what the platform's own parts call, with the internal credential.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_ENCODING};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use paas_core::access::AccessBatch;
use paas_core::api::ErrorBody;
use paas_core::routes::{Applied, WATCH_CONTENT_TYPE, WATCH_ID_HEADER};

use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::State;

/// The route table as a stream of NDJSON lines: a snapshot, then versioned changes
/// (routers only; `Authorization: Bearer <internal token>`). The `Paas-Watch` header
/// names the stream for `POST /v1/internal/routes/applied`.
#[utoipa::path(operation_id = "internal_routes_watch", get, path = "/v1/internal/routes/watch", tag = "internal",
    security(("bearer" = [])),
    responses((status = 200, content_type = "application/x-ndjson", description = "snapshot, then changes"),
        (status = "4XX", body = ErrorBody)))]
#[get("/internal/routes/watch")]
pub async fn routes_watch(state: web::Data<State>, req: HttpRequest) -> ApiResult<HttpResponse> {
    auth::authenticate_internal(&state, auth::authorization_header(&req).as_deref())?;
    let (watch, stream) = state.routes.watch();
    Ok(HttpResponse::Ok()
        .content_type(WATCH_CONTENT_TYPE)
        .insert_header((WATCH_ID_HEADER, watch.to_string()))
        .insert_header((CACHE_CONTROL, "no-store"))
        // Compression would hold lines back in its buffer.
        .insert_header((CONTENT_ENCODING, "identity"))
        .streaming(stream))
}

/// A router's word that it serves a version of the table it follows on a watch stream
/// (routers only; `Authorization: Bearer <internal token>`; JSON `{"watch", "version"}`).
#[utoipa::path(operation_id = "internal_routes_applied", post, path = "/v1/internal/routes/applied", tag = "internal",
    security(("bearer" = [])),
    request_body(content_type = "application/json", description = "the stream's number and the version served"),
    responses((status = 204, description = "noted"), (status = "4XX", body = ErrorBody)))]
#[post("/internal/routes/applied")]
pub async fn routes_applied(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    auth::authenticate_internal(&state, auth::authorization_header(&req).as_deref())?;
    let applied: Applied = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("the body is not a route acknowledgement: {e}")))?;
    if !state.routes.applied(applied.watch, applied.version) {
        return Err(ApiError::not_found(format!("there is no watch stream {}", applied.watch))
            .with_hint("the stream ended; open a new one"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// A router's access lines, kept for the apps' logs (routers only; `Authorization:
/// Bearer <internal token>`; a JSON `AccessBatch` of at most 2000 records).
#[utoipa::path(operation_id = "internal_access_post", post, path = "/v1/internal/access", tag = "internal",
    security(("bearer" = [])),
    request_body(content_type = "application/json", description = "an access batch: records, dropped"),
    responses((status = 204, description = "kept"), (status = "4XX", body = ErrorBody)))]
#[post("/internal/access")]
pub async fn access_post(
    state: web::Data<State>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    auth::authenticate_internal(&state, auth::authorization_header(&req).as_deref())?;
    let batch = AccessBatch::decode(&body).map_err(|e| ApiError::invalid(e.to_string()))?;
    state.router_log.append(batch);
    Ok(HttpResponse::NoContent().finish())
}
