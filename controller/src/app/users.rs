//! Registration, login and the admin's user management, and the registration mode: the
//! start-up one (`PAAS_REGISTRATION`) until an admin sets another (`PUT
//! /v1/platform/registration`), which is stored and wins from then on, restarts too.

use paas_core::api::{Credentials, RegistrationSettings, RegistrationUpdate, Session, User, UserUpdate};
use paas_core::{Password, Username};

use super::timestamp;
use crate::auth::{self, Caller};
use crate::db::{self, settings::PlatformSettingRow, users::UserRow, Conn};
use crate::error::{is_unique_violation, ApiError, ApiResult};
use crate::{RegistrationMode, State};

/// The wire form of a user.
pub fn user_view(row: &UserRow) -> User {
    User {
        username: row.username.clone(),
        admin: row.admin(),
        disabled: row.is_disabled(),
        created_at: timestamp(row.created_at),
    }
}

/// Whether `caller` may register a user now that at least one exists.
fn may_register(mode: RegistrationMode, caller: Option<&Caller>) -> ApiResult<()> {
    match mode {
        RegistrationMode::Open => Ok(()),
        RegistrationMode::AdminOnly if caller.is_some_and(|c| c.admin) => Ok(()),
        RegistrationMode::AdminOnly => Err(ApiError::forbidden("only an admin may register new users")
            .with_hint("ask an admin to run `paas register URL --username NAME` while signed in")),
        RegistrationMode::Disabled => Err(ApiError::forbidden("registration is disabled on this platform")),
    }
}

/// Registers a user; the first one becomes an admin.
pub async fn register(state: &State, caller: Option<&Caller>, creds: Credentials) -> ApiResult<User> {
    let username = Username::parse(&creds.username)?;
    let password = Password::parse(&creds.password)?;
    {
        let mut conn = state.db.pool.acquire().await?;
        if db::users::user_any(&mut conn).await? {
            may_register(mode_in_force(&mut conn, state).await?, caller)?;
        }
    }
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(password.expose()))
        .await
        .map_err(|e| ApiError::internal("hashing a password", e))?
        .map_err(|e| ApiError::internal("hashing a password", e))?;

    let mut tx = state.db.begin_write().await?;
    let row = match db::users::user_insert(&mut tx, username.as_str(), &hash).await {
        Ok(row) => row,
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::already_exists(format!("username {username} is taken")))
        }
        Err(e) => return Err(e.into()),
    };
    // Someone else may have become the first user meanwhile: check again, atomically.
    if !row.admin() {
        may_register(mode_in_force(&mut tx, state).await?, caller)?;
    }
    let actor = caller.map_or(username.as_str(), |c| c.username.as_str());
    let detail = if row.admin() { format!("{username} (admin)") } else { username.to_string() };
    db::events::event_insert(&mut tx, actor, "user.register", None, &detail).await?;
    tx.commit().await?;
    Ok(user_view(&row))
}

/// The stored mode, else the start-up one. A stored value that does not parse (only
/// parsed ones are written) counts as `disabled`: a damaged row never opens the door.
fn mode_of(state: &State, stored: Option<&PlatformSettingRow>) -> RegistrationMode {
    match stored {
        None => state.config.registration,
        Some(row) => RegistrationMode::parse(&row.value).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the stored registration mode does not parse: registration is disabled");
            RegistrationMode::Disabled
        }),
    }
}

async fn mode_in_force(conn: &mut Conn, state: &State) -> ApiResult<RegistrationMode> {
    let stored = db::settings::platform_setting_get(conn, db::settings::REGISTRATION).await?;
    Ok(mode_of(state, stored.as_ref()))
}

fn registration_view(state: &State, stored: Option<&PlatformSettingRow>) -> RegistrationSettings {
    RegistrationSettings {
        mode: mode_of(state, stored).as_str().to_owned(),
        changed_by: stored.map(|row| row.updated_by.clone()),
        changed_at: stored.map(|row| timestamp(row.updated_at)),
    }
}

