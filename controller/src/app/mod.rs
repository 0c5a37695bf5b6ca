//! The logic of every API action: parse, authorize, act in one transaction, record an
//! event. Functions take the [`State`](crate::State), the [`Caller`](crate::auth::Caller)
//! and parsed or wire input, and return wire types.

pub mod access;
pub mod acme;
pub mod apps;
pub mod builds;
pub mod certs;
pub mod config;
pub mod domains;
pub mod engine_disk;
pub mod events;
pub mod formation;
pub mod git;
pub mod healthchecks;
pub mod limits;
pub mod logs;
pub mod overview;
pub mod perms;
pub mod platform_info;
pub mod processes;
pub mod releases;
pub mod restart;
pub mod run;
pub mod tokens;
pub mod users;

use time::macros::format_description;
use time::OffsetDateTime;

use crate::State;

/// Tells the routers after a write that touched apps or domains. A failure is logged,
/// not returned: the write is done, and the next refresh carries the change.
pub async fn routes_changed(state: &State) {
    if let Err(e) = state.routes.refresh(&state.db, &state.config.domain).await {
        tracing::warn!(error = %e, "could not rebuild the route table");
    }
}

/// Wakes the scheduler after a write that changes which processes should run: a new
/// release, a scale, an app destroyed.
pub fn processes_changed(state: &State) {
    state.processes.nudge();
    state.collection.nudge();
}

/// Whether the platform can serve requests: the database answers.
pub async fn platform_ready(state: &State) -> Result<(), sqlx::Error> {
    state.db.ping().await
}

/// Unix milliseconds as an RFC 3339 string in UTC with exactly three decimals, e.g.
/// `2026-11-22T07:01:02.120Z`, so that columns of times line up.
pub fn timestamp(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Joins names for a summary: `A`, `A and B`, `A, B and C`.
pub fn join_names<S: AsRef<str>>(names: &[S]) -> String {
    match names {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", init.join(", "), last.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
    }

    #[test]
    fn names_join_like_prose() {
        assert_eq!(join_names::<&str>(&[]), "");
        assert_eq!(join_names(&["A"]), "A");
        assert_eq!(join_names(&["A", "B"]), "A and B");
        assert_eq!(join_names(&["A", "B", "C"]), "A, B and C");
    }
}
