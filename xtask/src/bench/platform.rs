//! A benchmark's platform on the Docker engine: what must be there first (packages,
//! the stack image, release builds), one `paasd` with the scheduler on, signed in with
//! an API token, and the removal, also when the run fails, of what the benchmark made
//! on the engine: the platform's containers (`paas.platform=<id>`) and network
//! (`paas-<id>`), the build containers and images of its apps (`paas.build.app`,
//! `paas.app`), and the baseline's containers and images (`paas.bench=<suffix>`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::json;

use super::report;
use super::server::{self, Api, Paasd};
use super::{Rng, TempDir};
use crate::{apt, env, process, stack};

/// The stack image the Dockerfile builds on (`cargo xtask stack` moves it to the image
/// of the current recipe).
pub const STACK_IMAGE: &str = "paas/stack:bookworm";
/// The port the baseline's containers listen on, as paas's containers do.
pub const CONTAINER_PORT: u16 = 5000;
/// The label of the baseline's images and containers; its value is the run's suffix.
pub const BENCH_LABEL: &str = "paas.bench";
/// The Dockerfile of the Dockerfile apps and of the baselines.
pub const DOCKERFILE: &str =
    "FROM paas/stack:bookworm\nCOPY app.py /app/app.py\nCMD [\"python3\", \"/app/app.py\"]\n";

/// Makes sure of the packages and the stack image (as `cargo xtask test` does) and
/// builds `paasd`, `paas-router` and `paas` in release mode; gives the stack image's
/// content tag.
pub fn prepare() -> anyhow::Result<String> {
    let mut needs = apt::BUILD_PACKAGES.to_vec();
    needs.extend_from_slice(apt::DOCKER_PACKAGES);
    needs.extend_from_slice(stack::PACKAGES);
    needs.extend_from_slice(apt::REGISTRY_PACKAGES);
    apt::ensure_packages(&needs)?;
    let stack_tag = stack::ensure(false)?;
    // paasd starts the router found next to it.
    process::run(process::cargo().args([
        "build",
        "--release",
        "-p",
        "paasd",
        "-p",
        "paas-router",
        "-p",
        "paas-cli",
    ]))?;
    Ok(stack_tag)
}

/// `Docker engine 20.10.24 (storage driver overlay2)`.
pub fn engine() -> String {
    format!(
        "Docker engine {} (storage driver {})",
        report::command("docker", &["version", "--format", "{{.Server.Version}}"]),
        report::command("docker", &["info", "--format", "{{.Driver}}"]),
    )
}

/// The platform, signed in, and where the benchmark keeps its files. Fields drop in
/// order: paasd and its router stop, then the engine is cleaned, then the files go.
pub struct Platform {
    pub paasd: Paasd,
    pub cleanup: Cleanup,
    pub dir: TempDir,
    /// The git `HOME` (and `XDG_CONFIG_HOME`), empty: no user configuration.
    pub home: PathBuf,
    pub client: Client,
    pub api: Api,
    /// The API token pushes authenticate with. Secret: shown as `<token>`.
    pub token: String,
    /// Lowercase hex unique to this benchmark, in every name it gives.
    pub suffix: String,
}

impl Platform {
    /// Starts `program` with the scheduler on (`configure` adds settings), registers
    /// the admin and makes an API token described as `what`.
    pub fn start(program: &Path, what: &str, configure: impl FnOnce(&mut Command)) -> anyhow::Result<Self> {
        let dir = TempDir::create()?;
        let home = dir.path.join("home");
        std::fs::create_dir(&home).with_context(|| format!("could not create {}", home.display()))?;
        let data_dir = dir.path.join("data");
        let suffix = format!("{:06x}", Rng::seeded().next() & 0xff_ffff);
        let cleanup = Cleanup { data_dir: data_dir.clone(), apps: Vec::new(), suffix: suffix.clone() };
        let paasd = Paasd::start(program, &data_dir, |cmd| {
            cmd.env(env::DOCKER, "on").env_remove(env::DATABASE_URL);
            configure(cmd);
        })?;
        let client = server::client()?;
        let api = paasd.sign_in(&client)?;
        let created = api
            .send(&client, Method::POST, "/v1/tokens", Some(json!({ "description": what })))
            .context("could not create an API token")?;
        let created: serde_json::Value = serde_json::from_slice(&created)?;
        let token = created["secret"].as_str().context("the token answer has no `secret`")?.to_owned();
        Ok(Self { paasd, cleanup, dir, home, client, api, token, suffix })
    }

    /// Stops the router and paasd, reporting a failure, then cleans up.
    pub fn finish(self) -> anyhow::Result<()> {
        let Self { paasd, cleanup, dir, .. } = self;
        let stopped = paasd.stop();
        drop(cleanup);
        drop(dir);
        stopped
    }
}

/// Runs a docker command quietly; `docker build` with the classic builder, which is
/// what the engine's build API (paas's builder) runs.
pub fn docker(cmd: &mut Command) -> anyhow::Result<()> {
    process::read(cmd.env(env::DOCKER_BUILDKIT, "0")).map(drop)
}

/// Removes what the benchmark made on the Docker engine, when dropped.
pub struct Cleanup {
    /// paasd's data dir, where its platform id is.
    data_dir: PathBuf,
    /// The apps created on the platform.
    pub apps: Vec<String>,
    /// The value of the baseline's [`BENCH_LABEL`].
    suffix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let platform = Paasd::platform_id(&self.data_dir);
        let mut filters = vec![format!("{BENCH_LABEL}={}", self.suffix)];
        if let Some(id) = &platform {
            filters.push(format!("paas.platform={id}"));
        }
        filters.extend(self.apps.iter().map(|app| format!("paas.build.app={app}")));
        let containers = docker_ids(&["ps", "-aq"], &filters);
        if !containers.is_empty() {
            let _ = process::output(Command::new("docker").args(["rm", "-f"]).args(&containers));
        }
        if let Some(id) = &platform {
            let network = format!("paas-{id}");
            let exists = process::output(Command::new("docker").args(["network", "inspect", &network]))
                .is_ok_and(|out| out.status.success());
            if exists {
                if let Err(err) = process::read(Command::new("docker").args(["network", "rm", &network])) {
                    eprintln!("xtask: warning: could not remove the network {network}: {err:#}");
                }
            }
        }
        let mut filters = vec![format!("{BENCH_LABEL}={}", self.suffix)];
        filters.extend(self.apps.iter().map(|app| format!("paas.app={app}")));
        let images = docker_ids(&["images", "-q"], &filters);
        if !images.is_empty() {
            if let Err(err) = process::read(Command::new("docker").args(["rmi", "-f"]).args(&images)) {
                eprintln!("xtask: warning: could not remove the benchmark's images: {err:#}");
            }
        }
        eprintln!(
            "xtask: removed {} containers and {} images of the benchmark{}",
            containers.len(),
            images.len(),
            platform.map(|id| format!(", and the network paas-{id}")).unwrap_or_default()
        );
    }
}

/// The ids `docker <list...>` prints for each `label=<filter>`, without repeats.
fn docker_ids(list: &[&str], labels: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    for label in labels {
        let filter = format!("label={label}");
        match process::read(Command::new("docker").args(list).args(["--filter", &filter])) {
            Ok(out) => ids.extend(out.split_whitespace().map(str::to_owned)),
            Err(err) => eprintln!("xtask: warning: {err:#}"),
        }
    }
    ids.sort();
    ids.dedup();
    ids
}
