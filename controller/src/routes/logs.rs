//! `/v1/apps/{app}/logs`: plain text lines, streamed.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_ENCODING};
use actix_web::{get, web, HttpResponse};
use paas_core::api::ErrorBody;
use serde::Deserialize;

use crate::app;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::State;

/// `?lines=N&follow=true&type=web&release=3` of a logs request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// How many of the newest lines to send (0 to 10000, default 100).
    pub lines: Option<i64>,
    /// Keep the response open and send new lines as the processes write them, also
    /// those of processes started later (default false).
    pub follow: Option<bool>,
    /// Only the processes of this type, e.g. `web` (default: every type).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub process_type: Option<String>,
    /// Only the processes of this release number (default: every release still running
    /// or stopped on the engine).
    pub release: Option<i64>,
}

/// The app's logs: the newest lines of every process (or of one type or release) and
/// of the router's access lines for the app, in time order, one per line as `<time>
/// app[<process>]: <text>` or `<time> paas[router]: at=info method=GET path="/" …`;
/// with `follow=true` the response goes on until the client hangs up. Access lines are
/// left out for `release=N` and for a `type` other than `router`. Needs the Docker
/// engine (503 without one).
#[utoipa::path(operation_id = "logs_get", get, path = "/v1/apps/{app}/logs", tag = "logs",
    security(("bearer" = [])), params(("app" = String, Path), LogsQuery),
    responses((status = 200, content_type = "text/plain; charset=utf-8",
            description = "lines such as `2026-12-01T20:31:02.123456Z app[web.1]: listening on 5000`"),
        (status = "4XX", body = ErrorBody), (status = 503, body = ErrorBody)))]
#[get("/apps/{app}/logs")]
pub async fn get(
    state: web::Data<State>,
    caller: Caller,
    name: web::Path<String>,
    query: web::Query<LogsQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let request = app::logs::LogsRequest {
        lines: query.lines,
        follow: query.follow.unwrap_or(false),
        process_type: query.process_type,
        release: query.release,
    };
    let lines = app::logs::logs(&state, &caller, &name, request).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((CACHE_CONTROL, "no-store"))
        // Compression would hold lines back in its buffer.
        .insert_header((CONTENT_ENCODING, "identity"))
        .streaming(lines))
}
