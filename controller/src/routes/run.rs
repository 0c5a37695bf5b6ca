//! `/v1/apps/{app}/run`: a one-off process, streamed both ways on one connection.

use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_ENCODING};
use actix_web::{post, web, HttpResponse};
use futures_util::StreamExt;
use paas_core::api::{ErrorBody, RunRequest};
use paas_core::run_stream::{Frame, FrameDecoder, CONTENT_TYPE};

use crate::app;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::State;

/// How long a client may take to send its `Start` frame.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a command once in a new container of the app's current release, with the
/// release's config (and `PORT`, and `DYNO=run.<n>`). Full-duplex HTTP/1.1: the
/// request body (`Transfer-Encoding: chunked`) is a run stream (`[kind u8][len u32
/// big-endian][bytes]`) that starts with a `start` frame (kind 0) holding the JSON
/// `RunRequest`, then `stdin` frames (kind 1; an empty one closes stdin) and `resize`
/// frames (kind 5, cols and rows as u16); the 200 response's body, sent while the
/// request's still flows, is `stdout` (2) and `stderr` (3) frames, then one `exit`
/// frame (4, the status as i32) or one `error` frame (6, UTF-8). A request refused
/// (empty command 400, no build 409, no Docker engine 503) starts nothing. See
/// `paas_core::run_stream`.
#[utoipa::path(operation_id = "run", post, path = "/v1/apps/{app}/run", tag = "run",
    security(("bearer" = [])), params(("app" = String, Path)),
    request_body(content = RunRequest, content_type = "application/vnd.paas.run-stream",
        description = "run stream frames: a `start` frame with this JSON, then `stdin` and `resize` frames"),
    responses((status = 200, content_type = "application/vnd.paas.run-stream",
            description = "run stream frames: `stdout`, `stderr`, then `exit` (or `error`)"),
        (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/apps/{app}/run")]
pub async fn run(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    mut body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (request, decoder) = tokio::time::timeout(START_TIMEOUT, read_start(&mut body))
        .await
        .map_err(|_| ApiError::invalid("no start frame within 30 seconds"))??;
    let oneoff = app::run::start(&state, &caller, &name, request).await?;
    let frames = app::run::attach(&state, oneoff, body, decoder);
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header((CACHE_CONTROL, "no-store"))
        // Compression would hold output back in its buffer.
        .insert_header((CONTENT_ENCODING, "identity"))
        .streaming(frames))
}

/// Reads the request body up to its first frame, which must be `start`; returns the
/// request and the decoder holding whatever came after it.
async fn read_start(body: &mut web::Payload) -> ApiResult<(RunRequest, FrameDecoder)> {
    let hint =
        "send the request as run stream frames, starting with a start frame; see paas_core::run_stream";
    let mut decoder = FrameDecoder::new();
    loop {
        match decoder.next_frame() {
            Ok(Some(Frame::Start(json))) => {
                let request = serde_json::from_slice(&json)
                    .map_err(|e| ApiError::invalid(format!("invalid JSON in the start frame: {e}")))?;
                return Ok((request, decoder));
            }
            Ok(Some(_)) => {
                return Err(ApiError::invalid("the run stream must begin with a start frame").with_hint(hint))
            }
            Err(e) => return Err(ApiError::invalid(e.to_string()).with_hint(hint)),
            Ok(None) => {}
        }
        match body.next().await {
            Some(Ok(bytes)) => decoder.push(&bytes),
            Some(Err(e)) => return Err(ApiError::invalid(format!("cannot read the request body: {e}"))),
            None => return Err(ApiError::invalid("the request ended before its start frame").with_hint(hint)),
        }
    }
}
