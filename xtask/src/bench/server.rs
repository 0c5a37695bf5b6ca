//! A benchmark's `paasd`: the release build started as a child on free loopback ports
//! with a fresh data dir, signed into as an admin over its REST API, and stopped, with
//! the router it started, when dropped.
//!
//! paasd starts `paas-router` as a process of its own and leaves it running when it
//! exits (so that apps stay reachable while the control plane restarts); a benchmark
//! must not leave one behind, so [`Paasd`] stops the router first, while paasd still
//! reaps it, then paasd.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::json;

use crate::{env, process};

/// The admin the benchmarks register.
pub const USERNAME: &str = "bench";
/// Its password.
pub const PASSWORD: &str = "bench-password";

/// The platform domain the benchmarks give paasd: apps answer on `<app>.localhost`.
pub const DOMAIN: &str = "localhost";

/// The router's pid file in the data dir, a `pid=<n>` line among others
/// (`paasd::router_process::PID_FILE` in the router's state dir, `<data_dir>/router`).
const ROUTER_PID_FILE: &str = "router/router.pid";
/// The router's process name, as `/proc/<pid>/comm` shows it.
const ROUTER_COMM: &str = "paas-router";
/// The platform id's file in the data dir (`paasd::PLATFORM_ID_FILE`).
const PLATFORM_ID_FILE: &str = "platform.id";

