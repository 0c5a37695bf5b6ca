//! Releases: list, info, and rollback (a new release with an old one's build and
//! config).

use paas_core::api::{Release, ReleaseInfo, RollbackRequest};
use paas_core::ReleaseVersion;

use super::access::{app_for, find_app, Need};
use super::config::parse_stored;
use super::timestamp;
use crate::auth::Caller;
use crate::db::{self, apps::AppRow, releases::NewRelease, releases::ReleaseRow, WriteTx};
use crate::error::{ApiError, ApiResult};
use crate::State;

/// The most releases a listing shows.
pub const LIST_LIMIT: i64 = 100;

fn release_view(row: &ReleaseRow, current: i64) -> Release {
    Release {
        version: u32::try_from(row.version).unwrap_or_default(),
        summary: row.summary.clone(),
        created_by: row.created_by.clone(),
        created_at: timestamp(row.created_at),
        image: row.image.clone(),
        current: row.version == current,
        status: row.status.clone(),
        failure: row.failure.clone(),
    }
}

fn release_not_found(name: &str, version: i64) -> ApiError {
    ApiError::not_found(format!("release v{version} of {name} not found"))
        .with_hint(format!("see `paas releases -a {name}`"))
}

/// Opens the transaction that adds a release to `app` and allocates its number with
/// the transaction's first statement, so concurrent writers queue there.
pub async fn begin_release(state: &State, app: &AppRow) -> ApiResult<(WriteTx, i64)> {
    let mut tx = state.db.begin_write().await?;
    let version = db::apps::app_next_release(&mut tx, app.id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("app {} not found", app.name)))?;
    Ok((tx, version))
}

/// The app's releases, newest first.
pub async fn list(state: &State, caller: &Caller, name: &str) -> ApiResult<Vec<Release>> {
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    let rows = db::releases::release_list_for_app(&mut conn, app.id, LIST_LIMIT).await?;
    let current = db::releases::release_current_version(&mut conn, app.id).await?.unwrap_or(app.last_release);
    Ok(rows.iter().map(|r| release_view(r, current)).collect())
}

/// One release with its config.
pub async fn info(state: &State, caller: &Caller, name: &str, version: &str) -> ApiResult<ReleaseInfo> {
    let version = i64::from(ReleaseVersion::parse(version)?.get());
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    let row = db::releases::release_by_version(&mut conn, app.id, version)
        .await?
        .ok_or_else(|| release_not_found(name, version))?;
    let current = db::releases::release_current_version(&mut conn, app.id).await?.unwrap_or(app.last_release);
    Ok(ReleaseInfo { release: release_view(&row, current), config: parse_stored(&row.config)?.to_plain() })
}

/// Makes a new release with the build and config of `request.version`, or of the
/// release before the newest one.
pub async fn rollback(
    state: &State,
    caller: &Caller,
    name: &str,
    request: RollbackRequest,
) -> ApiResult<Release> {
    let target = request.version.map(ReleaseVersion::new).transpose()?.map(|v| i64::from(v.get()));
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let (mut tx, version) = begin_release(state, &app).await?;
    let previous = version - 1;
    let target = match target {
        Some(t) => t,
        None if previous > 1 => previous - 1,
        None => {
            return Err(ApiError::conflict(format!(
                "{name} has only one release: there is nothing to roll back to"
            )))
        }
    };
    let old = db::releases::release_by_version(&mut tx, app.id, target)
        .await?
        .ok_or_else(|| release_not_found(name, target))?;
    if let Some(build_id) = old.build_id {
        if db::builds::build_collected_at(&mut tx, build_id).await?.is_some() {
            return Err(ApiError::conflict(format!("the image of v{target} was removed"))
                .with_hint("keep more releases with PAAS_KEEP_RELEASES"));
        }
    }
    let summary = format!("Rollback to v{target}");
    let release = NewRelease {
        app_id: app.id,
        version,
        build_id: old.build_id,
        config: &old.config,
        summary: &summary,
        created_by: &caller.username,
    };
    db::releases::release_insert(&mut tx, release).await?;
    db::events::event_insert(
        &mut tx,
        &caller.username,
        "release.rollback",
        Some(name),
        &format!("v{version}: to v{target}"),
    )
    .await?;
    let row = db::releases::release_by_version(&mut tx, app.id, version)
        .await?
        .ok_or_else(|| ApiError::internal("reading the new release", sqlx::Error::RowNotFound))?;
    tx.commit().await?;
    super::processes_changed(state);
    Ok(release_view(&row, version))
}

