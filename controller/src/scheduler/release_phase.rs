//! The release phase: a release whose build has a release command (the Procfile's
//! `release:`) runs it once, in a one-off container of the release (its image, its
//! config, the platform network; [`oneoff::start_as`] with type `release`), before any
//! of its processes start.
//!
//! The reconciler starts it ([`super::plan::Action::RunReleasePhase`]) and does not wait:
//! [`run`] is spawned, its output goes line by line to [`Outcomes::phase_line`] (which
//! the push that made the release shows), and its end is written to the store
//! (`releases.release_phase`) by the spawned task. Exit 0 lets the rollout go on;
//! anything else, or running longer than [`TIME_LIMIT`] (the container is then
//! removed), fails the release, and the previous release keeps serving. A phase that a
//! controller restart interrupted is `running` in the store but in no controller's
//! memory: it runs again, after its leftover container is removed.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::ListContainersOptionsBuilder;
use paas_core::ErrorChain;

use super::docker::{Engine, LABEL_APP, LABEL_PLATFORM, LABEL_RELEASE, LABEL_TYPE};
use super::oneoff::{self, OneOffSpec, Output, LABEL_ONEOFF};
use super::plan::DesiredProcess;
use super::{Outcomes, FAILURE_LOG_LINES};

/// The longest a release command may run.
pub const TIME_LIMIT: Duration = Duration::from_secs(15 * 60);

/// The line a push shows before the release command's output.
pub const HEADER: &str = "-----> Running release command...";

/// How a release command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseResult {
    /// It exited 0.
    Succeeded,
    /// It exited otherwise, ran too long, or could not start.
    Failed {
        /// Why, for the release list and the push.
        reason: String,
        /// Its last lines of output.
        logs: Vec<String>,
    },
}

/// Runs the release command `process` (type `release`) and waits up to `limit` for it,
/// sending its output, indented, to `outcomes`.
pub async fn run(
    engine: &Engine,
    process: &DesiredProcess,
    outcomes: &Outcomes,
    limit: Duration,
) -> PhaseResult {
    let (app, release) = (process.key.app.as_str(), process.key.release);
    remove_leftovers(engine, app, release).await;
    outcomes.phase_line(app, release, HEADER.to_owned());
    let spec = OneOffSpec {
        app: app.to_owned(),
        release,
        image: process.image.clone(),
        argv: vec!["/bin/sh".into(), "-c".into(), process.command.clone()],
        env: process.env.clone(),
        tty: false,
    };
    let mut oneoff = match oneoff::start_as(engine, spec, &process.key.process_type).await {
        Ok(oneoff) => oneoff,
        Err(e) => {
            tracing::warn!(app, release, error = %ErrorChain(&e), "cannot start the release command");
            return PhaseResult::Failed {
                reason: "the release command could not be started by the Docker engine".into(),
                logs: Vec::new(),
            };
        }
    };
    if let Some(mut input) = oneoff.take_input() {
        // It reads end of file on stdin.
        let _ = input.close().await;
    }
    let mut lines = Lines::default();
    let ran = tokio::time::timeout(limit, async {
        while let Some(output) = oneoff.next_output().await {
            match output {
                Ok(Output::Stdout(bytes) | Output::Stderr(bytes)) => {
                    for line in lines.push(&bytes) {
                        outcomes.phase_line(app, release, format!("       {line}"));
                    }
                }
                Err(e) => {
                    tracing::warn!(app, release, error = %ErrorChain(&e), "lost the release command's output");
                    break;
                }
            }
        }
        if let Some(line) = lines.finish() {
            outcomes.phase_line(app, release, format!("       {line}"));
        }
        oneoff.exit_status().await
    })
    .await;
    let logs = lines.last;
    match ran {
        Ok(Ok(0)) => PhaseResult::Succeeded,
        Ok(Ok(code)) => {
            PhaseResult::Failed { reason: format!("the release command exited with {code}"), logs }
        }
        Ok(Err(e)) => {
            tracing::warn!(app, release, error = %ErrorChain(&e), "cannot read the release command's exit status");
            PhaseResult::Failed { reason: "the release command's exit status could not be read".into(), logs }
        }
        // The one-off was dropped with the timed-out future: its container is removed.
        Err(_) => PhaseResult::Failed {
            reason: format!("the release command ran longer than {} s and was stopped", limit.as_secs()),
            logs,
        },
    }
}

/// Removes release-phase containers of this release that an interrupted controller
/// left.
async fn remove_leftovers(engine: &Engine, app: &str, release: i64) {
    let filters = HashMap::from([(
        "label",
        vec![
            format!("{LABEL_PLATFORM}={}", engine.platform()),
            format!("{LABEL_ONEOFF}=1"),
            format!("{LABEL_APP}={app}"),
            format!("{LABEL_RELEASE}={release}"),
            format!("{LABEL_TYPE}={}", super::desired::RELEASE_TYPE),
        ],
    )]);
    let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    match engine.docker().list_containers(Some(options)).await {
        Ok(found) => {
            for id in found.into_iter().filter_map(|c| c.id) {
                tracing::info!(app, release, "removing an interrupted release command's container");
                if let Err(e) = engine.remove(&id).await {
                    tracing::warn!(app, release, error = %ErrorChain(&e), "cannot remove a release command's container");
                }
            }
        }
        Err(e) => {
            tracing::warn!(app, release, error = %ErrorChain(&e), "cannot list release command containers")
        }
    }
}

/// Output cut into lines, keeping the last [`FAILURE_LOG_LINES`].
#[derive(Debug, Default)]
struct Lines {
    partial: Vec<u8>,
    last: Vec<String>,
}

impl Lines {
    /// The complete lines `bytes` ends.
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(at) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=at).collect();
            out.push(self.keep(&line));
        }
        out
    }

    /// The unterminated last line, if any.
    fn finish(&mut self) -> Option<String> {
        if self.partial.is_empty() {
            return None;
        }
        let line = std::mem::take(&mut self.partial);
        Some(self.keep(&line))
    }

    fn keep(&mut self, line: &[u8]) -> String {
        let text = String::from_utf8_lossy(line).trim_end_matches(['\n', '\r']).to_owned();
        self.last.push(text.clone());
        if self.last.len() > FAILURE_LOG_LINES {
            self.last.remove(0);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_into_lines_across_chunks() {
        let mut lines = Lines::default();
        assert_eq!(lines.push(b"migr"), Vec::<String>::new());
        assert_eq!(lines.push(b"ating\r\ndone\nha"), ["migrating", "done"]);
        assert_eq!(lines.finish().as_deref(), Some("ha"));
        assert_eq!(lines.finish(), None);
        for n in 0..30 {
            lines.push(format!("{n}\n").as_bytes());
        }
        assert_eq!(lines.last.len(), FAILURE_LOG_LINES);
        assert_eq!(lines.last.last().map(String::as_str), Some("29"));
    }
}
