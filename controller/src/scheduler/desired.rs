//! Desired state: the processes the store says should run.
//!
//! For every app whose target release (the newest that has not failed) has a build, and
//! every process type of that build whose formation quantity is N > 0: processes
//! `<type>.1` to `<type>.N`, running the build's image with the release's config, `PORT`
//! and `DYNO`, each type's generation (bumped by `ps:restart` and limit changes) in
//! its key and its limits. The `release` type is no process: a pending target whose
//! build has one and whose release phase has not run gets it in
//! [`Desired::release_phases`]. Also each app's target and whether it is still
//! `pending`, and the apps' health checks.

use std::collections::BTreeMap;
use std::time::Duration;

use super::health::Check;
use super::plan::{DesiredProcess, ProcessKey, Target};
use crate::db::formations::AppFormationRow;
use crate::db::process_settings::ProcessSettingRow;
use crate::db::releases::CurrentReleaseRow;
use crate::db::{self, Db};

/// The port every process is told to listen on.
pub const PORT: u16 = 5000;

/// The process type of the release command: run once per release, never scaled.
pub const RELEASE_TYPE: &str = "release";

/// What the store says should run.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// The processes.
    pub processes: Vec<DesiredProcess>,
    /// The release commands that should run: of pending targets whose release phase has
    /// not run (or was interrupted).
    pub release_phases: Vec<DesiredProcess>,
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
    let settings = db::process_settings::process_setting_list(&mut conn).await?;
    Ok(Desired {
        processes: desired(&releases, &formations, &settings),
        release_phases: release_phases(&releases),
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
pub fn desired(
    releases: &[CurrentReleaseRow],
    formations: &[AppFormationRow],
    settings: &[ProcessSettingRow],
) -> Vec<DesiredProcess> {
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
        for formation in formations.iter().filter(|f| f.app == release.app && f.process_type != RELEASE_TYPE)
        {
            let Some(command) = types.get(&formation.process_type) else { continue };
            let quantity = u32::try_from(formation.quantity).unwrap_or(0);
            let setting =
                settings.iter().find(|s| s.app == release.app && s.process_type == formation.process_type);
            for index in 1..=quantity {
                let key = ProcessKey {
                    app: release.app.clone(),
                    release: release.version,
                    process_type: formation.process_type.clone(),
                    index,
                    generation: setting.map_or(0, |s| u32::try_from(s.generation).unwrap_or(0)),
                };
                let mut env = config.clone();
                env.insert("PORT".into(), PORT.to_string());
                env.insert("DYNO".into(), key.process_name());
                out.push(DesiredProcess {
                    image: release.image.clone(),
                    command: command.clone(),
                    env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    memory_bytes: setting.and_then(|s| s.memory_bytes),
                    nano_cpus: setting.and_then(|s| s.nano_cpus),
                    key,
                });
            }
        }
    }
    out
}

/// The release commands to run: of every pending release whose build has one and
/// whose release phase has not succeeded or failed. The environment is the release's
/// config and `PORT` (the one-off adds `DYNO=release.<n>`).
pub fn release_phases(releases: &[CurrentReleaseRow]) -> Vec<DesiredProcess> {
    let mut out = Vec::new();
    for release in releases {
        if release.status != db::releases::STATUS_PENDING
            || release.release_phase == db::releases::PHASE_SUCCEEDED
            || release.release_phase == db::releases::PHASE_FAILED
        {
            continue;
        }
        let Ok(types) = serde_json::from_str::<BTreeMap<String, String>>(&release.process_types) else {
            continue;
        };
        let Some(command) = types.get(RELEASE_TYPE).filter(|c| !c.trim().is_empty()) else { continue };
        let Ok(mut env) = serde_json::from_str::<BTreeMap<String, String>>(&release.config) else { continue };
        env.insert("PORT".into(), PORT.to_string());
        out.push(DesiredProcess {
            key: ProcessKey {
                app: release.app.clone(),
                release: release.version,
                process_type: RELEASE_TYPE.into(),
                index: 1,
                generation: 0,
            },
            image: release.image.clone(),
            command: command.clone(),
            env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            memory_bytes: None,
            nano_cpus: None,
        });
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
            release_phase: "succeeded".into(),
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
        let settings = [ProcessSettingRow {
            app: "a".into(),
            process_type: "web".into(),
            generation: 2,
            memory_bytes: Some(256 << 20),
            nano_cpus: None,
        }];
        let got = desired(&[release("a", 3)], &formations, &settings);
        let names: Vec<String> = got
            .iter()
            .map(|d| format!("{} v{} {}", d.key.app, d.key.release, d.key.process_name()))
            .collect();
        assert_eq!(names, ["a v3 web.1", "a v3 web.2"]);
        assert_eq!(got[1].command, "serve $PORT");
        assert_eq!(got[1].env, ["DYNO=web.2", "GREETING=hi", "PORT=5000"]);
        assert_eq!((got[1].key.generation, got[1].memory_bytes), (2, Some(256 << 20)));
    }

    #[test]
    fn the_release_type_is_no_process_but_a_phase_of_pending_releases() {
        let mut r = release("a", 3);
        r.process_types = r#"{"web":"serve","release":"migrate"}"#.into();
        let formations = [formation("a", "web", 1), formation("a", "release", 1)];
        let names: Vec<String> = desired(std::slice::from_ref(&r), &formations, &[])
            .iter()
            .map(|d| d.key.process_name())
            .collect();
        assert_eq!(names, ["web.1"]);
        assert!(release_phases(std::slice::from_ref(&r)).is_empty(), "a succeeded release ran it");
        r.status = "pending".into();
        r.release_phase = "running".into();
        let phases = release_phases(std::slice::from_ref(&r));
        assert_eq!(phases.len(), 1);
        assert_eq!(
            (phases[0].command.as_str(), phases[0].key.process_name()),
            ("migrate", "release.1".into())
        );
        r.release_phase = "succeeded".into();
        assert!(release_phases(&[r]).is_empty());
    }

    #[test]
    fn unreadable_rows_run_nothing() {
        let mut bad = release("a", 1);
        bad.process_types = "not json".into();
        assert!(desired(&[bad], &[formation("a", "web", 1)], &[]).is_empty());
    }
}
