//! The Admin pages (admins only, refused with 403 by the same `app::` functions as the
//! API): users (create, disable, enable, promote, demote; the registration mode, set
//! with a form like `PUT /v1/platform/registration`), the audit log across all apps,
//! and the platform's parts (engine and its disk, registry and its size, router with
//! its route table and requests per second) and recent failures.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse, ResponseError};
use askama::Template;
use paas_core::api::{Credentials, RegistrationUpdate, UserUpdate};
use paas_core::RegistrationMode;
use serde::Deserialize;

use super::error::DashError;
use super::session::Viewer;
use super::views::{self, see_other, when, Nav};
use super::PREFIX;
use crate::app::{self, engine_disk::EngineDisk, overview::Failure, platform_info::PlatformInfo};
use crate::error::ErrorKind;
use crate::State;

/// `GET /dashboard/admin`: the users page.
#[get("/admin")]
pub async fn index(viewer: Viewer) -> Result<HttpResponse, DashError> {
    viewer.caller.require_admin()?;
    Ok(see_other(&format!("{PREFIX}/admin/users")))
}

/// A user as listed.
pub struct UserLine {
    username: String,
    admin: bool,
    disabled: bool,
    created: String,
    error: Option<String>,
}

/// A choice of the registration form.
pub struct ModeChoice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// The users page.
#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct UsersPage {
    nav: Option<Nav>,
    csrf: String,
    users: Vec<UserLine>,
    registration: String,
    /// Who set the mode and when, or that it is the start-up default.
    registration_source: String,
    modes: Vec<ModeChoice>,
    registration_error: Option<String>,
    new_username: String,
    username_error: Option<String>,
    password_error: Option<String>,
}

/// Where a refused users form's error goes.
enum UsersError {
    Username(String),
    Password(String),
    User { username: String, message: String },
    Registration(String),
}

fn mode_label(mode: RegistrationMode) -> &'static str {
    match mode {
        RegistrationMode::Open => "open: anyone may register",
        RegistrationMode::AdminOnly => "admin_only: an admin registers others",
        RegistrationMode::Disabled => "disabled: nobody may register",
    }
}

async fn users_page(
    state: &State,
    viewer: &Viewer,
    status: StatusCode,
    new_username: String,
    error: Option<UsersError>,
) -> Result<HttpResponse, DashError> {
    let users = app::users::list(state, &viewer.caller).await?;
    let registration = app::users::registration(state, &viewer.caller).await?;
    let (mut username_error, mut password_error, mut user_error, mut registration_error) =
        (None, None, None, None);
    match error {
        None => {}
        Some(UsersError::Username(m)) => username_error = Some(m),
        Some(UsersError::Password(m)) => password_error = Some(m),
        Some(UsersError::User { username, message }) => user_error = Some((username, message)),
        Some(UsersError::Registration(m)) => registration_error = Some(m),
    }
    let registration_source = match (&registration.changed_by, &registration.changed_at) {
        (Some(by), Some(at)) => format!("set by {by} on {}", when(at)),
        _ => "the start-up default, PAAS_REGISTRATION".to_owned(),
    };
    let modes = RegistrationMode::ALL
        .into_iter()
        .map(|mode| ModeChoice {
            value: mode.as_str(),
            label: mode_label(mode),
            selected: mode.as_str() == registration.mode,
        })
        .collect();
    let users = users
        .into_iter()
        .map(|u| UserLine {
            error: user_error.as_ref().filter(|(name, _)| *name == u.username).map(|(_, m)| m.clone()),
            created: when(&u.created_at),
            admin: u.admin,
            disabled: u.disabled,
            username: u.username,
        })
        .collect();
    let page = UsersPage {
        nav: Nav::of(viewer),
        csrf: viewer.csrf.clone(),
        users,
        registration: registration.mode,
        registration_source,
        modes,
        registration_error,
        new_username,
        username_error,
        password_error,
    };
    Ok(views::html(status, &page))
}

/// `GET /dashboard/admin/users`.
#[get("/admin/users")]
pub async fn users_list(state: web::Data<State>, viewer: Viewer) -> Result<HttpResponse, DashError> {
    users_page(&state, &viewer, StatusCode::OK, String::new(), None).await
}

/// `POST /dashboard/admin/users`: a new user.
#[derive(Deserialize)]
pub struct CreateUserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

