//! The CNCF Distribution registry (Debian's `docker-registry`) as a supervised child:
//! its configuration is written from [`RegistryConfig`], and [`supervise`] keeps it
//! running (restarting it with backoff when it exits) until shutdown, then kills it;
//! when asked, it stops the registry, runs `docker-registry garbage-collect` and
//! starts it again (see `janitor`).
//!
//! The configuration file is JSON, which is YAML too, so every path and URL in it is
//! quoted correctly without a YAML writer.

use std::fs;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rand::RngCore;
use serde_json::json;
use tokio::process::Command;

/// Where Debian installs the registry.
pub const DEFAULT_BINARY: &str = "/usr/bin/docker-registry";

/// The first wait before a restart; doubled after each quick exit.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run at least this long resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Why the registry cannot be prepared.
#[derive(Debug, thiserror::Error)]
#[error("cannot prepare the registry's {path}")]
pub struct RegistryError {
    /// The file or directory.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: io::Error,
}

/// How to run the registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The `docker-registry` binary.
    pub binary: PathBuf,
    /// The registry's directory: `config.yml`, `registry.log` and `storage/` are in it.
    pub dir: PathBuf,
    /// Where it listens; loopback only.
    pub addr: SocketAddr,
    /// The token endpoint URL clients are sent to (`auth.token.realm`).
    pub realm: String,
    /// The service name tokens are issued for (`auth.token.service`, the `aud`).
    pub service: String,
    /// The issuer tokens carry (`auth.token.issuer`).
    pub issuer: String,
    /// The certificate of the signing key (`auth.token.rootcertbundle`).
    pub root_cert: PathBuf,
}

impl RegistryConfig {
    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.yml")
    }

    /// Where blobs and manifests are kept.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.join("storage")
    }

    /// The log file of the registry's output.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("registry.log")
    }

    /// The configuration document. `http_secret` signs upload state between requests.
    pub fn document(&self, http_secret: &str) -> serde_json::Value {
        json!({
            "version": "0.1",
            "log": { "level": "info", "formatter": "text", "accesslog": { "disabled": true } },
            "storage": {
                "filesystem": { "rootdirectory": self.storage_dir() },
                "delete": { "enabled": true },
                "cache": { "blobdescriptor": "inmemory" },
            },
            "http": {
                "addr": self.addr.to_string(),
                "secret": http_secret,
                "relativeurls": true,
                "headers": { "X-Content-Type-Options": ["nosniff"] },
            },
            "auth": {
                "token": {
                    "realm": self.realm,
                    "service": self.service,
                    "issuer": self.issuer,
                    "rootcertbundle": self.root_cert,
                },
            },
        })
    }

    /// Makes the directories (0700) and writes the configuration file (0600, since it
    /// holds the HTTP secret).
    pub fn write(&self) -> Result<PathBuf, RegistryError> {
        use std::os::unix::fs::PermissionsExt;
        let err = |path: &Path| {
            let path = path.to_owned();
            move |source| RegistryError { path, source }
        };
        for dir in [self.dir.clone(), self.storage_dir()] {
            fs::create_dir_all(&dir).map_err(err(&dir))?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(err(&dir))?;
        }
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let path = self.config_path();
        let text = serde_json::to_string_pretty(&self.document(&secret)).expect("JSON values serialize");
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, text).map_err(err(&tmp))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(err(&tmp))?;
        fs::rename(&tmp, &path).map_err(err(&path))?;
        Ok(path)
    }
}

