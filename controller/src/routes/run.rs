//! `/v1/apps/{app}/run`: a one-off process, streamed both ways over a WebSocket.

use actix_web::{route, web, HttpRequest, HttpResponse};
use paas_core::api::{ErrorBody, RunRequest};
use paas_core::run_stream::{self, MAX_REQUEST_HEADER, REQUEST_HEADER};

use crate::app;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::State;

/// What a client that did not ask for a WebSocket, or not rightly, is told.
const UPGRADE_HINT: &str = "run streams over a WebSocket: GET with Connection: Upgrade, \
    Upgrade: websocket, Sec-WebSocket-Version: 13, a Sec-WebSocket-Key and the run request \
    in Paas-Run (base64url JSON, no padding); paas run does this (a paas older than the \
    controller does not: update it)";

/// Runs a command once in a new container of the app's current release, with the
/// release's config (and `PORT`, and `DYNO=run.<n>`), over a WebSocket (RFC 6455).
/// The request is a `GET` with `Connection: Upgrade` and `Upgrade: websocket`, and the
/// `RunRequest` JSON, base64url without padding, in the `Paas-Run` header (at most 16
/// KiB). A request refused (not a WebSocket request, a bad or empty command: 400; no
/// build: 409; no Docker engine: 503) gets a JSON error instead of the `101` and starts
/// nothing. After the `101`, binary messages carry run stream frames (`[kind u8][len
/// u32 big-endian][bytes]`): from the client `stdin` (kind 1; an empty one closes stdin)
/// and `resize` (5, cols and rows as u16); from the controller `stdout` (2) and `stderr`
/// (3), then one `exit` (4, the status as i32) or one `error` (6, UTF-8), then the
/// close. A client that closes or goes away ends the process. See
/// `paas_core::run_stream`.
#[utoipa::path(operation_id = "run", get, path = "/v1/apps/{app}/run", tag = "run",
    security(("bearer" = [])),
    params(("app" = String, Path),
        ("Paas-Run" = String, Header,
            description = "the `RunRequest` JSON, base64url without padding, at most 16 KiB"),
        ("Upgrade" = String, Header, description = "`websocket`"),
        ("Connection" = String, Header, description = "`Upgrade`")),
    responses((status = 101, description = "a WebSocket: binary messages of run stream frames, \
            `stdin` and `resize` from the client, `stdout`, `stderr`, then `exit` (or `error`) \
            from the controller, then the close"),
        (status = 400, body = ErrorBody,
            description = "not a WebSocket request, or a missing, malformed or empty run request"),
        (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
#[route("/apps/{app}/run", method = "GET", method = "POST")]
pub async fn run(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    // Only answered once the process has started; dropped, nothing was sent.
    let (response, session, messages) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::invalid(format!("this endpoint speaks WebSocket only: {e}")).with_hint(UPGRADE_HINT)
    })?;
    let request = run_request(&req)?;
    let oneoff = app::run::start(&state, &caller, &name, request).await?;
    app::run::attach(&state, oneoff, session, messages);
    Ok(response)
}

/// The request from the `Paas-Run` header.
fn run_request(req: &HttpRequest) -> ApiResult<RunRequest> {
    let value = req.headers().get(REQUEST_HEADER).ok_or_else(|| {
        ApiError::invalid("the run request is missing: no Paas-Run header").with_hint(UPGRADE_HINT)
    })?;
    run_stream::decode_request(value.as_bytes()).map_err(|e| {
        ApiError::invalid(e.to_string()).with_hint(format!(
            "send the RunRequest JSON (e.g. {{\"command\": [\"true\"]}}) as base64url without padding, \
             at most {MAX_REQUEST_HEADER} bytes"
        ))
    })
}
