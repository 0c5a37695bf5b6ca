//! The binary's configuration, read once from the `PAAS_*` environment variables
//! documented in `paas_core::settings`. This is the only module of the registry proxy
//! that reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use paas_core::settings::{self, Setting};

pub use paas_core::settings::SettingsError;

/// What the binary needs.
#[derive(Clone)]
pub struct ProxySettings {
    /// `PAAS_REGISTRY_GATEWAY_ADDR`.
    pub gateway_addr: SocketAddr,
    /// `PAAS_REGISTRY_TOKEN_ADDR`.
    pub token_addr: SocketAddr,
    /// `PAAS_REGISTRY_ADDR`.
    pub registry_addr: SocketAddr,
    /// `PAAS_REGISTRY_BIN`.
    pub registry_bin: PathBuf,
    /// `PAAS_DATA_DIR`/registry: keys, registry config and storage.
    pub dir: PathBuf,
    /// `PAAS_REGISTRY_BUILDER_SECRET`.
    pub builder_secret: String,
    /// `PAAS_REGISTRY_NODE_SECRET`.
    pub node_secret: String,
    /// `PAAS_LOG`.
    pub log_filter: String,
}

#[allow(clippy::disallowed_methods)] // The one place the registry proxy reads its environment.
fn read(setting: &Setting) -> Option<String> {
    std::env::var(setting.name).ok().filter(|v| !v.is_empty())
}

#[allow(clippy::disallowed_methods)] // The one place the registry proxy reads its environment.
fn default_data_dir() -> Result<PathBuf, SettingsError> {
    settings::default_data_dir(
        &settings::DATA_DIR,
        std::env::var_os("XDG_DATA_HOME"),
        std::env::var_os("HOME"),
    )
}

fn addr(setting: &Setting) -> Result<SocketAddr, SettingsError> {
    let value = read(setting).unwrap_or_else(|| setting.default.to_owned());
    value.parse().map_err(|_| SettingsError::new(setting, format!("expected IP:port, got {value:?}")))
}

fn secret(setting: &Setting) -> Result<String, SettingsError> {
    read(setting).ok_or_else(|| SettingsError::new(setting, "required"))
}

impl ProxySettings {
    /// Reads the environment; an invalid value is an error naming its variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        let dir = match read(&settings::DATA_DIR) {
            Some(data) => PathBuf::from(data),
            None => default_data_dir()?,
        };
        Ok(Self {
            gateway_addr: addr(&settings::REGISTRY_GATEWAY_ADDR)?,
            token_addr: addr(&settings::REGISTRY_TOKEN_ADDR)?,
            registry_addr: addr(&settings::REGISTRY_ADDR)?,
            registry_bin: read(&settings::REGISTRY_BIN)
                .unwrap_or_else(|| settings::REGISTRY_BIN.default.to_owned())
                .into(),
            dir: dir.join("registry"),
            builder_secret: secret(&settings::REGISTRY_BUILDER_SECRET)?,
            node_secret: secret(&settings::REGISTRY_NODE_SECRET)?,
            log_filter: read(&settings::LOG).unwrap_or_else(|| settings::LOG.default.to_owned()),
        })
    }
}
