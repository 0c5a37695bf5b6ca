//! The `paas-router` binary: configuration from the environment, logs to stderr,
//! graceful shutdown on SIGTERM or Ctrl-C.

use std::process::ExitCode;

use anyhow::Context;
use paas_router::settings::RouterSettings;
use paas_router::RouterState;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    match start().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paas-router: error: {e:#}");
            ExitCode::FAILURE
        }
    }
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
    let listener = TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("cannot listen on {} (PAAS_HTTP_ADDR)", settings.http_addr))?;
    let https = match settings.https_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (PAAS_HTTPS_ADDR)"))?,
        ),
        None => None,
    };
    let state = RouterState::load(settings.config)?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
        }
    };
    paas_router::run_with_tls(listener, https, state, shutdown).await?;
    Ok(())
}
