//! The router binary's configuration, read once from the `PAAS_*` environment
//! variables documented in `paas_core::settings`. This is the only module of the
//! router that reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use paas_core::settings::{self, Setting};
use paas_core::Hostname;

use crate::config::{ConfigError, FeedConfig, FeedToken, FeedUrl, RouterConfig, TrustedProxies};

pub use paas_core::settings::SettingsError;

/// What the binary needs: where to listen, and the router's configuration.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    /// `PAAS_HTTP_ADDR`.
    pub http_addr: SocketAddr,
    /// `PAAS_HTTPS_ADDR`; `None` when it is `off`.
    pub https_addr: Option<SocketAddr>,
    /// Everything else.
    pub config: RouterConfig,
    /// `PAAS_LOG`.
    pub log_filter: String,
}

#[allow(clippy::disallowed_methods)] // The one place the router reads its environment.
fn read(setting: &Setting) -> Option<String> {
    std::env::var(setting.name).ok().filter(|v| !v.is_empty())
}

#[allow(clippy::disallowed_methods)] // The one place the router reads its environment.
fn default_data_dir() -> Result<PathBuf, SettingsError> {
    settings::default_data_dir(
        &settings::ROUTER_STATE_DIR,
        std::env::var_os("XDG_DATA_HOME"),
        std::env::var_os("HOME"),
    )
}

fn addr(setting: &Setting) -> Result<Option<SocketAddr>, SettingsError> {
    read(setting)
        .map(|v| v.parse().map_err(|_| SettingsError::new(setting, format!("expected IP:port, got {v:?}"))))
        .transpose()
}

impl RouterSettings {
    /// Reads the environment; an invalid value is an error naming its variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        let http_addr = addr(&settings::HTTP_ADDR)?
            .unwrap_or_else(|| settings::HTTP_ADDR.default.parse().expect("a valid default"));
        let https_addr = match read(&settings::HTTPS_ADDR).as_deref() {
            Some("off") => None,
            Some(_) => addr(&settings::HTTPS_ADDR)?,
            None => Some(settings::HTTPS_ADDR.default.parse().expect("a valid default")),
        };
        let domain = read(&settings::DOMAIN).unwrap_or_else(|| settings::DOMAIN.default.to_owned());
        let domain = Hostname::parse(&domain).map_err(|e| SettingsError::new(&settings::DOMAIN, e))?;
        let state_dir = match (read(&settings::ROUTER_STATE_DIR), read(&settings::DATA_DIR)) {
            (Some(dir), _) => PathBuf::from(dir),
            (None, Some(data)) => PathBuf::from(data).join("router"),
            (None, None) => default_data_dir()?.join("router"),
        };
        let token = read(&settings::ROUTER_TOKEN)
            .map(|t| FeedToken::parse(&t))
            .transpose()
            .map_err(|e: ConfigError| SettingsError::new(&settings::ROUTER_TOKEN, e))?;
        let feed = read(&settings::ROUTER_FEED_URL)
            .map(|url| FeedUrl::parse(&url))
            .transpose()
            .map_err(|e| SettingsError::new(&settings::ROUTER_FEED_URL, e))?
            .map(|url| FeedConfig::new(url, token));
        let mut config = RouterConfig::new(domain, state_dir);
        config.feed = feed;
        config.controller_addr = addr(&settings::ROUTER_CONTROLLER_ADDR)?;
        config.builder_addr = addr(&settings::ROUTER_BUILDER_ADDR)?;
        config.metrics_addr = match read(&settings::ROUTER_METRICS_ADDR).as_deref() {
            None | Some("off") => None,
            Some(_) => addr(&settings::ROUTER_METRICS_ADDR)?,
        };
        if let Some(list) = read(&settings::TRUSTED_PROXIES) {
            config.trusted_proxies = TrustedProxies::parse(&list)
                .map_err(|e| SettingsError::new(&settings::TRUSTED_PROXIES, e))?;
        }
        let log_filter = read(&settings::LOG).unwrap_or_else(|| settings::LOG.default.to_owned());
        Ok(Self { http_addr, https_addr, config, log_filter })
    }
}
