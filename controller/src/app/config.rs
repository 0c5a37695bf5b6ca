//! Config vars: read, and change several at once as one new release.

use paas_core::api::{Config, ConfigUpdate};
use paas_core::config::ConfigChange;
use paas_core::{ConfigKey, ConfigValue, ConfigVars};

use super::access::{app_for, find_app, Need};
use super::join_names;
use crate::auth::Caller;
use crate::db::{self, releases::NewRelease, Conn};
use crate::error::{ApiError, ApiResult};
use crate::State;

/// Reads a release's stored config.
pub fn parse_stored(json: &str) -> ApiResult<ConfigVars> {
    serde_json::from_str(json).map_err(|e| ApiError::internal("reading a stored config", e))
}

/// The config of an app's newest release and that release's number.
pub async fn current(
    conn: &mut Conn,
    app_id: i64,
    last_release: i64,
) -> ApiResult<(ConfigVars, Option<i64>)> {
    let release = db::releases::release_by_version(conn, app_id, last_release)
        .await?
        .ok_or_else(|| ApiError::internal("finding the current release", sqlx::Error::RowNotFound))?;
    Ok((parse_stored(&release.config)?, release.build_id))
}

/// The app's config.
pub async fn get(state: &State, caller: &Caller, name: &str) -> ApiResult<Config> {
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    let (config, _) = current(&mut conn, app.id, app.last_release).await?;
    Ok(Config { release: u32::try_from(app.last_release).unwrap_or_default(), values: config.to_plain() })
}

fn parse_change(update: &ConfigUpdate) -> ApiResult<ConfigChange> {
    if update.values.is_empty() {
        return Err(ApiError::invalid("nothing to change: `values` is empty"));
    }
    let mut change = ConfigChange::new();
    for (key, value) in &update.values {
        let key = ConfigKey::parse(key)?;
        let value = match value {
            Some(v) => {
                Some(ConfigValue::parse(v).map_err(|e| ApiError::invalid(format!("{e} (key {key})")))?)
            }
            None => None,
        };
        change.insert(key, value);
    }
    Ok(change)
}

/// `Set A, B config vars`, `Unset C config var`, or both.
fn summary(change: &ConfigChange) -> String {
    let set: Vec<&str> = change.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k.as_str()).collect();
    let unset: Vec<&str> = change.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k.as_str()).collect();
    let plural = |n: usize| if n == 1 { "config var" } else { "config vars" };
    match (set.is_empty(), unset.is_empty()) {
        (false, true) => format!("Set {} {}", join_names(&set), plural(set.len())),
        (true, false) => format!("Unset {} {}", join_names(&unset), plural(unset.len())),
        _ => format!("Set {} and unset {} config vars", join_names(&set), join_names(&unset)),
    }
}

/// Sets and unsets config vars in one new release.
pub async fn update(state: &State, caller: &Caller, name: &str, update: ConfigUpdate) -> ApiResult<Config> {
    let change = parse_change(&update)?;
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let (mut tx, version) = super::releases::begin_release(state, &app).await?;
    let (config, build_id) = current(&mut tx, app.id, version - 1).await?;
    let next = config.apply(&change)?;
    let stored = serde_json::to_string(&next).map_err(|e| ApiError::internal("storing a config", e))?;
    let summary = summary(&change);
    let release = NewRelease {
        app_id: app.id,
        version,
        build_id,
        config: &stored,
        summary: &summary,
        created_by: &caller.username,
    };
    db::releases::release_insert(&mut tx, release).await?;
    let keys: Vec<&str> = change.keys().map(ConfigKey::as_str).collect();
    db::events::event_insert(
        &mut tx,
        &caller.username,
        "config.update",
        Some(name),
        &format!("v{version}: {}", keys.join(" ")),
    )
    .await?;
    tx.commit().await?;
    super::processes_changed(state);
    Ok(Config { release: u32::try_from(version).unwrap_or_default(), values: next.to_plain() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(set: &[&str], unset: &[&str]) -> ConfigChange {
        let mut c = ConfigChange::new();
        for k in set {
            c.insert(ConfigKey::parse(k).unwrap(), Some(ConfigValue::parse("x").unwrap()));
        }
        for k in unset {
            c.insert(ConfigKey::parse(k).unwrap(), None);
        }
        c
    }

    #[test]
    fn summaries() {
        assert_eq!(summary(&change(&["A"], &[])), "Set A config var");
        assert_eq!(summary(&change(&["A", "B"], &[])), "Set A and B config vars");
        assert_eq!(summary(&change(&[], &["C"])), "Unset C config var");
        assert_eq!(summary(&change(&["A"], &["C"])), "Set A and unset C config vars");
    }
}