impl std::fmt::Debug for CreateUserForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUserForm").field("username", &self.username).finish_non_exhaustive()
    }
}

/// Registers a user ([`app::users::register`], as the signed-in admin).
#[post("/admin/users")]
pub async fn create_user(
    state: web::Data<State>,
    viewer: Viewer,
    form: web::Form<CreateUserForm>,
) -> Result<HttpResponse, DashError> {
    viewer.check_csrf(&form.csrf)?;
    viewer.caller.require_admin()?;
    let form = form.into_inner();
    let username = form.username.clone();
    let creds = Credentials { username: form.username, password: form.password };
    match app::users::register(&state, Some(&viewer.caller), creds).await {
        Ok(_) => Ok(see_other(&format!("{PREFIX}/admin/users"))),
        Err(e)
            if matches!(
                e.kind,
                ErrorKind::InvalidRequest | ErrorKind::AlreadyExists | ErrorKind::Forbidden
            ) =>
        {
            let status = e.status_code();
            // The parse errors name their field: a password's says "password".
            let error = if e.message.to_lowercase().contains("password") {
                UsersError::Password(e.message)
            } else {
                UsersError::Username(e.message)
            };
            users_page(&state, &viewer, status, username, Some(error)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /dashboard/admin/users/{username}`: `action` is `disable`, `enable`,
/// `promote` or `demote`.
#[derive(Debug, Deserialize)]
pub struct UpdateUserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

/// Changes a user ([`app::users::update`]).
#[post("/admin/users/{username}")]
pub async fn update_user(
    state: web::Data<State>,
    viewer: Viewer,
    username: web::Path<String>,
    form: web::Form<UpdateUserForm>,
) -> Result<HttpResponse, DashError> {
    viewer.check_csrf(&form.csrf)?;
    let change = match form.action.as_str() {
        "disable" => UserUpdate { disabled: Some(true), ..UserUpdate::default() },
        "enable" => UserUpdate { disabled: Some(false), ..UserUpdate::default() },
        "promote" => UserUpdate { admin: Some(true), ..UserUpdate::default() },
        "demote" => UserUpdate { admin: Some(false), ..UserUpdate::default() },
        _ => UserUpdate::default(),
    };
    match app::users::update(&state, &viewer.caller, &username, change).await {
        Ok(_) => Ok(see_other(&format!("{PREFIX}/admin/users"))),
        Err(e) if matches!(e.kind, ErrorKind::InvalidRequest | ErrorKind::Conflict | ErrorKind::NotFound) => {
            let status = e.status_code();
            let error = UsersError::User { username: username.into_inner(), message: e.message };
            users_page(&state, &viewer, status, String::new(), Some(error)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /dashboard/admin/registration`: `mode` is `open`, `admin_only` or
/// `disabled`.
#[derive(Debug, Deserialize)]
pub struct RegistrationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mode: String,
}

/// Sets who may register ([`app::users::registration_set`]).
#[post("/admin/registration")]
pub async fn set_registration(
    state: web::Data<State>,
    viewer: Viewer,
    form: web::Form<RegistrationForm>,
) -> Result<HttpResponse, DashError> {
    viewer.check_csrf(&form.csrf)?;
    let update = RegistrationUpdate { mode: form.into_inner().mode };
    match app::users::registration_set(&state, &viewer.caller, update).await {
        Ok(_) => Ok(see_other(&format!("{PREFIX}/admin/users"))),
        Err(e) if e.kind == ErrorKind::InvalidRequest => {
            let status = e.status_code();
            users_page(&state, &viewer, status, String::new(), Some(UsersError::Registration(e.message)))
                .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `?app=NAME&actor=USER&action=ACTION` of the audit log.
#[derive(Debug, Default, Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    app: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
}

/// An event as listed.
pub struct AuditLine {
    at: String,
    actor: String,
    action: String,
    app: String,
    detail: String,
}

/// The audit log page.
#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AuditPage {
    nav: Option<Nav>,
    filter: AuditFilter,
    events: Vec<AuditLine>,
    limit: i64,
}

/// How many events the audit log reads (the actor and action filters apply to them).
pub const AUDIT_EVENTS: i64 = app::events::MAX_LIMIT;

/// `GET /dashboard/admin/audit` ([`app::events::list_all`]).
#[get("/admin/audit")]
pub async fn audit(
    state: web::Data<State>,
    viewer: Viewer,
    filter: web::Query<AuditFilter>,
) -> Result<HttpResponse, DashError> {
    let filter = filter.into_inner();
    let app_name = Some(filter.app.trim()).filter(|a| !a.is_empty());
    let events = app::events::list_all(&state, &viewer.caller, app_name, Some(AUDIT_EVENTS)).await?;
    let (actor, action) = (filter.actor.trim(), filter.action.trim());
    let events = events
        .into_iter()
        .filter(|e| actor.is_empty() || e.actor == actor)
        .filter(|e| action.is_empty() || e.action.starts_with(action))
        .map(|e| AuditLine {
            at: when(&e.created_at),
            actor: e.actor,
            action: e.action,
            app: e.app.unwrap_or_default(),
            detail: e.detail,
        })
        .collect();
    Ok(views::ok(&AuditPage { nav: Nav::of(&viewer), filter, events, limit: AUDIT_EVENTS }))
}

/// The platform page.
#[derive(Template)]
#[template(path = "admin_platform.html")]
pub struct PlatformPage {
    nav: Option<Nav>,
    info: PlatformInfo,
    images_size: String,
    /// The engine's disk use by kind: `(label, size or why not)`.
    disk: Vec<(&'static str, String)>,
    /// `just now`, `2m 5s ago`: when the disk use shown was measured.
    disk_measured: String,
    registry_size: String,
    /// `2026-11-18 11:06 UTC (5m 3s ago)`.
    route_changed: String,
    /// `2.5`.
    requests_per_second: String,
    failures: Vec<Failure>,
}

/// Bytes as `1.5 GiB`.
pub fn size(bytes: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)] // Shown with one decimal.
    let mut value = bytes.max(0) as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// `GET /dashboard/admin/platform` ([`app::platform_info::platform`],
/// [`app::overview::failures`]).
#[get("/admin/platform")]
pub async fn platform(state: web::Data<State>, viewer: Viewer) -> Result<HttpResponse, DashError> {
    let info = app::platform_info::platform(&state, &viewer.caller).await?;
    let failures = app::overview::failures(&state, &viewer.caller).await?;
    let images_size = info.engine.as_ref().map(|e| size(e.images_bytes)).unwrap_or_default();
    let disk = info.engine.as_ref().and_then(|e| e.disk.as_ref()).map(disk_lines).unwrap_or_default();
    let disk_measured = match info.engine.as_ref().and_then(|e| e.disk_measured_secs_ago) {
        Some(0) => "just now".to_owned(),
        Some(secs) => format!("{} ago", views::duration(secs)),
        None => String::new(),
    };
    let registry_size = match (info.registry.disk_bytes, &info.registry.disk_error) {
        (Some(bytes), _) => size(i64::try_from(bytes).unwrap_or(i64::MAX)),
        (None, Some(why)) => format!("unknown: {why}"),
        (None, None) => "unknown".to_owned(),
    };
    let route_changed =
        format!("{} ({} ago)", when(&info.router.changed_at), views::duration(info.router.changed_secs_ago));
    let requests_per_second = format!("{:.1}", info.router.requests_per_second);
    let page = PlatformPage {
        nav: Nav::of(&viewer),
        info,
        images_size,
        disk,
        disk_measured,
        registry_size,
        route_changed,
        requests_per_second,
        failures,
    };
    Ok(views::ok(&page))
}

/// The engine's disk use as labelled sizes; what it does not tell says so.
fn disk_lines(disk: &EngineDisk) -> Vec<(&'static str, String)> {
    let shown = |bytes: Option<i64>| bytes.map_or_else(|| "not reported by this engine".to_owned(), size);
    vec![
        ("Images", shown(disk.images)),
        ("Containers", shown(disk.containers)),
        ("Volumes", shown(disk.volumes)),
        ("Build cache", shown(disk.build_cache)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_short() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn disk_use_says_what_the_engine_did_not_tell() {
        let disk = EngineDisk {
            images: Some(2048),
            containers: Some(0),
            volumes: None,
            build_cache: None,
            source: "lists",
        };
        let lines = disk_lines(&disk);
        assert_eq!(lines[0], ("Images", "2.0 KiB".to_owned()));
        assert_eq!(lines[1], ("Containers", "0 B".to_owned()));
        assert_eq!(lines[2], ("Volumes", "not reported by this engine".to_owned()));
        assert_eq!(lines[3].0, "Build cache");
    }
}
