//! The router as its own process: paasd starts `paas-router` once and adopts it after a
//! restart, so that apps stay reachable while the control plane is away.
//!
//! [`ensure`] looks at `<state_dir>/router.pid`. A live process there that runs the
//! router binary for this state dir, was started from the same [`RouterSpec`] (its
//! fingerprint, a SHA-256 of the spec, is in the pid file) and answers HTTP is adopted.
//! One started from another spec, or from a binary replaced since, is replaced without
//! a refused connection: the new router takes its listening sockets over the hand-over
//! socket in the state dir (`paas_router::handover`), the old one drains and exits, and
//! paasd waits for both (a router too old to hand over, or a successor that fails, is
//! stopped and started the old way: SIGTERM, then a new process). One that does not
//! answer HTTP is stopped and a new one started. A dead pid, or one that now belongs to
//! another program, is forgotten; that program is never signalled.
//!
//! A started router gets the router's `PAAS_*` variables and none of paasd's other ones,
//! stdin from `/dev/null`, stdout and stderr appended to `<state_dir>/router.log`, and a
//! process group of its own, so that neither Ctrl-C in paasd's terminal nor paasd's
//! exit reaches it. Nothing kills it when paasd stops: only [`RouterProcess::stop`]
//! does. While paasd runs, a thread waits on the child so that no zombie stays.
//!
//! Not here: a lock against two paasd starting routers from one state dir at once,
//! and rotation of `router.log` while a router runs (it is rotated, once, when a new
//! router starts).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use paas_core::settings;
use paas_core::Hostname;
use rustix::process::{Pid, Signal};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::secrets;

/// The router binary's file name, looked for next to paasd by default.
pub const ROUTER_BINARY: &str = "paas-router";
/// The pid file's name in the router's state dir.
pub const PID_FILE: &str = "router.pid";
/// The router's log file's name in its state dir.
pub const LOG_FILE: &str = "router.log";
/// How long a started router may take to answer HTTP.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a router may take to exit after SIGTERM before it gets SIGKILL: a little
/// more than the router's own grace for requests in flight.
pub const STOP_GRACE: Duration = Duration::from_secs(12);

/// How long a router found running may take to answer before it is replaced.
const ADOPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one HTTP probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How often readiness and exit are looked at.
const POLL: Duration = Duration::from_millis(50);
/// How long a process may take to vanish after SIGKILL.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// A log larger than this is moved to `router.log.1` when a new router starts.
const LOG_ROTATE_BYTES: u64 = 8 << 20;
/// How much of the end of the log an error shows.
const LOG_TAIL_BYTES: u64 = 4096;
const LOG_TAIL_LINES: usize = 20;
/// The `Host` of readiness probes: reserved, so it is never an app's.
const PROBE_HOST: &str = "paas-router-probe.invalid";

/// What a router is started with. Two routers started from equal specs are
/// interchangeable, so a running one is adopted.
#[derive(Clone, PartialEq, Eq)]
pub struct RouterSpec {
    /// The `paas-router` binary (`PAAS_ROUTER_BIN`).
    pub binary: PathBuf,
    /// Where it serves apps (`PAAS_HTTP_ADDR`); port 0 is refused, as paasd would not
    /// know the port the router picked.
    pub http_addr: SocketAddr,
    /// Where it serves apps over TLS (`PAAS_HTTPS_ADDR`); `None`: no HTTPS listener.
    pub https_addr: Option<SocketAddr>,
    /// Where it serves Prometheus metrics (`PAAS_ROUTER_METRICS_ADDR`); `None`: nowhere.
    pub metrics_addr: Option<SocketAddr>,
    /// The platform domain (`PAAS_DOMAIN`).
    pub domain: Hostname,
    /// Its state dir, `<data_dir>/router`: `routes.json`, the pid file and the log.
    pub state_dir: PathBuf,
    /// The controller's route stream, `http://<api>/v1/internal/routes/watch`.
    pub feed_url: String,
    /// The internal token it presents to the route stream. Secret: never written to
    /// the pid file, a log or an error.
    pub token: String,
    /// The controller's API, served on `paas.<domain>`.
    pub controller_addr: SocketAddr,
    /// The builder's git endpoint, served on `git.<domain>`.
    pub builder_addr: Option<SocketAddr>,
    /// The router's log filter (`PAAS_LOG`).
    pub log_filter: String,
}

