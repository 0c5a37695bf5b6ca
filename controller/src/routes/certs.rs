//! `/v1/apps/{app}/certs` and `/v1/apps/{app}/tls`.

use actix_web::{delete, get, post, put, web, HttpResponse};
use paas_core::api::{AcmeStatus, Certificate, CertificateCreate, ErrorBody, TlsSettings};

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

/// Whether the platform orders the app's certificate (`certs:auto`), and the last
/// order's failure.
#[utoipa::path(operation_id = "certs_auto_status", get, path = "/v1/apps/{app}/certs/auto", tag = "certs", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 200, body = AcmeStatus), (status = "4XX", body = ErrorBody)))]
#[get("/apps/{app}/certs/auto")]
pub async fn auto_status(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<web::Json<AcmeStatus>> {
    Ok(web::Json(app::acme::status(&state, &caller, &name).await?))
}

/// Turns `certs:auto` on and orders the certificate from the ACME server now (HTTP-01
/// through the router); the platform renews it 30 days before it expires. A 503 says
/// why the order failed; the platform tries again every check interval.
#[utoipa::path(operation_id = "certs_auto_enable", post, path = "/v1/apps/{app}/certs/auto", tag = "certs", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 201, body = Certificate), (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/apps/{app}/certs/auto")]
pub async fn auto_enable(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let cert = app::acme::enable(&state, &caller, &name).await?;
    Ok(HttpResponse::Created().json(cert))
}

/// Turns `certs:auto` off; the current certificate stays until removed or expired.
#[utoipa::path(operation_id = "certs_auto_disable", delete, path = "/v1/apps/{app}/certs/auto", tag = "certs", security(("bearer" = [])), params(("app" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
#[delete("/apps/{app}/certs/auto")]
pub async fn auto_disable(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    app::acme::disable(&state, &caller, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An HTTP-01 challenge's answer (RFC 8555 section 8.3), while an order is validated.
/// The routers send this path of every app host here; no credential, as the protocol
/// wants.
#[get("/.well-known/acme-challenge/{token}")]
pub async fn acme_challenge(state: web::Data<State>, token: web::Path<String>) -> ApiResult<HttpResponse> {
    let answer = app::acme::challenge(&state, &token).await?;
    Ok(HttpResponse::Ok().content_type("application/octet-stream").body(answer))
}
