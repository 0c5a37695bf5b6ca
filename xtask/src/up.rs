//! `cargo xtask up`: from a fresh Debian machine to a running platform.
//!
//! Installs what is missing, makes the stack image when missing (see `stack`), builds
//! `paasd` and `paas` in release mode, prints the API URL and the first commands to
//! type, then becomes `paasd` (exec), so Ctrl-C and SIGTERM reach the server directly
//! and it shuts down gracefully. State goes to `<repo>/.paas` (gitignored) unless
//! `PAAS_DATA_DIR` says otherwise.

use std::process::{Command, ExitCode};

use anyhow::Context;

use crate::{apt, docker, env, process, stack};

/// Where the router serves apps unless `PAAS_HTTP_ADDR` says otherwise
/// (`paas_core::settings::HTTP_ADDR`).
const HTTP_ADDR_DEFAULT: &str = "127.0.0.1:8080";
/// The same over TLS unless `PAAS_HTTPS_ADDR` says otherwise
/// (`paas_core::settings::HTTPS_ADDR`).
const HTTPS_ADDR_DEFAULT: &str = "127.0.0.1:8443";

pub fn run() -> anyhow::Result<ExitCode> {
    let root = process::repo_root();
    let mut needs = apt::BUILD_PACKAGES.to_vec();
    needs.extend_from_slice(apt::DOCKER_PACKAGES);
    needs.extend_from_slice(stack::PACKAGES);
    apt::ensure_packages(&needs)?;
    docker::ensure_engine()?;
    stack::ensure(false)?;

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

    let api_addr = env::var(env::API_ADDR).unwrap_or_else(|| env::API_ADDR_DEFAULT.to_owned());
    let api_url = format!("http://{}", reachable(&api_addr));
    let mut paasd = Command::new(root.join("target/release/paasd"));
    paasd.current_dir(&root);
    if env::var(env::DATA_DIR).is_none() {
        paasd.env(env::DATA_DIR, root.join(".paas"));
    }

    let http_addr = env::var(env::HTTP_ADDR).unwrap_or_else(|| HTTP_ADDR_DEFAULT.to_owned());
    let http_port = http_addr.rsplit_once(':').map_or("8080", |(_, port)| port);
    let https_addr = env::var(env::HTTPS_ADDR).unwrap_or_else(|| HTTPS_ADDR_DEFAULT.to_owned());
    let https = https_addr.rsplit_once(':').map(|(_, port)| port).filter(|_| https_addr != "off");

    println!();
    println!("paas API: {api_url}");
    println!("apps:     http://<app>.localhost:{http_port} (the router)");
    if let Some(port) = https {
        println!("          https://<app>.localhost:{port} (self-signed until you add a certificate)");
    }
    println!();
    println!("In another terminal, in a git checkout of your app (README.md, \"Deploy an app\"):");
    println!("  export PATH={}/target/release:$PATH", root.display());
    println!("  paas register {api_url} --username admin");
    println!("  paas apps:create hello && paas git:remote -a hello");
    println!("  git push paas main");
    println!();
    println!("Ctrl-C stops paasd.");
    println!();

    exec(&mut paasd)
}

/// The address a client on this machine dials for a listen address: the unspecified
/// address (`0.0.0.0`, `[::]`) becomes loopback.
fn reachable(listen: &str) -> String {
    if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        listen.to_owned()
    }
}

/// Replaces xtask with `cmd`; returns only if that fails.
#[cfg(unix)]
fn exec(cmd: &mut Command) -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let err = cmd.exec();
    Err(err).with_context(|| format!("could not run {}", cmd.get_program().to_string_lossy()))
}

/// Runs `cmd` in the foreground (it shares the terminal's signals) and passes on its
/// exit status.
#[cfg(not(unix))]
fn exec(cmd: &mut Command) -> anyhow::Result<ExitCode> {
    let status =
        cmd.status().with_context(|| format!("could not run {}", cmd.get_program().to_string_lossy()))?;
    let code = status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1);
    Ok(ExitCode::from(code))
}
