//! The app list: every app the user may see ([`app::overview::apps`]) with its status,
//! running release, formation, URL and last deploy, filtered by name, status and owner.

use actix_web::{get, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::error::DashError;
use super::session::Viewer;
use super::views::{self, when, Nav};
use crate::app::{self, overview::AppOverview, overview::AppStatus};
use crate::State;

/// `?q=NAME&status=STATUS&owner=USER`.
#[derive(Debug, Default, Deserialize)]
pub struct AppFilter {
    /// A part of the name.
    #[serde(default)]
    pub q: String,
    /// One status (`running`, ...); empty for any.
    #[serde(default)]
    pub status: String,
    /// The owner's username; empty for any.
    #[serde(default)]
    pub owner: String,
}

impl AppFilter {
    /// Whether `app` passes the filter.
    pub fn keeps(&self, app: &AppOverview) -> bool {
        let q = self.q.trim();
        (q.is_empty() || app.app.name.contains(q))
            && AppStatus::parse(&self.status).is_none_or(|s| s == app.status)
            && (self.owner.trim().is_empty() || app.app.owner == self.owner.trim())
    }
}

/// One line of the table.
pub struct AppLine {
    name: String,
    status: &'static str,
    release: String,
    formation: String,
    url: String,
    owner: String,
    deployed: String,
    deployed_by: String,
}

impl AppLine {
    fn of(app: AppOverview) -> AppLine {
        let formation: Vec<String> =
            app.formation.iter().map(|f| format!("{}={}", f.process_type, f.quantity)).collect();
        AppLine {
            status: app.status.as_str(),
            release: app.current_release.map(|v| format!("v{v}")).unwrap_or_else(|| "-".into()),
            formation: if formation.is_empty() { "-".into() } else { formation.join(" ") },
            deployed: app.deployed_at.as_deref().map(when).unwrap_or_else(|| "never".into()),
            deployed_by: app.deployed_by.unwrap_or_default(),
            url: app.app.url,
            owner: app.app.owner,
            name: app.app.name,
        }
    }
}

/// The page.
#[derive(Template)]
#[template(path = "apps.html")]
pub struct AppsPage {
    nav: Option<Nav>,
    apps: Vec<AppLine>,
    total: usize,
    filter: AppFilter,
    statuses: Vec<StatusOption>,
}

/// A choice of the status filter.
pub struct StatusOption {
    name: &'static str,
    selected: bool,
}

/// `GET /dashboard/apps`.
#[get("/apps")]
pub async fn list(
    state: web::Data<State>,
    viewer: Viewer,
    filter: web::Query<AppFilter>,
) -> Result<HttpResponse, DashError> {
    let apps = app::overview::apps(&state, &viewer.caller).await?;
    Ok(views::ok(&page(&viewer, apps, filter.into_inner())))
}

/// The page of `apps` as `filter` keeps them.
pub fn page(viewer: &Viewer, apps: Vec<AppOverview>, filter: AppFilter) -> AppsPage {
    let total = apps.len();
    let apps = apps.into_iter().filter(|a| filter.keeps(a)).map(AppLine::of).collect();
    let statuses = AppStatus::ALL
        .iter()
        .map(|s| StatusOption { name: s.as_str(), selected: s.as_str() == filter.status })
        .collect();
    AppsPage { nav: Nav::of(viewer), apps, total, filter, statuses }
}