/// How long paasd may take to answer `/readyz`, and to exit after SIGTERM; the router
/// likewise.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `paasd` and its router, stopped with SIGTERM when dropped.
pub struct Paasd {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`, the REST API.
    pub base: String,
    /// Its state.
    pub data_dir: PathBuf,
    /// `127.0.0.1:PORT`, where the builder takes git pushes.
    pub builder_addr: String,
    /// `127.0.0.1:PORT`, where the router serves apps.
    pub router_addr: String,
}

impl Paasd {
    /// Starts `program` with its state in `data_dir`, every listener (API, builder,
    /// router, registry gateway, token endpoint and registry) on a free loopback port,
    /// the domain [`DOMAIN`] and warnings-only logs; `configure` adds the rest. Waits
    /// until `/readyz` answers 200.
    pub fn start(
        program: &Path,
        data_dir: &Path,
        configure: impl FnOnce(&mut Command),
    ) -> anyhow::Result<Self> {
        let listeners = [
            env::API_ADDR,
            env::BUILDER_ADDR,
            env::HTTP_ADDR,
            env::HTTPS_ADDR,
            env::REGISTRY_GATEWAY_ADDR,
            env::REGISTRY_TOKEN_ADDR,
            env::REGISTRY_ADDR,
        ];
        let ports = super::free_ports(listeners.len())?;
        let addrs: Vec<String> = ports.iter().map(|port| format!("127.0.0.1:{port}")).collect();
        let mut cmd = Command::new(program);
        for (name, addr) in listeners.iter().zip(&addrs) {
            cmd.env(name, addr);
        }
        cmd.env(env::DATA_DIR, data_dir).env(env::DOMAIN, DOMAIN).env(env::LOG, "warn");
        configure(&mut cmd);
        eprintln!("xtask: starting {} (API on {})", program.display(), addrs[0]);
        let child = cmd.spawn().with_context(|| format!("could not start {}", program.display()))?;
        let mut server = Self {
            child: Some(child),
            base: format!("http://{}", addrs[0]),
            data_dir: data_dir.to_owned(),
            builder_addr: addrs[1].clone(),
            router_addr: addrs[2].clone(),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = Client::builder().no_proxy().timeout(Duration::from_secs(2)).build()?;
        let url = format!("{}/readyz", self.base);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!("paasd exited before it was ready ({status})");
                }
            }
            if client.get(&url).send().is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("paasd did not answer 200 on {url} within {}s", READY_TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The platform id paasd made (with the scheduler on), which labels its containers
    /// (`paas.platform=<id>`) and names its network (`paas-<id>`).
    pub fn platform_id(data_dir: &Path) -> Option<String> {
        let id = std::fs::read_to_string(data_dir.join(PLATFORM_ID_FILE)).ok()?;
        Some(id.trim().to_owned()).filter(|id| !id.is_empty())
    }

    /// Registers the admin and signs in.
    pub fn sign_in(&self, client: &Client) -> anyhow::Result<Api> {
        call(client, Method::POST, &format!("{}/v1/auth/register", self.base), Some(credentials()))
            .context("could not register the admin")?;
        let session =
            call(client, Method::POST, &format!("{}/v1/auth/login", self.base), Some(credentials()))
                .context("could not log in")?;
        let session: serde_json::Value = serde_json::from_slice(&session)?;
        let token = session["token"].as_str().context("the login answer has no `token`")?.to_owned();
        Ok(Api { base: self.base.clone(), token })
    }

    /// Stops the router, then paasd (SIGTERM each, SIGKILL after [`STOP_TIMEOUT`]).
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> anyhow::Result<()> {
        // Both, whatever the first one says.
        let router = self.stop_router();
        let paasd = self.stop_paasd();
        router.and(paasd)
    }

    /// Stops the router recorded in the data dir, if it is still the router.
    fn stop_router(&self) -> anyhow::Result<()> {
        let path = self.data_dir.join(ROUTER_PID_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err).with_context(|| format!("could not read {}", path.display())),
        };
        let pid: u32 = text
            .lines()
            .find_map(|line| line.strip_prefix("pid="))
            .and_then(|pid| pid.trim().parse().ok())
            .with_context(|| format!("{} has no `pid=<n>` line", path.display()))?;
        // A pid whose process is gone may belong to another program by now.
        if !is_running(pid, ROUTER_COMM) {
            return Ok(());
        }
        let shown = pid.to_string();
        let _ = process::output(Command::new("kill").args(["-TERM", &shown]));
        let deadline = Instant::now() + STOP_TIMEOUT;
        while is_running(pid, ROUTER_COMM) {
            if Instant::now() > deadline {
                let _ = process::output(Command::new("kill").args(["-KILL", &shown]));
                bail!(
                    "the router (pid {pid}) did not exit within {}s of SIGTERM; killed it",
                    STOP_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn stop_paasd(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let _ = process::output(Command::new("kill").args(["-TERM", &child.id().to_string()]));
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    eprintln!("xtask: warning: paasd exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                child.kill()?;
                child.wait()?;
                bail!("paasd did not exit within {}s of SIGTERM; killed it", STOP_TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Paasd {
    fn drop(&mut self) {
        if let Err(err) = self.terminate() {
            eprintln!("xtask: warning: {err:#}");
        }
    }
}

/// Whether process `pid` exists, is not a zombie, and is named `comm`.
fn is_running(pid: u32, comm: &str) -> bool {
    let named = std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|name| name.trim() == comm);
    // `<pid> (<comm>) <state> ...`; a zombie has exited and waits to be reaped.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()));
    named && state.is_some_and(|state| state != 'Z')
}

/// The API of one running paasd, signed in as the admin.
pub struct Api {
    base: String,
    token: String,
}

impl Api {
    /// Sends one authenticated request and reads the whole answer; fails unless 2xx.
    pub fn send(
        &self,
        client: &Client,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<Vec<u8>> {
        let mut request =
            client.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        finish(&method, path, request.send())
    }
}

/// An HTTP client: one kept-alive connection for sequential requests, no proxy.
pub fn client() -> anyhow::Result<Client> {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .context("could not build the HTTP client")
}

fn credentials() -> serde_json::Value {
    json!({ "username": USERNAME, "password": PASSWORD })
}

/// Sends one unauthenticated request; fails unless 2xx.
fn call(
    client: &Client,
    method: Method,
    url: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<Vec<u8>> {
    let mut request = client.request(method.clone(), url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    finish(&method, url, request.send())
}

/// The body of a 2xx answer; anything else is an error with the status and body.
fn finish(
    method: &Method,
    what: &str,
    sent: reqwest::Result<reqwest::blocking::Response>,
) -> anyhow::Result<Vec<u8>> {
    let response = sent.with_context(|| format!("{method} {what} failed"))?;
    let status = response.status();
    let body = response.bytes().with_context(|| format!("{method} {what}: could not read the answer"))?;
    if !status.is_success() {
        bail!("{method} {what} answered {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_a_dead_pid_does_not() {
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(is_running(std::process::id(), me.trim()));
        assert!(!is_running(std::process::id(), "paas-router-not-me"));
        assert!(!is_running(u32::MAX, me.trim()));
    }
}