/// How the rollout of a release that a push made ended, as the push reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Every process is healthy: the release serves.
    Up,
    /// It failed; the previous release keeps serving.
    Failed {
        /// Why.
        reason: String,
        /// The failing process's last log lines.
        logs: Vec<String>,
    },
    /// Still rolling out when the wait ended.
    StillRolling,
}

/// Slack on top of the health checks' own time, for pulls, starts and the drain of
/// what the rollout replaces: generous, since a push that stops waiting says only "still
/// starting", and an engine on a busy machine can take minutes to start containers.
pub const ROLLOUT_SLACK: std::time::Duration = std::time::Duration::from_secs(300);

/// Waits for the rollout of `version` of `app` (made by a push the builder authorized)
/// to end: up to twice the `web` health check's attempts × (interval + timeout), plus
/// [`ROLLOUT_SLACK`], plus the release command's time limit when the build has one.
pub async fn wait_rollout(state: &State, app: &paas_core::AppName, version: i64) -> ApiResult<Rollout> {
    let (check, release_command) = {
        let mut conn = state.db.pool.acquire().await?;
        let row = db::apps::app_by_name(&mut conn, app.as_str())
            .await?
            .ok_or_else(|| ApiError::not_found(format!("app {app} not found")))?;
        let check = db::healthchecks::healthcheck_list_for_app(&mut conn, row.id)
            .await?
            .into_iter()
            .find(|c| c.process_type == "web");
        let build =
            db::releases::release_by_version(&mut conn, row.id, version).await?.and_then(|r| r.build_id);
        let types = match build {
            Some(id) => db::releases::build_process_types(&mut conn, id).await?,
            None => None,
        };
        let release_command = types
            .and_then(|t| serde_json::from_str::<std::collections::BTreeMap<String, String>>(&t).ok())
            .is_some_and(|t| t.contains_key(crate::scheduler::desired::RELEASE_TYPE));
        (check, release_command)
    };
    let budget = match check {
        Some(c) => {
            let ms = |v: i64| std::time::Duration::from_millis(u64::try_from(v).unwrap_or_default());
            (ms(c.timeout_ms) + ms(c.interval_ms)) * u32::try_from(c.attempts).unwrap_or(1)
        }
        None => crate::scheduler::health::Check::default_check().budget(),
    };
    let mut limit = budget * 2 + ROLLOUT_SLACK;
    if release_command {
        limit += crate::scheduler::release_phase::TIME_LIMIT;
    }
    Ok(match state.rollouts.wait(app.as_str(), version, limit).await {
        Some(crate::scheduler::Outcome::Succeeded) => Rollout::Up,
        Some(crate::scheduler::Outcome::Failed { reason, logs }) => Rollout::Failed { reason, logs },
        None => {
            // Settled by another controller's scheduler, or not yet: the store knows.
            let mut conn = state.db.pool.acquire().await?;
            match db::releases::release_status(&mut conn, app.as_str(), version).await? {
                Some((status, _)) if status == db::releases::STATUS_SUCCEEDED => Rollout::Up,
                Some((status, failure)) if status == db::releases::STATUS_FAILED => {
                    Rollout::Failed { reason: failure.unwrap_or_default(), logs: Vec::new() }
                }
                _ => Rollout::StillRolling,
            }
        }
    })
}
