//! An app's logs: the newest lines its processes wrote, and with `follow` every line
//! they write afterwards, read from the Docker engine the scheduler runs them on
//! ([`crate::scheduler::logs`]), merged in time order with the router's access lines
//! for the app ([`crate::router_log`]; left out when the request asks for one release,
//! or for a process type other than `router`). Without an engine there are no logs: 503.

use std::convert::Infallible;
use std::pin::Pin;

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};

use super::access::{find_app, Need};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::router_log::ROUTER_PROCESS;
use crate::scheduler::logs::{self, AlsoLines, LogFilter, LogLine};
use crate::State;

/// How many lines are sent first when the request does not say.
pub const DEFAULT_LINES: i64 = 100;
/// The most lines a request may ask for.
pub const MAX_LINES: i64 = 10_000;

/// The body of a logs response: lines of text, as they come.
pub type LogStream = Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>>>>;

/// What a logs request asks for.
#[derive(Debug, Clone, Default)]
pub struct LogsRequest {
    /// How many of the newest lines (default [`DEFAULT_LINES`]).
    pub lines: Option<i64>,
    /// Whether to go on with the lines written afterwards.
    pub follow: bool,
    /// Only processes of this type.
    pub process_type: Option<String>,
    /// Only processes of this release.
    pub release: Option<i64>,
}

/// The newest lines of the app's processes (those of one type or release when asked)
/// in time order and, with `follow`, the lines they write afterwards until the client
/// goes away.
pub async fn logs(state: &State, caller: &Caller, name: &str, request: LogsRequest) -> ApiResult<LogStream> {
    let lines = lines_wanted(request.lines)?;
    let filter = filter_wanted(request.process_type.as_deref(), request.release)?;
    let follow = request.follow;
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let engine = state.engine.get().ok_or_else(no_engine)?;
    let with_router = wants_router_lines(&filter);
    let app_name =
        paas_core::AppName::parse(&app.name).map_err(|e| ApiError::internal("reading the app's name", e))?;
    if follow {
        let also = if with_router {
            let (backlog, live) = state.router_log.follow(&app_name, lines);
            AlsoLines { backlog, live: Some(live) }
        } else {
            AlsoLines::default()
        };
        let stream = logs::follow(engine.clone(), app.name, filter, lines, state.shutdown.subscribe(), also)
            .await
            .map_err(engine_failed)?;
        Ok(Box::pin(stream.map(|text| Ok(Bytes::from(text)))))
    } else {
        let mut recent =
            logs::recent_matching(engine, &app.name, &filter, lines).await.map_err(engine_failed)?;
        if with_router {
            logs::merge_newest(&mut recent, state.router_log.recent(&app_name, lines), lines);
        }
        let text: String = recent.iter().map(LogLine::render).collect();
        Ok(Box::pin(futures_util::stream::once(futures_util::future::ready(Ok(Bytes::from(text))))))
    }
}

/// Whether the router's access lines belong in the logs `filter` asks for: they are of
/// no release, and of the process type `router` only.
fn wants_router_lines(filter: &LogFilter) -> bool {
    filter.release.is_none() && filter.process_type.as_deref().is_none_or(|t| t == ROUTER_PROCESS)
}

fn lines_wanted(requested: Option<i64>) -> ApiResult<usize> {
    let n = requested.unwrap_or(DEFAULT_LINES);
    usize::try_from(n)
        .ok()
        .filter(|_| n <= MAX_LINES)
        .ok_or_else(|| ApiError::invalid(format!("lines must be 0 to {MAX_LINES}")))
}

fn filter_wanted(process_type: Option<&str>, release: Option<i64>) -> ApiResult<LogFilter> {
    let process_type = process_type
        .map(|t| {
            paas_core::ProcessType::parse(t).map(|t| t.to_string()).map_err(|e| {
                ApiError::invalid(format!("type: {e}")).with_hint("name a process type, e.g. type=web")
            })
        })
        .transpose()?;
    let release = release
        .map(|r| {
            u32::try_from(r)
                .ok()
                .and_then(|v| paas_core::ReleaseVersion::new(v).ok())
                .map(|v| i64::from(v.get()))
                .ok_or_else(|| ApiError::invalid("release must be a release number, e.g. release=3"))
        })
        .transpose()?;
    Ok(LogFilter { process_type, release })
}

fn no_engine() -> ApiError {
    ApiError::new(ErrorKind::Unavailable, "this platform runs no Docker engine, so it has no logs").with_hint(
        format!("logs need the Docker engine: start paasd with {}=on", paas_core::settings::DOCKER.name),
    )
}

fn engine_failed(e: bollard::errors::Error) -> ApiError {
    ApiError {
        kind: ErrorKind::Unavailable,
        message: "the Docker engine did not give the logs".into(),
        hint: Some("try again; if it keeps happening, look at paasd's logs".into()),
        source: Some(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_parsed() {
        assert_eq!(filter_wanted(None, None).unwrap(), LogFilter::default());
        let filter = filter_wanted(Some("worker"), Some(3)).unwrap();
        assert_eq!(filter, LogFilter { process_type: Some("worker".into()), release: Some(3) });
        for (t, r) in [(Some("Web!"), None), (Some(""), None), (None, Some(0)), (None, Some(-1))] {
            assert_eq!(filter_wanted(t, r).unwrap_err().kind, ErrorKind::InvalidRequest, "{t:?} {r:?}");
        }
    }

    #[test]
    fn lines_are_bounded() {
        assert_eq!(lines_wanted(None).unwrap(), 100);
        assert_eq!(lines_wanted(Some(0)).unwrap(), 0);
        assert_eq!(lines_wanted(Some(MAX_LINES)).unwrap(), 10_000);
        for bad in [-1, MAX_LINES + 1, i64::MAX] {
            let err = lines_wanted(Some(bad)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidRequest, "{bad}");
        }
    }
}
