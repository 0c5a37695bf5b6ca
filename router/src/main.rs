//! The `paas-router` binary: configuration from the environment, logs to stderr,
//! graceful shutdown on SIGTERM or Ctrl-C, and upgrades by hand-over: the listeners of
//! the router running from the same state dir are taken over (`handover`), offered in
//! turn to the next one, and once a successor takes them this one drains and exits.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;

use paas_router::handover;
use paas_router::settings::RouterSettings;
use paas_router::RouterState;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

/// mimalloc: a request makes many small allocations (headers, the access line), which
/// cost less with it than with glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("paas-router: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(start()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paas-router: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The runtime for the CPUs the router may use: one thread on one CPU (as nginx's one
/// worker, without the cross-thread hand-offs a work-stealing runtime makes even with a
/// single worker), a worker per CPU otherwise.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut builder = match cpus {
        1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

async fn start() -> anyhow::Result<()> {
    let settings = RouterSettings::from_env()?;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    if settings.config.feed.is_none() {
        tracing::warn!(
            "PAAS_ROUTER_FEED_URL is not set: serving the route table saved on disk, without updates"
        );
    }
    let state = RouterState::load(settings.config)?;
    let state_dir = state.config().state_dir.clone();
    // A router serving from this state dir hands its listeners over (an upgrade).
    let mut taken = match handover::take(&state_dir) {
        Ok(taken) => taken,
        Err(e) => {
            tracing::warn!(error = %e, "the running router's hand-over failed; binding the listeners anew");
            None
        }
    };
    let mut inherited: Vec<(String, std::net::TcpListener)> =
        taken.as_mut().map(|t| t.listeners.drain().collect()).unwrap_or_default();
    // A listener handed over serves where this router is to serve; any other address is
    // bound anew.
    let mut listen = |role: &str, addr: SocketAddr, setting: &str| -> anyhow::Result<std::net::TcpListener> {
        let found = inherited.iter().position(|(r, l)| r == role && l.local_addr().ok() == Some(addr));
        match found {
            Some(i) => Ok(inherited.swap_remove(i).1),
            None => std::net::TcpListener::bind(addr)
                .with_context(|| format!("cannot listen on {addr} ({setting})")),
        }
    };
    let http = listen("http", settings.http_addr, "PAAS_HTTP_ADDR")?;
    let https = settings.https_addr.map(|addr| listen("https", addr, "PAAS_HTTPS_ADDR")).transpose()?;
    let metrics = state
        .config()
        .metrics_addr
        .map(|addr| listen("metrics", addr, "PAAS_ROUTER_METRICS_ADDR"))
        .transpose()?;

    // Offer them in turn to the next router.
    let mut offered = vec![("http".to_owned(), http.try_clone()?)];
    if let Some(https) = &https {
        offered.push(("https".to_owned(), https.try_clone()?));
    }
    if let Some(metrics) = &metrics {
        offered.push(("metrics".to_owned(), metrics.try_clone()?));
    }
    let (handed_over, taken_over) = tokio::sync::oneshot::channel::<()>();
    match handover::bind_offer(&state_dir) {
        Ok(socket) => {
            let path = state_dir.join(handover::SOCKET_FILE);
            std::thread::Builder::new().name("handover".into()).spawn(move || {
                handover::offer(socket, offered, path);
                let _ = handed_over.send(());
            })?;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot offer the listeners: an upgrade will refuse connections")
        }
    }
    if let Some(metrics) = metrics {
        state.use_metrics_listener(metrics);
    }
    let tokio_listener = |listener: std::net::TcpListener| -> anyhow::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener::from_std(listener)?)
    };
    let http = tokio_listener(http)?;
    let https = https.map(tokio_listener).transpose()?;
    if let Some(taken) = taken {
        taken.confirm().context("cannot tell the old router to drain")?;
        tracing::info!("took the listeners of the running router, which drains now");
    }
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
            Ok(()) = taken_over => tracing::info!("a new router serves: shutting down"),
        }
    };
    paas_router::run_with_tls(http, https, state, shutdown).await?;
    Ok(())
}
