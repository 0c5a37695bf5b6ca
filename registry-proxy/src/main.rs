//! The `paas-registry-proxy` binary: the registry, its token endpoint and the gateway in
//! one process, configured from the environment, logs to stderr, stopped by SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use paas_registry_proxy::settings::ProxySettings;
use paas_registry_proxy::{
    registry, Gateway, GatewayConfig, RegistryConfig, SigningKey, StaticCredentials, TokenIssuer,
    TokenService,
};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

/// The service name of the registry: the tokens' audience.
const SERVICE: &str = "paas-registry";
/// The tokens' issuer.
const ISSUER: &str = "paas-registry-proxy";

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
    let key = Arc::new(SigningKey::load_or_generate(&settings.dir.join("keys"))?);
    let token_listener = TcpListener::bind(settings.token_addr)
        .await
        .with_context(|| format!("cannot listen on {} (PAAS_REGISTRY_TOKEN_ADDR)", settings.token_addr))?;
    let gateway_listener = TcpListener::bind(settings.gateway_addr).await.with_context(|| {
        format!("cannot listen on {} (PAAS_REGISTRY_GATEWAY_ADDR)", settings.gateway_addr)
    })?;
    let registry = RegistryConfig {
        binary: settings.registry_bin.clone(),
        dir: settings.dir.join("distribution"),
        addr: settings.registry_addr,
        realm: format!("http://{}/token", settings.token_addr),
        service: SERVICE.into(),
        issuer: ISSUER.into(),
        root_cert: key.cert_path().to_owned(),
    };
    let credentials = StaticCredentials::new(settings.builder_secret, settings.node_secret);
    let tokens = TokenService::new(TokenIssuer::new(key, ISSUER, SERVICE), Arc::new(credentials));
    let gateway =
        Gateway::new(GatewayConfig { registry: settings.registry_addr, token: settings.token_addr });

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let supervisor = tokio::spawn(registry::supervise(registry, wait()));
    let token_server = tokio::spawn(paas_registry_proxy::run_token_server(token_listener, tokens, wait()));
    let gateway = tokio::spawn(paas_registry_proxy::run_gateway(gateway_listener, gateway, wait()));

    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: shutting down"),
    }
    let _ = stop.send(true);
    let (registry, _, _) = tokio::join!(supervisor, token_server, gateway);
    registry.context("the registry supervisor panicked")??;
    Ok(())
}
