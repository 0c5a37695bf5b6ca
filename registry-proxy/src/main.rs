//! The `paas-registry-proxy` binary: the registry, its token endpoint and the gateway in
//! one process, configured from the environment, logs to stderr, stopped by SIGTERM.

use std::process::ExitCode;

use anyhow::Context;
use paas_registry_proxy::platform::{self, PlatformRegistry, RegistryListeners};
use paas_registry_proxy::settings::ProxySettings;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    match start().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paas-registry-proxy: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn start() -> anyhow::Result<()> {
    let settings = ProxySettings::from_env()?;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let token = TcpListener::bind(settings.token_addr)
        .await
        .with_context(|| format!("cannot listen on {} (PAAS_REGISTRY_TOKEN_ADDR)", settings.token_addr))?;
    let gateway = TcpListener::bind(settings.gateway_addr).await.with_context(|| {
        format!("cannot listen on {} (PAAS_REGISTRY_GATEWAY_ADDR)", settings.gateway_addr)
    })?;
    let config = PlatformRegistry {
        dir: settings.dir.clone(),
        registry_bin: settings.registry_bin.clone(),
        registry_addr: settings.registry_addr,
        builder_secret: settings.builder_secret.clone(),
        node_secret: settings.node_secret.clone(),
    };
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
        }
    };
    platform::run(config, RegistryListeners { token, gateway }, shutdown).await?;
    Ok(())
}
