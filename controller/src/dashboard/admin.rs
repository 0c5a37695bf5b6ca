//! The Admin pages (admins only, refused with 403 by the same `app::` functions as the
//! API): users (create, disable, enable, promote, demote; the registration mode), the
//! audit log across all apps, and the platform's parts and recent failures.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse, ResponseError};
use askama::Template;
use paas_core::api::{Credentials, UserUpdate};
use serde::Deserialize;

use super::error::DashError;
use super::session::Viewer;
use super::views::{self, see_other, when, Nav};
use super::PREFIX;
use crate::app::{self, overview::Failure, platform_info::PlatformInfo};
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

/// The users page.
#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct UsersPage {
    nav: Option<Nav>,
    csrf: String,
    users: Vec<UserLine>,
    registration: &'static str,
    new_username: String,
    username_error: Option<String>,
    password_error: Option<String>,
}

/// Where a refused users form's error goes.
enum UsersError {
    Username(String),
    Password(String),
    User { username: String, message: String },
}

async fn users_page(
    state: &State,
    viewer: &Viewer,
    status: StatusCode,
    new_username: String,
    error: Option<UsersError>,
) -> Result<HttpResponse, DashError> {
    let users = app::users::list(state, &viewer.caller).await?;
    let (username_error, password_error, user_error) = match error {
        None => (None, None, None),
        Some(UsersError::Username(m)) => (Some(m), None, None),
        Some(UsersError::Password(m)) => (None, Some(m), None),
        Some(UsersError::User { username, message }) => (None, None, Some((username, message))),
    };
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
        registration: state.config.registration.as_str(),
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
    Ok(views::ok(&PlatformPage { nav: Nav::of(&viewer), info, images_size, failures }))
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
}
