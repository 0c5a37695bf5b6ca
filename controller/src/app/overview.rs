//! What the dashboard shows at a glance: every app the caller may see with its status,
//! running release, formation and last deploy (a fixed number of queries however many
//! apps there are), one app's whole page (with its domains' certificates, never their
//! keys), and the platform's recent failures. Built on the API's own functions, so the
//! same rules decide who sees what.

use std::collections::BTreeMap;

use paas_core::api::{App, AppInfo, Certificate, Config, Event, Process, ProcessFormation, Release};

use super::timestamp;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiResult;
use crate::scheduler::desired::RELEASE_TYPE;
use crate::State;

/// An app's state at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStatus {
    /// Its processes run.
    Running,
    /// Its newest release is rolling out.
    Deploying,
    /// Its newest release failed (the one before keeps serving).
    Failed,
    /// A process exited and waits to be restarted.
    Crashed,
    /// Nothing runs: no build yet, or scaled to zero.
    Stopped,
}

impl AppStatus {
    /// Every status, in the order filters list them.
    pub const ALL: [AppStatus; 5] =
        [Self::Running, Self::Deploying, Self::Failed, Self::Crashed, Self::Stopped];

    /// `running`, `deploying`, `failed`, `crashed` or `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Deploying => "deploying",
            Self::Failed => "failed",
            Self::Crashed => "crashed",
            Self::Stopped => "stopped",
        }
    }

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<AppStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// The status of an app from its newest release's status, and the processes the
/// scheduler last saw: a rollout or a failed release first, then a crash, then whether
/// anything runs.
pub fn status_of(newest_release: Option<&str>, processes: &[Process]) -> AppStatus {
    match newest_release {
        Some(db::releases::STATUS_PENDING) => AppStatus::Deploying,
        Some(db::releases::STATUS_FAILED) => AppStatus::Failed,
        _ if processes.iter().any(|p| p.state == "crashed") => AppStatus::Crashed,
        _ if processes.iter().any(|p| p.state != "draining") => AppStatus::Running,
        _ => AppStatus::Stopped,
    }
}

/// One line of the app list.
#[derive(Debug, Clone)]
pub struct AppOverview {
    /// The app as the API shows it.
    pub app: App,
    /// Its state.
    pub status: AppStatus,
    /// The release that runs (the newest that has not failed).
    pub current_release: Option<u32>,
    /// The stored quantities, without the release type.
    pub formation: Vec<ProcessFormation>,
    /// When its newest build was deployed, RFC 3339.
    pub deployed_at: Option<String>,
    /// Who pushed it.
    pub deployed_by: Option<String>,
}

/// The apps the caller may see ([`super::apps::list`]), each with its status.
pub async fn apps(state: &State, caller: &Caller) -> ApiResult<Vec<AppOverview>> {
    let visible = super::apps::list(state, caller).await?;
    let mut conn = state.db.pool.acquire().await?;
    let mut summaries: BTreeMap<String, db::overview::ReleaseSummaryRow> =
        db::overview::release_summary_list(&mut conn)
            .await?
            .into_iter()
            .map(|r| (r.app.clone(), r))
            .collect();
    let mut formations: BTreeMap<String, Vec<ProcessFormation>> = BTreeMap::new();
    for row in db::formations::formation_list(&mut conn).await? {
        if row.process_type != RELEASE_TYPE {
            let quantity = u32::try_from(row.quantity).unwrap_or_default();
            let f = ProcessFormation { process_type: row.process_type, quantity };
            formations.entry(row.app).or_default().push(f);
        }
    }
    drop(conn);
    Ok(visible
        .into_iter()
        .map(|app| {
            let summary = summaries.remove(&app.name);
            let processes = state.board.of_app(&app.name);
            let newest = summary.as_ref().and_then(|s| s.newest_status.as_deref());
            AppOverview {
                status: status_of(newest, &processes),
                current_release: summary
                    .as_ref()
                    .and_then(|s| s.current_version)
                    .and_then(|v| u32::try_from(v).ok()),
                formation: formations.remove(&app.name).unwrap_or_default(),
                deployed_at: summary.as_ref().and_then(|s| s.deployed_at).map(timestamp),
                deployed_by: summary.and_then(|s| s.deployed_by),
                app,
            }
        })
        .collect())
}