impl fmt::Debug for RouterSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterSpec")
            .field("binary", &self.binary)
            .field("http_addr", &self.http_addr)
            .field("https_addr", &self.https_addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("domain", &self.domain)
            .field("state_dir", &self.state_dir)
            .field("feed_url", &self.feed_url)
            .field("token", &"(hidden)")
            .field("controller_addr", &self.controller_addr)
            .field("builder_addr", &self.builder_addr)
            .field("log_filter", &self.log_filter)
            .finish()
    }
}

impl RouterSpec {
    /// The SHA-256, in hex, of every field (the token included, so that a new token
    /// restarts the router; the hash does not reveal it). Each field is hashed with its
    /// name and length, so no two specs share a fingerprint by shifting bytes.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        let mut field = |name: &str, value: &[u8]| {
            for part in [name.as_bytes(), value] {
                hash.update((part.len() as u64).to_le_bytes());
                hash.update(part);
            }
        };
        field("version", b"paas-router-spec/1");
        field("binary", self.binary.as_os_str().as_bytes());
        field("http_addr", self.http_addr.to_string().as_bytes());
        field("https_addr", self.https_addr.map(|a| a.to_string()).unwrap_or_default().as_bytes());
        field("metrics_addr", self.metrics_addr.map(|a| a.to_string()).unwrap_or_default().as_bytes());
        field("domain", self.domain.as_str().as_bytes());
        field("state_dir", self.state_dir.as_os_str().as_bytes());
        field("feed_url", self.feed_url.as_bytes());
        field("token", self.token.as_bytes());
        field("controller_addr", self.controller_addr.to_string().as_bytes());
        field("builder_addr", self.builder_addr.map(|a| a.to_string()).unwrap_or_default().as_bytes());
        field("log_filter", self.log_filter.as_bytes());
        hex::encode(hash.finalize())
    }
}

/// The default of `PAAS_ROUTER_BIN`: the `paas-router` file next to the running
/// executable.
pub fn default_binary() -> io::Result<PathBuf> {
    Ok(std::env::current_exe()?.with_file_name(ROUTER_BINARY))
}

