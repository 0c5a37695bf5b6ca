//! The builder binary's configuration, read once from the environment. This is the
//! only module of the builder that reads the environment; its variables are documented
//! in `paas_core::settings`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use paas_core::settings::{self, Setting};

use crate::auth::{parse_static_tokens, StaticTokens};
use crate::BuilderConfig;

pub use paas_core::settings::SettingsError;

/// What the binary needs.
#[derive(Debug, Clone)]
pub struct BuilderSettings {
    /// `PAAS_BUILDER_ADDR`.
    pub addr: SocketAddr,
    /// Everything else.
    pub config: BuilderConfig,
    /// `PAAS_BUILDER_TOKENS`.
    pub tokens: StaticTokens,
    /// `PAAS_LOG`.
    pub log_filter: String,
}

#[allow(clippy::disallowed_methods)] // The one place the builder reads its environment.
fn read(setting: &Setting) -> Option<String> {
    std::env::var(setting.name).ok().filter(|v| !v.is_empty())
}

#[allow(clippy::disallowed_methods)] // The one place the builder reads its environment.
fn default_data_dir() -> Result<PathBuf, SettingsError> {
    settings::default_data_dir(
        &settings::DATA_DIR,
        std::env::var_os("XDG_DATA_HOME"),
        std::env::var_os("HOME"),
    )
}

fn number(setting: &Setting) -> Result<u64, SettingsError> {
    let value = read(setting).unwrap_or_else(|| setting.default.to_owned());
    value.parse().map_err(|_| SettingsError::new(setting, format!("expected a whole number, got {value:?}")))
}

impl BuilderSettings {
    /// Reads the environment; an invalid value is an error naming its variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        let addr = read(&settings::BUILDER_ADDR).unwrap_or_else(|| settings::BUILDER_ADDR.default.to_owned());
        let addr = addr.parse().map_err(|_| {
            SettingsError::new(&settings::BUILDER_ADDR, format!("expected IP:port, got {addr:?}"))
        })?;
        let data_dir = match read(&settings::DATA_DIR) {
            Some(dir) => PathBuf::from(dir),
            None => default_data_dir()?,
        };
        let mut config = BuilderConfig::new(data_dir.join("repos"));
        config.max_push_bytes = number(&settings::BUILDER_MAX_PUSH_BYTES)?;
        config.request_timeout = Duration::from_secs(number(&settings::BUILDER_REQUEST_TIMEOUT)?);
        // The error never quotes the value: it is a secret.
        let tokens = parse_static_tokens(&read(&settings::BUILDER_TOKENS).unwrap_or_default())
            .map_err(|e| SettingsError::new(&settings::BUILDER_TOKENS, e))?;
        let log_filter = read(&settings::LOG).unwrap_or_else(|| settings::LOG.default.to_owned());
        Ok(Self { addr, config, tokens, log_filter })
    }
}
