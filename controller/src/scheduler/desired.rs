//! Desired state: the processes the store says should run.
//!
//! For every app whose target release (the newest that has not failed) has a build, and
//! every process type of that build whose formation quantity is N > 0: processes
//! `<type>.1` to `<type>.N`, running the build's image with the release's config, `PORT`
//! and `DYNO`. Also each app's target and whether it is still `pending`, and the apps'
//! health checks.

use std::collections::BTreeMap;
use std::time::Duration;

use super::health::Check;
use super::plan::{DesiredProcess, ProcessKey, Target};
use crate::db::formations::AppFormationRow;
use crate::db::releases::CurrentReleaseRow;
use crate::db::{self, Db};

/// The port every process is told to listen on.
pub const PORT: u16 = 5000;

/// What the store says should run.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// The processes.
    pub processes: Vec<DesiredProcess>,
    /// Each app's target release.
    pub targets: Vec<Target>,
    /// The stored health checks, by app and process type.
    pub checks: BTreeMap<(String, String), Check>,
}

/// Reads the store.
pub async fn load(db: &Db) -> Result<Desired, sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    let releases = db::releases::release_current_with_build_list(&mut conn).await?;
    let formations = db::formations::formation_list(&mut conn).await?;
    let checks = db::healthchecks::healthcheck_list(&mut conn).await?;
    Ok(Desired {
        processes: desired(&releases, &formations),
        targets: releases
            .iter()
            .map(|r| Target {
                app: r.app.clone(),
                release: r.version,
                pending: r.status == db::releases::STATUS_PENDING,
            })
            .collect(),
        checks: checks
            .into_iter()
            .map(|c| {
                let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or_default());
                let check = Check {
                    path: Some(c.path),
                    timeout: ms(c.timeout_ms),
                    interval: ms(c.interval_ms),
                    attempts: u32::try_from(c.attempts).unwrap_or(1),
                };
                ((c.app, c.process_type), check)
            })
            .collect(),
    })
}

/// The processes of `releases` scaled by `formations`. A release whose stored JSON does
/// not read is skipped with a warning rather than stopping every other app.
pub fn desired(releases: &[CurrentReleaseRow], formations: &[AppFormationRow]) -> Vec<DesiredProcess> {
    let mut out = Vec::new();
    for release in releases {
        let Ok(types) = serde_json::from_str::<BTreeMap<String, String>>(&release.process_types) else {
            tracing::warn!(app = %release.app, "the build's process types do not read; running nothing");
            continue;
        };
        let Ok(config) = serde_json::from_str::<BTreeMap<String, String>>(&release.config) else {
            tracing::warn!(app = %release.app, "the release's config does not read; running nothing");
            continue;
        };
        for formation in formations.iter().filter(|f| f.app == release.app) {
            let Some(command) = types.get(&formation.process_type) else { continue };
            let quantity = u32::try_from(formation.quantity).unwrap_or(0);
            for index in 1..=quantity {
                let key = ProcessKey {
                    app: release.app.clone(),
                    release: release.version,
                    process_type: formation.process_type.clone(),
                    index,
                };
                let mut env = config.clone();
                env.insert("PORT".into(), PORT.to_string());
                env.insert("DYNO".into(), key.process_name());
                out.push(DesiredProcess {
                    image: release.image.clone(),
                    command: command.clone(),
                    env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    key,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(app: &str, version: i64) -> CurrentReleaseRow {
        CurrentReleaseRow {
            app: app.into(),
            version,
            config: r#"{"GREETING":"hi","PORT":"1"}"#.into(),
            image: "img@sha256:1".into(),
            process_types: r#"{"web":"serve $PORT","worker":"work"}"#.into(),
            status: "succeeded".into(),
        }
    }

    fn formation(app: &str, process_type: &str, quantity: i64) -> AppFormationRow {
        AppFormationRow { app: app.into(), process_type: process_type.into(), quantity }
    }

    #[test]
    fn formation_times_build_types() {
        let formations = [
            formation("a", "web", 2),
            formation("a", "worker", 0),
            formation("a", "clock", 1),
            formation("b", "web", 1),
        ];
        let got = desired(&[release("a", 3)], &formations);
        let names: Vec<String> = got
            .iter()
            .map(|d| format!("{} v{} {}", d.key.app, d.key.release, d.key.process_name()))
            .collect();
        assert_eq!(names, ["a v3 web.1", "a v3 web.2"]);
        assert_eq!(got[1].command, "serve $PORT");
        assert_eq!(got[1].env, ["DYNO=web.2", "GREETING=hi", "PORT=5000"]);
    }

    #[test]
    fn unreadable_rows_run_nothing() {
        let mut bad = release("a", 1);
        bad.process_types = "not json".into();
        assert!(desired(&[bad], &[formation("a", "web", 1)]).is_empty());
    }
}
