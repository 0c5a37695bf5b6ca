//! `/v1/apps/{app}/certs` and `/v1/apps/{app}/tls`.

use actix_web::{delete, get, post, put, web, HttpResponse};
use paas_core::api::{Certificate, CertificateCreate, ErrorBody, TlsSettings};

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// The app's TLS certificates: host names, validity, fingerprint; never the key.
#[utoipa::path(operation_id = "certs_list", get, path = "/v1/apps/{app}/certs", tag = "certs", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = [Certificate]), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/certs")]
pub async fn list(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<Vec<Certificate>>> {
    Ok(web::Json(app::certs::list(&state, &caller, &name).await?))
}

/// Adds a certificate: the key must match, the chain parse, the date be valid and
/// every name be a domain of the app; a name another certificate covers is a 409.
#[utoipa::path(operation_id = "certs_add", post, path = "/v1/apps/{app}/certs", tag = "certs", security(("bearer" = [])), params(("app" = String, Path)),
    request_body = CertificateCreate,
    responses((status = 201, body = Certificate), (status = "4XX", body = ErrorBody)))]
#[post("/apps/{app}/certs")]
pub async fn add(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<CertificateCreate>,
) -> ApiResult<HttpResponse> {
    let cert = app::certs::add(&state, &caller, &name, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(cert))
}

/// Removes a certificate, named by its id or one of its host names.
#[utoipa::path(operation_id = "certs_remove", delete, path = "/v1/apps/{app}/certs/{cert}", tag = "certs", security(("bearer" = [])),
    params(("app" = String, Path), ("cert" = String, Path, description = "an id or a host name of the certificate")),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
#[delete("/apps/{app}/certs/{cert}")]
pub async fn remove(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (name, which) = path.into_inner();
    app::certs::remove(&state, &caller, &name, &which).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whether plain HTTP is redirected to HTTPS (and HTTPS answers carry HSTS).
#[utoipa::path(operation_id = "tls_get", get, path = "/v1/apps/{app}/tls", tag = "certs", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = TlsSettings), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/tls")]
pub async fn tls_get(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<TlsSettings>> {
    Ok(web::Json(app::certs::tls_get(&state, &caller, &name).await?))
}

/// Turns the redirect to HTTPS and HSTS on or off (off for a new app).
#[utoipa::path(operation_id = "tls_set", put, path = "/v1/apps/{app}/tls", tag = "certs", security(("bearer" = [])), params(("app" = String, Path)),
    request_body = TlsSettings,
    responses((status = 200, body = TlsSettings), (status = "4XX", body = ErrorBody)))]
#[put("/apps/{app}/tls")]
pub async fn tls_set(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<TlsSettings>,
) -> ApiResult<web::Json<TlsSettings>> {
    Ok(web::Json(app::certs::tls_set(&state, &caller, &name, body.into_inner()).await?))
}