/// Writes the configuration, then runs the registry until `shutdown` resolves,
/// restarting it with exponential backoff whenever it exits or cannot start. On
/// shutdown the child is killed and reaped.
pub async fn supervise(
    config: RegistryConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RegistryError> {
    let (_keep, collections) = tokio::sync::mpsc::channel(1);
    supervise_collecting(config, collections, shutdown).await
}

/// [`supervise`], also running the registry's garbage collection when asked on
/// `collections`: the registry is stopped, `docker-registry garbage-collect` runs (its
/// output goes to `registry.log` too), the registry starts again at once, and the
/// request is answered with how the collection went.
pub(crate) async fn supervise_collecting(
    config: RegistryConfig,
    mut collections: tokio::sync::mpsc::Receiver<crate::janitor::CollectRequest>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RegistryError> {
    let config_path = config.write()?;
    let log_path = config.log_path();
    let pid_path = config.dir.join(PID_FILE);
    stop_leftover(&pid_path, &config_path).await;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        match spawn(&config.binary, &config_path, &log_path) {
            Ok(mut child) => {
                tracing::info!(addr = %config.addr, pid = child.id(), "the registry started");
                if let Some(pid) = child.id() {
                    if let Err(e) = fs::write(&pid_path, format!("{pid}\n")) {
                        tracing::warn!(path = %pid_path.display(), error = %e, "cannot record the registry's pid");
                    }
                }
                tokio::select! {
                    () = &mut shutdown => {
                        let _ = child.kill().await;
                        tracing::info!("the registry stopped");
                        return Ok(());
                    }
                    Some(reply) = collections.recv() => {
                        let _ = child.kill().await;
                        let _ = reply.send(collect_garbage(&config.binary, &config_path, &log_path).await);
                        backoff = FIRST_BACKOFF;
                        continue;
                    }
                    status = child.wait() => {
                        let log = log_path.display();
                        match status {
                            Ok(status) => tracing::warn!(%status, %log, "the registry exited"),
                            Err(e) => tracing::warn!(error = %e, %log, "cannot wait for the registry"),
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(binary = %config.binary.display(), error = %e, "cannot start the registry")
            }
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff = FIRST_BACKOFF;
        }
        tracing::info!(?backoff, "restarting the registry");
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
            Some(reply) = collections.recv() => {
                let _ = reply.send(collect_garbage(&config.binary, &config_path, &log_path).await);
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The file in the registry's directory that names the running registry's pid.
pub const PID_FILE: &str = "registry.pid";

/// The pid recorded in `dir`'s [`PID_FILE`], if any (alive or not).
pub fn recorded_pid(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join(PID_FILE)).ok()?.trim().parse().ok()
}

/// Stops the registry that a supervisor killed before it could stop its child (a
/// `kill -9` of paasd) left running on this directory's configuration: it holds the
/// port. Only a process whose command line names `config` is signalled.
async fn stop_leftover(pid_path: &Path, config: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let Some(pid) = pid_path.parent().and_then(recorded_pid) else { return };
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if cmdline.split(|b| *b == 0).any(|arg| arg == config.as_os_str().as_bytes()) {
        tracing::info!(pid, "stopping the registry a previous run left behind");
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status().await;
        for _ in 0..50 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let _ = fs::remove_file(pid_path);
}

/// How long a garbage collection may take.
const COLLECT_LIMIT: Duration = Duration::from_secs(600);

/// Runs `docker-registry garbage-collect <config>` with the registry stopped; the
/// error is for logs.
async fn collect_garbage(binary: &Path, config: &Path, log: &Path) -> Result<(), String> {
    tracing::info!("collecting the registry's garbage");
    let run = async {
        let log = fs::OpenOptions::new().create(true).append(true).open(log)?;
        Command::new(binary)
            .arg("garbage-collect")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .status()
            .await
    };
    match tokio::time::timeout(COLLECT_LIMIT, run).await {
        Err(_) => Err(format!("it took longer than {}s", COLLECT_LIMIT.as_secs())),
        Ok(Err(e)) => Err(format!("cannot run {}: {e}", binary.display())),
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("it exited with {status}; see {}", log.display())),
    }
}

fn spawn(binary: &Path, config: &Path, log: &Path) -> io::Result<tokio::process::Child> {
    let log = fs::OpenOptions::new().create(true).append(true).open(log)?;
    Command::new(binary)
        .arg("serve")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_token_auth_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = RegistryConfig {
            binary: DEFAULT_BINARY.into(),
            dir: dir.path().join("registry"),
            addr: "127.0.0.1:5001".parse().unwrap(),
            realm: "http://127.0.0.1:5002/token".into(),
            service: "paas-registry".into(),
            issuer: "paas".into(),
            root_cert: dir.path().join("cert.pem"),
        };
        let path = config.write().unwrap();
        let doc: serde_json::Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(doc["http"]["addr"], "127.0.0.1:5001");
        assert_eq!(doc["auth"]["token"]["realm"], "http://127.0.0.1:5002/token");
        assert_eq!(doc["storage"]["delete"]["enabled"], true);
        assert!(config.storage_dir().is_dir());
    }
}
