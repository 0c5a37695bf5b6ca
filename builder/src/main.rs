//! The `paas-builder` binary: configuration from the environment, logs to stderr,
//! graceful shutdown on SIGTERM or Ctrl-C. Pushes are built by the local Docker engine
//! ([`BuildingHandler`]) and the builds logged ([`LogBuilds`]) until releases plug in.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use paas_builder::settings::BuilderSettings;
use paas_builder::{BuilderState, BuildingHandler, LogBuilds};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    match start().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paas-builder: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn start() -> anyhow::Result<()> {
    let settings = BuilderSettings::from_env()?;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let listener = TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {} (PAAS_BUILDER_ADDR)", settings.addr))?;
    let handler = BuildingHandler::connect(Arc::new(LogBuilds))
        .await
        .context("cannot reach the Docker engine (DOCKER_HOST or /var/run/docker.sock)")?;
    let state = BuilderState::new(settings.config, Arc::new(settings.tokens), Arc::new(handler));
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
        }
    };
    paas_builder::run(listener, state, shutdown).await?;
    Ok(())
}