/// Why the router could not be adopted, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RouterProcessError {
    /// The binary is not there.
    #[error("cannot find the router binary {path} (set {} to the paas-router binary)", settings::ROUTER_BIN.name)]
    Binary {
        /// The binary as configured.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The address has port 0.
    #[error(
        "the router's address {addr} ({}) has port 0: the router runs as its own process, so give it a fixed port",
        settings::HTTP_ADDR.name
    )]
    PortZero {
        /// The address.
        addr: SocketAddr,
    },
    /// Another program listens on the router's address.
    #[error(
        "{addr} ({}) is in use by a program that is not this platform's router (none is recorded in {pid_file}): \
         stop that program or choose another address",
        settings::HTTP_ADDR.name
    )]
    AddressTaken {
        /// The address.
        addr: SocketAddr,
        /// The pid file that names no live router.
        pid_file: PathBuf,
    },
    /// A file or directory of the state dir.
    #[error("cannot {action} {path}")]
    Io {
        /// What paasd was doing.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The binary would not run.
    #[error("cannot run the router binary {binary} (see {})", settings::ROUTER_BIN.name)]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The router exited before it answered.
    #[error(
        "the router (pid {pid}) exited ({status}) before it answered on {addr}; the end of {log}:\n{tail}"
    )]
    Exited {
        /// Its pid.
        pid: u32,
        /// How it ended.
        status: ExitStatus,
        /// Where it was to serve.
        addr: SocketAddr,
        /// Its log.
        log: PathBuf,
        /// The end of what it wrote there, the token blotted out.
        tail: String,
    },
    /// The router did not answer in time; it was killed.
    #[error(
        "the router (pid {pid}) did not answer HTTP on {addr} within {timeout:?}; the end of {log}:\n{tail}"
    )]
    NotReady {
        /// Its pid.
        pid: u32,
        /// Where it was to serve.
        addr: SocketAddr,
        /// How long it had.
        timeout: Duration,
        /// Its log.
        log: PathBuf,
        /// The end of what it wrote there, the token blotted out.
        tail: String,
    },
    /// A signal could not be sent.
    #[error("cannot send {signal} to the router (pid {pid})")]
    Signal {
        /// Its pid.
        pid: u32,
        /// `SIGTERM` or `SIGKILL`.
        signal: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The router is still there after SIGKILL.
    #[error("the router (pid {pid}) is still running {timeout:?} after SIGKILL")]
    Unkillable {
        /// Its pid.
        pid: u32,
        /// How long paasd waited.
        timeout: Duration,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RouterProcessError {
    let path = path.to_owned();
    move |source| RouterProcessError::Io { action, path, source }
}

/// A running router, adopted or started. Dropping it leaves the router running.
#[derive(Debug)]
pub struct RouterProcess {
    pid: u32,
    adopted: bool,
    binary: PathBuf,
    state_dir: PathBuf,
}

impl RouterProcess {
    /// The router's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether [`ensure`] found it running rather than starting it.
    pub fn adopted(&self) -> bool {
        self.adopted
    }

    /// Stops the router: SIGTERM, then SIGKILL after [`STOP_GRACE`]; and removes its
    /// pid file. For tests and for replacing a router; paasd's own shutdown leaves the
    /// router running.
    pub async fn stop(self) -> Result<(), RouterProcessError> {
        stop_pid(self.pid, &self.binary, &self.state_dir).await?;
        remove_pid_file_of(&self.state_dir.join(PID_FILE), self.pid)
    }
}

/// Adopts the router recorded in the spec's state dir if it runs from this spec and
/// answers, else (stopping a router of another spec) starts one and waits until it
/// answers HTTP.
pub async fn ensure(spec: &RouterSpec) -> Result<RouterProcess, RouterProcessError> {
    if spec.http_addr.port() == 0 {
        return Err(RouterProcessError::PortZero { addr: spec.http_addr });
    }
    let binary = fs::canonicalize(&spec.binary)
        .map_err(|source| RouterProcessError::Binary { path: spec.binary.clone(), source })?;
    secrets::ensure_private_dir(&spec.state_dir).map_err(io_error("create", &spec.state_dir))?;
    // Absolute, so that `/proc/<pid>/environ` says the same of the router's state dir
    // whatever paasd's working directory.
    let state_dir = fs::canonicalize(&spec.state_dir).map_err(io_error("resolve", &spec.state_dir))?;
    let pid_path = state_dir.join(PID_FILE);
    let fingerprint = spec.fingerprint();

    if let Some(record) = read_pid_file(&pid_path)? {
        match identify(record.pid, &binary, &state_dir) {
            Identity::Gone => {
                tracing::info!(pid = record.pid, "the router recorded in {} is gone", pid_path.display());
            }
            Identity::Other => tracing::info!(
                pid = record.pid,
                "the pid in {} now belongs to another program; leaving it alone",
                pid_path.display()
            ),
            Identity::Router { replaced_binary } => {
                let replace = if replaced_binary {
                    Some(Replacement::Binary)
                } else if record.fingerprint != fingerprint {
                    Some(Replacement::Spec)
                } else if !wait_until_answers(spec.http_addr, ADOPT_TIMEOUT).await {
                    Some(Replacement::Silent)
                } else {
                    None
                };
                let process = RouterProcess { pid: record.pid, adopted: true, binary, state_dir };
                let Some(replace) = replace else {
                    tracing::info!(pid = process.pid, addr = %spec.http_addr, "adopted the running router");
                    return Ok(process);
                };
                let (old, reason) = (process.pid, replace.reason());
                if replace == Replacement::Silent {
                    tracing::info!(pid = old, reason, "replacing the running router");
                    stop_pid(old, &process.binary, &process.state_dir).await?;
                    return start(spec, process.binary, process.state_dir, &fingerprint, None).await;
                }
                tracing::info!(
                    pid = old,
                    reason,
                    "replacing the running router: its successor takes its listeners"
                );
                let successor =
                    start(spec, process.binary.clone(), process.state_dir.clone(), &fingerprint, Some(old))
                        .await;
                return match successor {
                    Err(e @ RouterProcessError::Exited { .. })
                        if is_router(old, &process.binary, &process.state_dir) =>
                    {
                        tracing::warn!(pid = old, error = %e, "the new router did not take over; replacing the old one by stopping it");
                        stop_pid(old, &process.binary, &process.state_dir).await?;
                        start(spec, process.binary, process.state_dir, &fingerprint, None).await
                    }
                    started => started,
                };
            }
        }
    }
    start(spec, binary, state_dir, &fingerprint, None).await
}

/// Starts a router and waits until it answers; as the successor of the running router
/// `predecessor`, until that one has handed its listeners over and exited too.
async fn start(
    spec: &RouterSpec,
    binary: PathBuf,
    state_dir: PathBuf,
    fingerprint: &str,
    predecessor: Option<u32>,
) -> Result<RouterProcess, RouterProcessError> {
    let pid_path = state_dir.join(PID_FILE);
    // The router would fail to bind too, but this error says what to do about it. A
    // successor is given its predecessor's sockets instead.
    match std::net::TcpListener::bind(spec.http_addr) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse && predecessor.is_none() => {
            return Err(RouterProcessError::AddressTaken { addr: spec.http_addr, pid_file: pid_path });
        }
        // Any other refusal (a privileged port, say) is the router's to report.
        _ => {}
    }
    let log_path = state_dir.join(LOG_FILE);
    let (log, log_start) = open_log(&log_path)?;
    let stderr = log.try_clone().map_err(io_error("reopen", &log_path))?;

    let mut command = Command::new(&binary);
    for setting in settings::ALL {
        command.env_remove(setting.name);
    }
    command
        .env(settings::HTTP_ADDR.name, spec.http_addr.to_string())
        .env(settings::HTTPS_ADDR.name, spec.https_addr.map_or_else(|| "off".to_owned(), |a| a.to_string()))
        .env(
            settings::ROUTER_METRICS_ADDR.name,
            spec.metrics_addr.map_or_else(|| "off".to_owned(), |a| a.to_string()),
        )
        .env(settings::DOMAIN.name, spec.domain.as_str())
        .env(settings::ROUTER_STATE_DIR.name, &state_dir)
        .env(settings::ROUTER_FEED_URL.name, &spec.feed_url)
        .env(settings::ROUTER_TOKEN.name, &spec.token)
        .env(settings::ROUTER_CONTROLLER_ADDR.name, spec.controller_addr.to_string())
        .env(settings::LOG.name, &spec.log_filter)
        // The log is a file: no colour codes in it.
        .env("NO_COLOR", "1");
    if let Some(builder) = spec.builder_addr {
        command.env(settings::ROUTER_BUILDER_ADDR.name, builder.to_string());
    }
    command.stdin(Stdio::null()).stdout(Stdio::from(log)).stderr(Stdio::from(stderr)).process_group(0);
    let mut child =
        command.spawn().map_err(|source| RouterProcessError::Spawn { binary: binary.clone(), source })?;
    drop(command);
    let pid = child.id();
    if let Err(e) = write_pid_file(&pid_path, pid, fingerprint) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }

    // Reaps the router if it exits while paasd runs; the router outlives the thread
    // otherwise. A thread rather than a task: it needs no runtime to outlive.
    let (exited_tx, exited) = watch::channel(None);
    let reaper = std::thread::Builder::new().name(format!("router-{pid}-reaper")).spawn(move || {
        let status = child.wait();
        match &status {
            Ok(status) => tracing::info!(pid, %status, "the router exited"),
            Err(e) => tracing::warn!(pid, error = %e, "cannot wait for the router"),
        }
        exited_tx.send_replace(status.ok());
    });
    if let Err(e) = reaper {
        // Without a reaper it would become a zombie when it exits; still, it serves.
        tracing::warn!(pid, error = %e, "cannot start a thread to reap the router");
    }

    let process = RouterProcess { pid, adopted: false, binary, state_dir };
    let tail = |log_path: &Path| log_tail(log_path, log_start, &spec.token);
    // A predecessor has its drain to finish too.
    let deadline =
        Instant::now() + READY_TIMEOUT + if predecessor.is_some() { STOP_GRACE } else { Duration::ZERO };
    loop {
        let status = *exited.borrow();
        if let Some(status) = status {
            let _ = remove_pid_file_of(&pid_path, pid);
            return Err(RouterProcessError::Exited {
                pid,
                status,
                addr: spec.http_addr,
                tail: tail(&log_path),
                log: log_path,
            });
        }
        // A predecessor answers too until it has handed over; it exits once drained.
        let predecessor_gone =
            predecessor.is_none_or(|old| !is_router(old, &process.binary, &process.state_dir));
        if predecessor_gone && answers_http(spec.http_addr).await {
            tracing::info!(pid, addr = %spec.http_addr, log = %log_path.display(), "started the router");
            return Ok(process);
        }
        if Instant::now() >= deadline {
            if let Some(old) = predecessor.filter(|old| is_router(*old, &process.binary, &process.state_dir))
            {
                if answers_http(spec.http_addr).await {
                    tracing::warn!(pid = old, "the old router still runs after its drain: stopping it");
                    stop_pid(old, &process.binary, &process.state_dir).await?;
                    return Ok(process);
                }
            }
            let tail = tail(&log_path);
            if let Err(e) = process.stop().await {
                tracing::warn!(pid, error = %e, "cannot stop the router that did not answer");
            }
            return Err(RouterProcessError::NotReady {
                pid,
                addr: spec.http_addr,
                timeout: READY_TIMEOUT,
                tail,
                log: log_path,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The log opened for appending (mode 0600), and its length before this router's lines.
fn open_log(path: &Path) -> Result<(File, u64), RouterProcessError> {
    match fs::metadata(path) {
        Ok(meta) if meta.len() > LOG_ROTATE_BYTES => {
            let old = path.with_extension("log.1");
            fs::rename(path, &old).map_err(io_error("rotate", path))?;
        }
        _ => {}
    }
    let log = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error("open", path))?;
    let meta = log.metadata().map_err(io_error("inspect", path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(io_error("set the mode of", path))?;
    }
    Ok((log, meta.len()))
}

/// The last lines the router wrote since `start`, the token blotted out.
fn log_tail(path: &Path, start: u64, token: &str) -> String {
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let end = file.metadata()?.len();
        let from = start.max(end.saturating_sub(LOG_TAIL_BYTES));
        file.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::new();
        file.take(LOG_TAIL_BYTES).read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    let mut text = match read() {
        Ok(text) => text,
        Err(e) => return format!("(cannot read it: {e})"),
    };
    if !token.is_empty() {
        text = text.replace(token, "(token)");
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    if tail.trim().is_empty() {
        "(nothing)".to_owned()
    } else {
        tail
    }
}

/// What `router.pid` says.
#[derive(Debug)]
struct PidRecord {
    pid: u32,
    fingerprint: String,
}

/// The pid file's record; `None` when there is none, or it is unreadable garbage
/// (logged: the router it named, if any, is then unknown).
fn read_pid_file(path: &Path) -> Result<Option<PidRecord>, RouterProcessError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => String::new(),
        Err(e) => return Err(io_error("read", path)(e)),
    };
    let field =
        |name: &str| text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix('=')).map(str::trim);
    let pid = field("pid").and_then(|pid| pid.parse::<u32>().ok()).filter(|&pid| pid > 0);
    match (pid, field("fingerprint")) {
        (Some(pid), Some(fingerprint)) => Ok(Some(PidRecord { pid, fingerprint: fingerprint.to_owned() })),
        _ => {
            tracing::warn!("ignoring {}: it is not a router pid file", path.display());
            Ok(None)
        }
    }
}

/// The pid of the router recorded in `state_dir`, if a pid file names one (alive or
/// not): for tests and operators that stop what paasd left running.
pub fn recorded_pid(state_dir: &Path) -> Option<u32> {
    read_pid_file(&state_dir.join(PID_FILE)).ok().flatten().map(|record| record.pid)
}

/// Writes the pid file atomically (temp file, fsync, rename) with mode 0600.
fn write_pid_file(path: &Path, pid: u32, fingerprint: &str) -> Result<(), RouterProcessError> {
    let temp = path.with_extension("pid.tmp");
    match fs::remove_file(&temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error("remove", &temp)(e)),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io_error("create", &temp))?;
    file.write_all(format!("pid={pid}\nfingerprint={fingerprint}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error("write", &temp))?;
    fs::rename(&temp, path).map_err(io_error("rename into place", path))?;
    if let Some(dir) = path.parent() {
        // The rename reaches the disk with the directory; failing that is no reason to
        // refuse a router that runs.
        let _ = File::open(dir).and_then(|dir| dir.sync_all());
    }
    Ok(())
}

/// Removes the pid file if it still names `pid`.
fn remove_pid_file_of(path: &Path, pid: u32) -> Result<(), RouterProcessError> {
    match read_pid_file(path)? {
        Some(record) if record.pid == pid => match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("remove", path)(e)),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Why a running router is replaced instead of adopted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replacement {
    /// The file it runs was replaced (an upgrade): its successor takes its listeners.
    Binary,
    /// Its spec changed: its successor takes its listeners.
    Spec,
    /// It does not answer HTTP: it is stopped, then a new one starts.
    Silent,
}

impl Replacement {
    fn reason(self) -> &'static str {
        match self {
            Replacement::Binary => "its binary was replaced",
            Replacement::Spec => "its configuration changed",
            Replacement::Silent => "it does not answer HTTP",
        }
    }
}

/// What runs under a recorded pid.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    /// Nothing (or a zombie).
    Gone,
    /// Some other program, or a router of another state dir.
    Other,
    /// The router binary for this state dir; `replaced_binary` when the file it runs
    /// from has been replaced (an upgrade) since it started.
    Router { replaced_binary: bool },
}

fn rustix_pid(pid: u32) -> Option<Pid> {
    Pid::from_raw(i32::try_from(pid).ok()?)
}

/// Whether `pid` is a process that has not exited (a zombie has).
fn running(pid: u32) -> bool {
    let Some(raw) = rustix_pid(pid) else { return false };
    match rustix::process::test_kill_process(raw) {
        Ok(()) => {}
        // It exists but is not ours to signal.
        Err(rustix::io::Errno::PERM) => {}
        Err(_) => return false,
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S ...`: the state follows the last parenthesis.
        Ok(stat) => stat.rfind(')').and_then(|i| stat[i + 1..].trim_start().chars().next()) != Some('Z'),
        Err(_) => false,
    }
}

/// Looks at what runs under `pid`: the same binary (`/proc/<pid>/exe`) started for the
/// same state dir (`PAAS_ROUTER_STATE_DIR` in `/proc/<pid>/environ`) is our router.
fn identify(pid: u32, binary: &Path, state_dir: &Path) -> Identity {
    if !running(pid) {
        return Identity::Gone;
    }
    let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) else {
        // Not readable: another user's process, so not our router.
        return Identity::Other;
    };
    let replaced_binary = if exe == binary {
        false
    } else {
        let mut deleted = binary.as_os_str().to_owned();
        deleted.push(" (deleted)");
        if exe.as_os_str() != deleted {
            return Identity::Other;
        }
        true
    };
    let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else { return Identity::Other };
    let mut wanted = format!("{}=", settings::ROUTER_STATE_DIR.name).into_bytes();
    wanted.extend_from_slice(state_dir.as_os_str().as_bytes());
    if environ.split(|&b| b == 0).any(|entry| entry == wanted.as_slice()) {
        Identity::Router { replaced_binary }
    } else {
        Identity::Other
    }
}

/// Whether `pid` is our router: run from `binary` for `state_dir`.
fn is_router(pid: u32, binary: &Path, state_dir: &Path) -> bool {
    matches!(identify(pid, binary, state_dir), Identity::Router { .. })
}

/// SIGKILLs the router the pid file in `state_dir` names if that pid is still a router
/// run from `binary` for `state_dir`, and not a program that has been given the pid
/// since. For tests, whose routers go with them.
pub fn kill_recorded(state_dir: &Path, binary: &Path) {
    if let Some(pid) = recorded_pid(state_dir).filter(|pid| runs_router(*pid, state_dir, binary)) {
        let _ = signal(pid, Signal::KILL, "SIGKILL");
    }
}

/// Whether `pid` is (still) a router run from `binary` for `state_dir`; a pid alone
/// says nothing once its process has exited, as another may be given it.
pub fn runs_router(pid: u32, state_dir: &Path, binary: &Path) -> bool {
    // As `ensure` saw them when it started the router.
    let (Ok(state_dir), Ok(binary)) = (fs::canonicalize(state_dir), fs::canonicalize(binary)) else {
        return false;
    };
    is_router(pid, &binary, &state_dir)
}

fn signal(pid: u32, signal: Signal, name: &'static str) -> Result<(), RouterProcessError> {
    let Some(raw) = rustix_pid(pid) else { return Ok(()) };
    match rustix::process::kill_process(raw, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(RouterProcessError::Signal { pid, signal: name, source: e.into() }),
    }
}

/// Waits up to `timeout` for `pid` to exit; whether it did.
async fn wait_exit(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !running(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// SIGTERM, up to [`STOP_GRACE`] to exit, then SIGKILL if it is still our router.
async fn stop_pid(pid: u32, binary: &Path, state_dir: &Path) -> Result<(), RouterProcessError> {
    if !is_router(pid, binary, state_dir) {
        // Gone, and the pid perhaps another program's since: pids come round again
        // quickly on a busy machine (`kernel.pid_max` may be 32768).
        return Ok(());
    }
    signal(pid, Signal::TERM, "SIGTERM")?;
    if wait_exit(pid, STOP_GRACE).await {
        return Ok(());
    }
    if !is_router(pid, binary, state_dir) {
        // It exited and the pid was taken since.
        return Ok(());
    }
    tracing::warn!(pid, grace = ?STOP_GRACE, "the router did not stop after SIGTERM: sending SIGKILL");
    signal(pid, Signal::KILL, "SIGKILL")?;
    if wait_exit(pid, KILL_TIMEOUT).await {
        Ok(())
    } else {
        Err(RouterProcessError::Unkillable { pid, timeout: KILL_TIMEOUT })
    }
}

/// Whether something answers HTTP on `addr` within `timeout`.
async fn wait_until_answers(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if answers_http(addr).await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One probe: a `GET /` for a host no app has; any HTTP status line will do (the router
/// answers 404).
async fn answers_http(addr: SocketAddr) -> bool {
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET / HTTP/1.1\r\nHost: {PROBE_HOST}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut status = [0u8; 9];
        stream.read_exact(&mut status).await?;
        io::Result::Ok(status.starts_with(b"HTTP/1."))
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RouterSpec {
        RouterSpec {
            binary: "/usr/lib/paas/paas-router".into(),
            http_addr: "127.0.0.1:8080".parse().unwrap(),
            https_addr: Some("127.0.0.1:8443".parse().unwrap()),
            metrics_addr: None,
            domain: Hostname::parse("paas.test").unwrap(),
            state_dir: "/var/lib/paas/router".into(),
            feed_url: "http://127.0.0.1:7700/v1/internal/routes/watch".into(),
            token: "secret-token".into(),
            controller_addr: "127.0.0.1:7700".parse().unwrap(),
            builder_addr: None,
            log_filter: "info".into(),
        }
    }

    #[test]
    fn the_fingerprint_changes_with_every_field_and_hides_the_token() {
        let base = spec().fingerprint();
        assert_eq!(base, spec().fingerprint());
        assert_eq!(base.len(), 64);
        assert!(!base.contains("secret"));
        let changes: Vec<fn(&mut RouterSpec)> = vec![
            |s| s.binary.push("x"),
            |s| s.http_addr.set_port(8081),
            |s| s.https_addr = None,
            |s| s.metrics_addr = Some("127.0.0.1:9180".parse().unwrap()),
            |s| s.domain = Hostname::parse("other.test").unwrap(),
            |s| s.state_dir.push("x"),
            |s| s.feed_url.push('x'),
            |s| s.token.push('x'),
            |s| s.controller_addr.set_port(7701),
            |s| s.builder_addr = Some("127.0.0.1:7702".parse().unwrap()),
            |s| s.log_filter.push_str(",paas_router=debug"),
        ];
        for change in changes {
            let mut changed = spec();
            change(&mut changed);
            assert_ne!(changed.fingerprint(), base, "{changed:?}");
        }
    }

    #[test]
    fn debug_hides_the_token() {
        assert!(!format!("{:?}", spec()).contains("secret-token"));
    }

    #[test]
    fn pid_files_round_trip_and_garbage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PID_FILE);
        assert!(read_pid_file(&path).unwrap().is_none());
        write_pid_file(&path, 4242, "abc").unwrap();
        let record = read_pid_file(&path).unwrap().unwrap();
        assert_eq!((record.pid, record.fingerprint.as_str()), (4242, "abc"));
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        remove_pid_file_of(&path, 1).unwrap();
        assert!(path.exists(), "another pid's file stays");
        remove_pid_file_of(&path, 4242).unwrap();
        assert!(!path.exists());
        fs::write(&path, "pid=zero\n").unwrap();
        assert!(read_pid_file(&path).unwrap().is_none());
    }

    #[test]
    fn this_process_is_running_and_not_a_router() {
        let me = std::process::id();
        assert!(running(me));
        assert_eq!(
            identify(me, Path::new("/nonexistent/paas-router"), Path::new("/nonexistent")),
            Identity::Other
        );
        assert!(!running(0));
    }

    #[test]
    fn the_log_tail_blots_out_the_token_and_skips_earlier_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        fs::write(&path, "an earlier run\n").unwrap();
        let (mut log, start) = open_log(&path).unwrap();
        writeln!(log, "error: token s3cret refused").unwrap();
        let tail = log_tail(&path, start, "s3cret");
        assert_eq!(tail, "error: token (token) refused");
    }
}
