//! The paas registry proxy: the token endpoint of the Docker registry token
//! authentication spec, the CNCF Distribution registry it guards, and the per-node
//! gateway on `127.0.0.1:<port>` through which Docker engines push and pull.
//!
//! [`run_token_server`] and [`run_gateway`] serve HTTP/1.1 on a listener until a shutdown
//! signal resolves; [`registry::supervise`] runs the registry as a child process.
//!
//! Modules: `scope` (what is asked and granted), `auth` (who may get what: the
//! [`Authorizer`] trait and the static table of service principals), `keys` (the ES256
//! key pair and its certificate), `token` (signing), `token_server` (the `/token`
//! endpoint), `gateway` (the reverse proxy), `registry` (config and supervision),
//! `platform` (all of it together, for the binary and for paasd), `janitor` (deleting
//! manifests and collecting garbage), `settings` (the one place that reads the
//! environment).

pub mod auth;
pub mod error;
pub mod gateway;
pub mod janitor;
pub mod keys;
pub mod platform;
pub mod registry;
pub mod scope;
mod server;
pub mod settings;
pub mod token;
pub mod token_server;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use auth::{Authorizer, Credentials, Grant, Role, StaticCredentials};
pub use gateway::{Gateway, GatewayConfig};
pub use keys::SigningKey;
pub use registry::RegistryConfig;
pub use scope::Scope;
pub use server::ResponseBody;
pub use token::TokenIssuer;
pub use token_server::TokenService;

/// Serves the token endpoint on `listener` until `shutdown` resolves.
pub async fn run_token_server(
    listener: TcpListener,
    service: TokenService,
    shutdown: impl Future<Output = ()>,
) {
    let service = Arc::new(service);
    let handler = move |req| {
        let service = service.clone();
        async move { service.handle(req).await }
    };
    server::serve(listener, "registry token endpoint", handler, shutdown).await;
}

/// Serves the gateway on `listener` until `shutdown` resolves.
pub async fn run_gateway(listener: TcpListener, gateway: Gateway, shutdown: impl Future<Output = ()>) {
    let gateway = Arc::new(gateway);
    let handler = move |req| {
        let gateway = gateway.clone();
        async move { gateway.handle(req).await }
    };
    server::serve(listener, "registry gateway", handler, shutdown).await;
}