/// Everything one app's page shows.
#[derive(Debug, Clone)]
pub struct AppPage {
    /// The app with its people, domains and formation.
    pub info: AppInfo,
    /// Its state.
    pub status: AppStatus,
    /// Its releases, newest first.
    pub releases: Vec<Release>,
    /// Its processes as the scheduler last saw them.
    pub processes: Vec<Process>,
    /// Its config (the page hides the values until one is revealed).
    pub config: Config,
    /// The certificates uploaded for its domains (never their keys).
    pub certs: Vec<Certificate>,
    /// Its newest events.
    pub events: Vec<Event>,
}

/// How many events an app's page shows.
pub const PAGE_EVENTS: i64 = 20;

/// An app's page, for someone who may collaborate on it (else the API's 404).
pub async fn app_page(state: &State, caller: &Caller, name: &str) -> ApiResult<AppPage> {
    let info = super::apps::info(state, caller, name).await?;
    let releases = super::releases::list(state, caller, name).await?;
    let processes = super::processes::list(state, caller, name).await?;
    let config = super::config::get(state, caller, name).await?;
    let certs = super::certs::list(state, caller, name).await?;
    let events = super::events::list_for_app(state, caller, name, Some(PAGE_EVENTS)).await?;
    let status = status_of(releases.first().map(|r| r.status.as_str()), &processes);
    Ok(AppPage { info, status, releases, processes, config, certs, events })
}

/// A failure of the platform: a release that failed, or a process that crashed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The app.
    pub app: String,
    /// What failed: `v3` or `web.1`.
    pub what: String,
    /// Why, or what state it is in.
    pub reason: String,
    /// When (RFC 3339), for releases.
    pub at: Option<String>,
}

/// How many failed releases the platform page lists.
pub const FAILURES: i64 = 20;

/// The newest failed releases of every app, and the processes crashed now (admins only).
pub async fn failures(state: &State, caller: &Caller) -> ApiResult<Vec<Failure>> {
    caller.require_admin()?;
    let mut conn = state.db.pool.acquire().await?;
    let releases = db::overview::release_failed_list(&mut conn, FAILURES).await?;
    let apps = db::apps::app_list_all(&mut conn).await?;
    drop(conn);
    let crashed = apps.iter().flat_map(|app| {
        state.board.of_app(&app.name).into_iter().filter(|p| p.state == "crashed").map(|p| Failure {
            app: app.name.clone(),
            what: p.name,
            reason: format!("crashed, restarted {} times", p.restarts),
            at: None,
        })
    });
    let failed = releases.into_iter().map(|r| Failure {
        app: r.app,
        what: format!("v{}", r.version),
        reason: r.failure.unwrap_or_else(|| "failed".into()),
        at: Some(timestamp(r.created_at)),
    });
    Ok(crashed.chain(failed).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(state: &str) -> Process {
        Process {
            name: "web.1".into(),
            process_type: "web".into(),
            release: 2,
            state: state.into(),
            address: None,
            restarts: 0,
            uptime_secs: None,
        }
    }

    #[test]
    fn status_puts_rollouts_and_failures_first() {
        assert_eq!(status_of(Some("pending"), &[process("up")]), AppStatus::Deploying);
        assert_eq!(status_of(Some("failed"), &[process("up")]), AppStatus::Failed);
        assert_eq!(status_of(Some("succeeded"), &[process("up"), process("crashed")]), AppStatus::Crashed);
        assert_eq!(status_of(Some("succeeded"), &[process("starting")]), AppStatus::Running);
        assert_eq!(status_of(Some("succeeded"), &[process("draining")]), AppStatus::Stopped);
        assert_eq!(status_of(None, &[]), AppStatus::Stopped);
        for status in AppStatus::ALL {
            assert_eq!(AppStatus::parse(status.as_str()), Some(status));
        }
    }
}
