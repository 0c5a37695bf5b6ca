//! Apps: create (with release v1), list, info, destroy.

use paas_core::api::{App, AppCreate, AppInfo};
use paas_core::AppName;

use super::access::{app_for, find_app, Need};
use super::{domains, formation, perms, timestamp};
use crate::auth::Caller;
use crate::db::{self, apps::AppRow, releases::NewRelease};
use crate::error::{is_unique_violation, ApiError, ApiResult};
use crate::State;

/// The wire form of an app.
pub fn app_view(state: &State, row: &AppRow) -> App {
    App {
        name: row.name.clone(),
        owner: row.owner.clone(),
        url: state.config.app_url(&row.name),
        release: u32::try_from(row.last_release).unwrap_or_default(),
        created_at: timestamp(row.created_at),
    }
}

/// Creates an app owned by the caller, with an empty config as release v1.
pub async fn create(state: &State, caller: &Caller, request: AppCreate) -> ApiResult<App> {
    let name = AppName::parse(&request.name)?;
    let mut tx = state.db.begin_write().await?;
    let app_id = match db::apps::app_insert(&mut tx, name.as_str(), caller.id).await {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::already_exists(format!("app {name} already exists"))
                .with_hint("app names are unique across the platform: choose another"))
        }
        Err(e) => return Err(e.into()),
    };
    let release = NewRelease {
        app_id,
        version: 1,
        build_id: None,
        config: "{}",
        summary: "Initial release",
        created_by: &caller.username,
    };
    db::releases::release_insert(&mut tx, release).await?;
    db::events::event_insert(&mut tx, &caller.username, "app.create", Some(name.as_str()), "").await?;
    let row = db::apps::app_by_name(&mut tx, name.as_str())
        .await?
        .ok_or_else(|| ApiError::internal("reading the new app", sqlx::Error::RowNotFound))?;
    tx.commit().await?;
    super::routes_changed(state).await;
    Ok(app_view(state, &row))
}

/// The apps the caller may act on (every app for admins).
pub async fn list(state: &State, caller: &Caller) -> ApiResult<Vec<App>> {
    let mut conn = state.db.pool.acquire().await?;
    let rows = if caller.admin {
        db::apps::app_list_all(&mut conn).await?
    } else {
        db::apps::app_list_for_user(&mut conn, caller.id).await?
    };
    Ok(rows.iter().map(|row| app_view(state, row)).collect())
}

/// An app with its people, domains and formation.
pub async fn info(state: &State, caller: &Caller, name: &str) -> ApiResult<AppInfo> {
    let mut conn = state.db.pool.acquire().await?;
    let row = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    Ok(AppInfo {
        app: app_view(state, &row),
        git_url: format!("{}/{}.git", state.config.git_url(), row.name),
        collaborators: perms::collaborators_of(&mut conn, &row).await?,
        domains: domains::domains_of(&mut conn, state, &row).await?,
        formation: formation::formation_of(&mut conn, &row).await?,
    })
}

/// Destroys an app and everything it owns (owner or admin).
pub async fn destroy(state: &State, caller: &Caller, name: &str) -> ApiResult<()> {
    let row = find_app(state, caller, name, Need::Own).await?;
    let mut tx = state.db.begin_write().await?;
    // Read with the delete, which takes them away: what is left to clean up after.
    let images: Vec<String> =
        db::builds::build_image_list_for_app(&mut tx, row.id).await?.into_iter().map(|b| b.image).collect();
    if !db::apps::app_delete(&mut tx, row.id).await? {
        return Err(ApiError::not_found(format!("app {name} not found")));
    }
    db::events::event_insert(&mut tx, &caller.username, "app.destroy", Some(name), "").await?;
    tx.commit().await?;
    super::routes_changed(state).await;
    super::processes_changed(state);
    crate::scheduler::gc::clean_destroyed(state, &row.name, &images).await;
    if let Ok(app) = paas_core::AppName::parse(&row.name) {
        state.router_log.forget(&app);
    }
    Ok(())
}
