//! The `paasd` binary: configuration from the environment, logs to stderr, graceful
//! shutdown on SIGTERM or Ctrl-C.

use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context;
use paasd::PaasdConfig;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_new(PaasdConfig::log_filter()).unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match start().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paasd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn start() -> anyhow::Result<()> {
    let config = PaasdConfig::from_env()?;
    let listener = TcpListener::bind(config.api_addr)
        .with_context(|| format!("cannot listen on {} (PAAS_API_ADDR)", config.api_addr))?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
        }
    };
    let builder = match config.builder_addr {
        Some(addr) => Some(TcpListener::bind(addr).with_context(|| {
            format!("cannot listen on {addr} ({})", paas_core::settings::BUILDER_ADDR.name)
        })?),
        None => None,
    };
    let registry = match (&config.registry, config.docker) {
        (Some(registry), true) => Some(registry.bind()?),
        _ => None,
    };
    paasd::run(config, paasd::Listeners { api: listener, builder, registry }, shutdown).await
}
