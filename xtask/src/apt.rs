//! Debian packages: install what a command needs, and only what is missing.
//!
//! Each need is a pair (program to probe, package that provides it). When every probe is
//! found nothing runs at all, not even `apt-get update`, so a second run is silent and a
//! machine without apt works as long as the programs are there.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::bail;

use crate::process;

/// What every build needs: a C compiler (bundled SQLite, ring) and git (the tests push).
pub const BUILD_PACKAGES: &[(&str, &str)] = &[("cc", "gcc"), ("git", "git")];

/// What the registry tests need: the CNCF Distribution registry, which registry-proxy
/// runs as a child. (On a machine with systemd, the package also starts its own service
/// on port 5000; paas does not use it.)
pub const REGISTRY_PACKAGES: &[(&str, &str)] = &[("/usr/bin/docker-registry", "docker-registry")];

/// What the dashboard's end-to-end test needs: headless Chromium and its WebDriver
/// (`tests/tests/dashboard_browser.rs`).
pub const BROWSER_PACKAGES: &[(&str, &str)] =
    &[("/usr/bin/chromium", "chromium"), ("/usr/bin/chromedriver", "chromium-driver")];

/// What the ACME test needs: Pebble, Let's Encrypt's test CA, and its mock DNS server
/// (`tests/tests/acme.rs`).
pub const ACME_PACKAGES: &[(&str, &str)] =
    &[("/usr/bin/pebble", "pebble"), ("/usr/bin/pebble-challtestsrv", "pebble")];

/// What running apps needs: the Docker engine and its CLI.
pub const DOCKER_PACKAGES: &[(&str, &str)] = &[("docker", "docker.io")];

/// What the TLS scan of the router's HTTPS port needs: testssl.sh
/// (`tests/tests/testssl.rs`).
pub const TLS_TEST_PACKAGES: &[(&str, &str)] = &[("/usr/bin/testssl", "testssl.sh")];

/// What `cargo xtask bench router` needs: the proxies it compares the router with,
/// the load generators, and openssl to make the certificate.
pub const ROUTER_BENCH_PACKAGES: &[(&str, &str)] = &[
    ("/usr/sbin/nginx", "nginx"),
    ("/usr/sbin/haproxy", "haproxy"),
    ("/usr/bin/wrk", "wrk"),
    ("/usr/bin/h2load", "nghttp2-client"),
    ("openssl", "openssl"),
    ("taskset", "util-linux"),
];

/// Whether this xtask run has refreshed apt's package lists already.
static UPDATED: AtomicBool = AtomicBool::new(false);

/// Installs the package of every `(program, package)` pair whose program is missing.
///
/// `program` is looked up on `PATH`, or checked as a path when it contains a `/`.
pub fn ensure_packages(needs: &[(&str, &str)]) -> anyhow::Result<()> {
    let mut missing: Vec<&str> =
        needs.iter().filter(|(program, _)| !process::on_path(program)).map(|&(_, package)| package).collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !process::on_path("apt-get") {
        bail!("missing packages: {list}\nhint: this is not a Debian machine; install them with its package manager");
    }
    eprintln!("xtask: installing missing Debian packages: {list}");
    if !UPDATED.swap(true, Ordering::Relaxed) {
        process::run(apt_get().args(["-q", "update"]))?;
    }
    process::run(apt_get().args(["-q", "install", "-y"]).args(&missing))?;

    let still: Vec<&str> =
        needs.iter().filter(|(program, _)| !process::on_path(program)).map(|&(program, _)| program).collect();
    if !still.is_empty() {
        bail!("still missing after installing {list}: {}", still.join(" "));
    }
    Ok(())
}

/// `apt-get`, non-interactive, through `sudo` unless xtask runs as root.
fn apt_get() -> Command {
    let mut cmd = if process::is_root() {
        Command::new("env")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("env");
        sudo
    };
    cmd.args(["DEBIAN_FRONTEND=noninteractive", "apt-get"]);
    cmd
}
