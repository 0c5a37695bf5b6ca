//! A private PostgreSQL cluster for the test suite: created on first use, started when
//! down, reused when up, and left running.
//!
//! It lives in `/var/tmp/paas-xtask-pg/<major>`, apart from the system cluster and from
//! the checkout: PostgreSQL refuses to run as root, so under root the server runs as the
//! `postgres` OS user, which must own the data directory and may be unable to enter the
//! checkout. As another user it runs as that user. It listens on 127.0.0.1:[`PORT`] only,
//! with its socket in the data directory. Local socket connections are trusted (the
//! directory is private to its owner); TCP connections use scram-sha-256.
//!
//! The role `paas` (password `paas`) may log in and create databases: the test helpers
//! create and drop a fresh database per test through [`url`]. Durability is switched
//! off (`fsync=off`): the cluster holds nothing worth keeping, and it makes each test's
//! `CREATE DATABASE` fast.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::{apt, process};

/// The port the test cluster listens on (loopback only). Below Linux's ephemeral range
/// (32768-60999), which the tests' own listeners and connections draw from: a port in
/// it was once still held by one when the PostgreSQL pass began.
pub const PORT: u16 = 25432;

/// The Debian package with the server, probed by a program it installs.
pub const PACKAGES: &[(&str, &str)] = &[("pg_ctlcluster", "postgresql")];

/// Where the clusters live, one directory per major version.
const BASE: &str = "/var/tmp/paas-xtask-pg";

/// Where Debian installs the server, one `<major>/bin` per version.
const SERVER_ROOT: &str = "/usr/lib/postgresql";

/// The OS user the server runs as when xtask runs as root.
const SERVER_USER: &str = "postgres";

/// Creates the role with the password the URL carries, or resets it; idempotent.
const ROLE_SQL: &str = "\
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'paas') THEN
        CREATE ROLE paas;
    END IF;
END
$$;
ALTER ROLE paas LOGIN CREATEDB PASSWORD 'paas';
";

/// The URL the tests receive: role `paas` on the maintenance database `postgres`.
pub fn url() -> String {
    format!("postgres://paas:paas@127.0.0.1:{PORT}/postgres")
}

/// The URL of database `name` on the test cluster, as role `paas`.
pub fn database_url(name: &str) -> String {
    format!("postgres://paas:paas@127.0.0.1:{PORT}/{name}")
}

/// Runs `sql` as role `paas` on the maintenance database of the running cluster (see
/// [`ensure_running`]); returns psql's unaligned, tuples-only output, trimmed.
pub fn psql(sql: &str) -> anyhow::Result<String> {
    let cluster = Cluster::find()?;
    let out = process::read(
        cluster.command("psql").args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"]).args([
            "-c",
            sql,
            &url(),
        ]),
    )?;
    Ok(out.trim().to_owned())
}

/// Makes sure the test cluster exists, runs and accepts [`url`]; returns the URL.
pub fn ensure_running() -> anyhow::Result<String> {
    apt::ensure_packages(PACKAGES)?;
    let cluster = Cluster::find()?;
    if !cluster.data.join("PG_VERSION").exists() {
        cluster.init()?;
    }
    if cluster.is_running()? {
        eprintln!("xtask: reusing the PostgreSQL test cluster in {}", cluster.data.display());
    } else {
        cluster.start()?;
    }
    cluster.ensure_role()?;
    Ok(url())
}

/// The test cluster of the newest installed server version.
struct Cluster {
    /// `/usr/lib/postgresql/<major>/bin`.
    bin: PathBuf,
    /// `/var/tmp/paas-xtask-pg/<major>`: data, log and socket.
    data: PathBuf,
    /// Whether to run the server's programs as [`SERVER_USER`] (xtask runs as root).
    as_server_user: bool,
}

impl Cluster {
    fn find() -> anyhow::Result<Self> {
        let newest = std::fs::read_dir(SERVER_ROOT)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let major: u32 = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                bin.join("pg_ctl").exists().then_some((major, bin))
            })
            .max_by_key(|(major, _)| *major);
        let Some((major, bin)) = newest else {
            bail!(
                "no PostgreSQL server under {SERVER_ROOT}/*/bin\n\
                 hint: apt-get install postgresql"
            );
        };
        Ok(Self { bin, data: Path::new(BASE).join(major.to_string()), as_server_user: process::is_root() })
    }

    /// `initdb`: UTF-8, trusted local socket, scram-sha-256 over TCP.
    fn init(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(BASE).with_context(|| format!("could not create {BASE}"))?;
        if self.as_server_user {
            // initdb, running as postgres, creates the data directory inside.
            process::run(Command::new("chown").args([SERVER_USER, BASE]))?;
        }
        eprintln!("xtask: creating the PostgreSQL test cluster in {}", self.data.display());
        process::read(self.command("initdb").arg("--pgdata").arg(&self.data).args([
            "--username=postgres",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ]))?;
        Ok(())
    }

    /// Whether the server runs and answers (one killed a moment ago may still have a
    /// live process id).
    fn is_running(&self) -> anyhow::Result<bool> {
        let status = process::output(self.command("pg_ctl").arg("status").arg("-D").arg(&self.data))?;
        if !status.status.success() {
            return Ok(false);
        }
        let ready = process::output(self.command("pg_isready").arg("-h").arg(&self.data).args([
            "-p",
            &PORT.to_string(),
            "-t",
            "5",
        ]))?;
        Ok(ready.status.success())
    }

    fn start(&self) -> anyhow::Result<()> {
        eprintln!("xtask: starting the PostgreSQL test cluster on 127.0.0.1:{PORT}");
        let log = self.data.join("log");
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {PORT} -k {} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=200",
            self.data.display()
        );
        let started = process::read(
            self.command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(&log)
                .args(["-o", &options, "-w", "-t", "60", "start"]),
        );
        if let Err(err) = started {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(10).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "{err:#}\nlast lines of {}:\n{}\nhint: is another server on port {PORT}, or one still stopping in this directory?",
                log.display(),
                tail.join("\n"),
            );
        }
        Ok(())
    }

    /// Creates the role `paas` over the local socket, then logs in as it over TCP.
    fn ensure_role(&self) -> anyhow::Result<()> {
        process::read(
            self.command("psql")
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres"])
                .arg("-h")
                .arg(&self.data)
                .args(["-p", &PORT.to_string(), "-c", ROLE_SQL]),
        )
        .context("could not create the role `paas`")?;
        process::read(self.command("psql").args(["-X", "-q", "-t", "-c", "SELECT 1", &url()]))
            .with_context(|| format!("could not log in with {}", url()))?;
        Ok(())
    }

    /// One of the server's programs, as the user who owns the cluster.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_server_user {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", SERVER_USER, "--"]).arg(path);
            runuser
        } else {
            Command::new(path)
        };
        // The server user may not be able to enter xtask's working directory.
        cmd.current_dir("/");
        cmd
    }
}
