//! The Docker engine: installed from Debian's `docker.io` when missing, and started when
//! no engine answers, so that `cargo xtask up` and `cargo xtask test` work on a fresh
//! Debian machine.
//!
//! Starting tries, in order: systemd (`systemctl start docker`) where systemd runs,
//! the init script (`service docker start`), and last `dockerd` itself in the
//! background (its output in `/var/log/paas-dockerd.log`). Each is followed by a wait
//! of up to [`START_WAIT`] for `docker version` to reach the engine.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::{apt, process};

/// How long a started engine may take to answer.
const START_WAIT: Duration = Duration::from_secs(30);

/// Where a `dockerd` that xtask starts itself writes its log.
const DOCKERD_LOG: &str = "/var/log/paas-dockerd.log";

/// Makes sure the Docker CLI is installed and an engine answers it.
pub fn ensure_engine() -> anyhow::Result<()> {
    apt::ensure_packages(apt::DOCKER_PACKAGES)?;
    if answers() {
        return Ok(());
    }
    if !process::is_root() {
        bail!(
            "no Docker engine answers\nhint: start it (`sudo systemctl start docker`), or run xtask as root"
        );
    }
    eprintln!("xtask: no Docker engine answers; starting one");
    if Path::new("/run/systemd/system").exists()
        && started(Command::new("systemctl").args(["start", "docker"]))
    {
        return Ok(());
    }
    if process::on_path("service") && started(Command::new("service").args(["docker", "start"])) {
        return Ok(());
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(DOCKERD_LOG)
        .with_context(|| format!("cannot open {DOCKERD_LOG}"))?;
    let mut dockerd = Command::new("dockerd");
    dockerd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // Its own process group: the engine outlives this xtask run and its terminal.
    std::os::unix::process::CommandExt::process_group(&mut dockerd, 0);
    dockerd.spawn().context("cannot run dockerd")?;
    if wait_until_answers() {
        return Ok(());
    }
    bail!("dockerd did not answer within {}s; see {DOCKERD_LOG}", START_WAIT.as_secs())
}

/// Whether `docker version` reaches an engine.
fn answers() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs a start command; true when it succeeded and the engine then answers.
fn started(cmd: &mut Command) -> bool {
    let ran = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    ran.is_ok_and(|status| status.success()) && wait_until_answers()
}

fn wait_until_answers() -> bool {
    let start = Instant::now();
    while start.elapsed() < START_WAIT {
        if answers() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}
