//! From a finished build to a release: the builder hands over the image and its process
//! types; the build is recorded and released with the app's current config, and the
//! scheduler is nudged to run it. And the list of an app's builds.

use std::collections::{BTreeMap, HashMap};

use paas_core::api::Build;
use paas_core::{AppName, ProcessType, Procfile};

use super::access::{app_for, Need};
use super::releases::begin_release;
use super::timestamp;
use crate::auth::Caller;
use crate::db::{self, builds::BuildRow, releases::NewRelease};
use crate::error::{ApiError, ApiResult};
use crate::State;

/// A build the builder finished.
#[derive(Debug, Clone)]
pub struct FinishedBuild {
    /// The app.
    pub app: AppName,
    /// The commit built (full hex).
    pub commit: String,
    /// The image reference.
    pub image: String,
    /// Process types and commands; an empty command runs the image's own `CMD`.
    pub process_types: Procfile,
    /// Who deployed, for the release list.
    pub created_by: String,
}

/// The config vars of the app's current release, for a build of a push the builder
/// has authorized already (buildpacks' `ENV_DIR`).
pub async fn config_for_build(state: &State, app: &AppName) -> ApiResult<paas_core::ConfigVars> {
    let mut conn = state.db.pool.acquire().await?;
    let row = db::apps::app_by_name(&mut conn, app.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("app {app} not found")))?;
    Ok(super::config::current(&mut conn, row.id, row.last_release).await?.0)
}

/// Records the build and makes the release that runs it; returns the release number.
/// The first build of an app with a `web` type and no formation yet runs one `web`
/// process, as on Heroku.
pub async fn release_build(state: &State, build: FinishedBuild) -> ApiResult<i64> {
    let app = {
        let mut conn = state.db.pool.acquire().await?;
        db::apps::app_by_name(&mut conn, build.app.as_str())
            .await?
            .ok_or_else(|| ApiError::not_found(format!("app {} not found", build.app)))?
    };
    let types = serde_json::to_string(&build.process_types)
        .map_err(|e| ApiError::internal("storing process types", e))?;
    let (mut tx, version) = begin_release(state, &app).await?;
    let build_id =
        db::releases::build_insert(&mut tx, app.id, &build.commit, &build.image, &types, &build.created_by)
            .await?;
    let previous = db::releases::release_by_version(&mut tx, app.id, version - 1)
        .await?
        .ok_or_else(|| ApiError::internal("finding the current release", sqlx::Error::RowNotFound))?;
    let short = build.commit.get(..7).unwrap_or(&build.commit);
    let summary = format!("Deploy {short}");
    let release = NewRelease {
        app_id: app.id,
        version,
        build_id: Some(build_id),
        config: &previous.config,
        summary: &summary,
        created_by: &build.created_by,
    };
    db::releases::release_insert(&mut tx, release).await?;
    let web = ProcessType::web();
    if build.process_types.command(&web).is_some()
        && db::formations::formation_list_for_app(&mut tx, app.id).await?.is_empty()
    {
        db::formations::formation_upsert(&mut tx, app.id, web.as_str(), 1).await?;
    }
    db::events::event_insert(
        &mut tx,
        &build.created_by,
        "build.release",
        Some(&app.name),
        &format!("v{version}: {short}"),
    )
    .await?;
    tx.commit().await?;
    super::processes_changed(state);
    Ok(version)
}

/// The most builds a listing shows.
pub const LIST_LIMIT: i64 = 100;

/// The app's builds, newest first, each with the releases that run it.
pub async fn list(state: &State, caller: &Caller, name: &str) -> ApiResult<Vec<Build>> {
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    let rows = db::builds::build_list_for_app(&mut conn, app.id, LIST_LIMIT).await?;
    let mut releases: HashMap<i64, Vec<u32>> = HashMap::new();
    for (build_id, version) in db::builds::build_release_versions_for_app(&mut conn, app.id).await? {
        releases.entry(build_id).or_default().push(u32::try_from(version).unwrap_or_default());
    }
    rows.into_iter()
        .map(|row| {
            let versions = releases.remove(&row.id).unwrap_or_default();
            build_view(row, versions)
        })
        .collect()
}

fn build_view(row: BuildRow, releases: Vec<u32>) -> ApiResult<Build> {
    let process_types: BTreeMap<String, String> = serde_json::from_str(&row.process_types)
        .map_err(|e| ApiError::internal("reading a build's process types", e))?;
    Ok(Build {
        id: row.id,
        commit: row.source_commit,
        image: row.image,
        process_types,
        created_by: row.created_by,
        created_at: timestamp(row.created_at),
        releases,
    })
}