/// Who may register now (anyone may ask: `GET /v1/platform` tells it).
pub async fn registration_mode(state: &State) -> ApiResult<RegistrationMode> {
    let mut conn = state.db.pool.acquire().await?;
    mode_in_force(&mut conn, state).await
}

/// The registration mode and who set it (admins only).
pub async fn registration(state: &State, caller: &Caller) -> ApiResult<RegistrationSettings> {
    caller.require_admin()?;
    let mut conn = state.db.pool.acquire().await?;
    let stored = db::settings::platform_setting_get(&mut conn, db::settings::REGISTRATION).await?;
    Ok(registration_view(state, stored.as_ref()))
}

/// Sets the registration mode (admins only), with a `registration.set` event.
pub async fn registration_set(
    state: &State,
    caller: &Caller,
    update: RegistrationUpdate,
) -> ApiResult<RegistrationSettings> {
    caller.require_admin()?;
    let mode = RegistrationMode::parse(update.mode.trim()).map_err(|e| {
        ApiError::from(e).with_hint("`open` (anyone), `admin_only` (an admin registers others) or `disabled`")
    })?;
    let mut tx = state.db.begin_write().await?;
    let row = db::settings::platform_setting_set(
        &mut tx,
        db::settings::REGISTRATION,
        mode.as_str(),
        &caller.username,
    )
    .await?;
    db::events::event_insert(&mut tx, &caller.username, "registration.set", None, mode.as_str()).await?;
    tx.commit().await?;
    Ok(registration_view(state, Some(&row)))
}

/// Signs a user in with a password and returns a short-lived JWT.
pub async fn login(state: &State, creds: Credentials) -> ApiResult<Session> {
    let caller = auth::login(state, &creds.username, &creds.password).await?;
    let (token, exp) =
        state.jwt.issue(caller.id, &caller.username).map_err(|e| ApiError::internal("signing a token", e))?;
    let row = whoami_row(state, &caller).await?;
    let exp_ms = i64::try_from(exp).unwrap_or(i64::MAX / 1000) * 1000;
    Ok(Session { token, expires_at: timestamp(exp_ms), user: user_view(&row) })
}

async fn whoami_row(state: &State, caller: &Caller) -> ApiResult<UserRow> {
    let mut conn = state.db.pool.acquire().await?;
    db::users::user_by_id(&mut conn, caller.id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("your user no longer exists"))
}

/// The caller as a user.
pub async fn whoami(state: &State, caller: &Caller) -> ApiResult<User> {
    Ok(user_view(&whoami_row(state, caller).await?))
}

/// Every user (admins only).
pub async fn list(state: &State, caller: &Caller) -> ApiResult<Vec<User>> {
    caller.require_admin()?;
    let mut conn = state.db.pool.acquire().await?;
    Ok(db::users::user_list(&mut conn).await?.iter().map(user_view).collect())
}

/// Promotes, demotes, disables or enables a user (admins only). The last enabled admin
/// stays one.
pub async fn update(state: &State, caller: &Caller, username: &str, change: UserUpdate) -> ApiResult<User> {
    caller.require_admin()?;
    if change.admin.is_none() && change.disabled.is_none() {
        return Err(ApiError::invalid("nothing to change: give `admin` or `disabled`"));
    }
    let mut tx = state.db.begin_write().await?;
    let row =
        db::users::user_update_flags(&mut tx, username, change.admin, change.disabled).await?.ok_or_else(
            || ApiError::not_found(format!("user {username} not found")).with_hint("see `paas users`"),
        )?;
    if db::users::user_count_active_admins(&mut tx).await? == 0 {
        return Err(ApiError::conflict("the platform must keep at least one enabled admin")
            .with_hint("promote another user first"));
    }
    let mut what = Vec::new();
    if let Some(admin) = change.admin {
        what.push(if admin { "admin" } else { "not admin" });
    }
    if let Some(disabled) = change.disabled {
        what.push(if disabled { "disabled" } else { "enabled" });
    }
    let detail = format!("{username}: {}", what.join(", "));
    db::events::event_insert(&mut tx, &caller.username, "user.update", None, &detail).await?;
    tx.commit().await?;
    Ok(user_view(&row))
}
