//! An app's logs: the newest lines its processes wrote, and with `follow` every line
//! they write afterwards, read from the Docker engine the scheduler runs them on
//! ([`crate::scheduler::logs`]). Without an engine there are no logs: 503.

use std::convert::Infallible;
use std::pin::Pin;

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};

use super::access::{find_app, Need};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::scheduler::logs::{self, LogLine};
use crate::State;

/// How many lines are sent first when the request does not say.
pub const DEFAULT_LINES: i64 = 100;
/// The most lines a request may ask for.
pub const MAX_LINES: i64 = 10_000;

/// The body of a logs response: lines of text, as they come.
pub type LogStream = Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>>>>;

/// The newest `lines` lines of the app's processes (default [`DEFAULT_LINES`]) in time
/// order and, with `follow`, the lines they write afterwards until the client goes away.
pub async fn logs(
    state: &State,
    caller: &Caller,
    name: &str,
    lines: Option<i64>,
    follow: bool,
) -> ApiResult<LogStream> {
    let lines = lines_wanted(lines)?;
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let engine = state.engine.get().ok_or_else(no_engine)?;
    if follow {
        let stream = logs::follow(engine.clone(), app.name, lines, state.shutdown.subscribe())
            .await
            .map_err(engine_failed)?;
        Ok(Box::pin(stream.map(|text| Ok(Bytes::from(text)))))
    } else {
        let text: String = logs::recent(engine, &app.name, lines)
            .await
            .map_err(engine_failed)?
            .iter()
            .map(LogLine::render)
            .collect();
        Ok(Box::pin(futures_util::stream::once(futures_util::future::ready(Ok(Bytes::from(text))))))
    }
}

fn lines_wanted(requested: Option<i64>) -> ApiResult<usize> {
    let n = requested.unwrap_or(DEFAULT_LINES);
    usize::try_from(n)
        .ok()
        .filter(|_| n <= MAX_LINES)
        .ok_or_else(|| ApiError::invalid(format!("lines must be 0 to {MAX_LINES}")))
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
