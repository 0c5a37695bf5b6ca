//! paasd's configuration, read once from the `PAAS_*` environment variables documented
//! in `paas_core::settings`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use paas_controller::RegistrationMode;
use paas_core::settings::{self, Setting};
use paas_core::Hostname;

use paas_builder::build::BuildpackConfig;

use crate::registry::RegistrySettings;

/// Everything paasd is told at start-up.
#[derive(Debug, Clone)]
pub struct PaasdConfig {
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// Where state lives.
    pub data_dir: PathBuf,
    /// The platform domain.
    pub domain: Hostname,
    /// `sqlite://...` or `postgres://...`; the SQLite file under the data dir when unset.
    pub database_url: Option<String>,
    /// Who may register.
    pub registration: RegistrationMode,
    /// Lifetime of login JWTs.
    pub jwt_ttl: Duration,
    /// The API's URL as users reach it; `http://<api_addr>` when unset.
    pub public_url: Option<String>,
    /// Whether the scheduler runs processes on the local Docker engine.
    pub docker: bool,
    /// Where the builder receives git pushes; `None` runs no builder.
    pub builder_addr: Option<SocketAddr>,
    /// The registry built images go to; `None` keeps them local to the engine (tests
    /// of the scheduler alone).
    pub registry: Option<RegistrySettings>,
    /// The router paasd starts or adopts; `None` runs none.
    pub router: Option<RouterSettings>,
    /// How pushes without a Dockerfile are built.
    pub buildpacks: BuildpackConfig,
    /// Drain and stop timing of rollouts.
    pub rollout: paas_controller::scheduler::RolloutConfig,
    /// How many releases' images are kept, and how often old ones are collected.
    pub gc: paas_controller::scheduler::gc::GcConfig,
    /// Where `paas certs:auto` orders certificates.
    pub acme: paas_controller::acme::AcmeConfig,
}

/// The host's CA bundle, which buildpack builds get unless told otherwise.
pub const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Buildpack settings with the defaults: the checkout's buildpacks, the default stack
/// image, and the host's CA bundle when it has one.
pub fn default_buildpacks() -> BuildpackConfig {
    let host_bundle = PathBuf::from(HOST_CA_BUNDLE);
    BuildpackConfig { ca_bundle: host_bundle.exists().then_some(host_bundle), ..BuildpackConfig::default() }
}

/// How paasd runs the router, its own process.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    /// Where the router serves apps (`PAAS_HTTP_ADDR`; a fixed port).
    pub http_addr: SocketAddr,
    /// Where it serves them over TLS (`PAAS_HTTPS_ADDR`); `None`: `off`.
    pub https_addr: Option<SocketAddr>,
    /// Where it serves Prometheus metrics (`PAAS_ROUTER_METRICS_ADDR`); `None`: `off`,
    /// the default.
    pub metrics_addr: Option<SocketAddr>,
    /// The `paas-router` binary.
    pub binary: PathBuf,
    /// The router's log filter.
    pub log_filter: String,
}

#[allow(clippy::disallowed_methods)] // The one place paasd reads its environment.
fn read(setting: &Setting) -> Option<String> {
    std::env::var(setting.name).ok().filter(|v| !v.is_empty())
}

#[allow(clippy::disallowed_methods)] // The one place paasd reads its environment.
fn default_data_dir() -> anyhow::Result<PathBuf> {
    Ok(settings::default_data_dir(
        &settings::DATA_DIR,
        std::env::var_os("XDG_DATA_HOME"),
        std::env::var_os("HOME"),
    )?)
}

/// An `IP:port` setting, or its default.
fn addr(setting: &Setting) -> anyhow::Result<SocketAddr> {
    let value = read(setting).unwrap_or_else(|| setting.default.to_owned());
    value.parse().with_context(|| format!("{} must be IP:port, got {value:?}", setting.name))
}

/// A number of seconds from 0 to `max`, or the setting's default.
fn seconds(setting: &Setting, max: u64) -> anyhow::Result<u64> {
    let value = read(setting).unwrap_or_else(|| setting.default.to_owned());
    value
        .parse()
        .ok()
        .filter(|s| *s <= max)
        .with_context(|| format!("{} must be seconds from 0 to {max}, got {value:?}", setting.name))
}

impl PaasdConfig {
    /// Reads the environment; an invalid value is an error naming its variable.
    pub fn from_env() -> anyhow::Result<Self> {
        let api_addr = addr(&settings::API_ADDR)?;
        let data_dir = match read(&settings::DATA_DIR) {
            Some(dir) => PathBuf::from(dir),
            None => default_data_dir()?,
        };
        let domain = read(&settings::DOMAIN).unwrap_or_else(|| settings::DOMAIN.default.to_owned());
        let domain =
            Hostname::parse(&domain).with_context(|| format!("{} is invalid", settings::DOMAIN.name))?;
        let registration =
            read(&settings::REGISTRATION).unwrap_or_else(|| settings::REGISTRATION.default.to_owned());
        let registration = RegistrationMode::parse(&registration)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("{} is invalid", settings::REGISTRATION.name))?;
        let ttl = read(&settings::JWT_TTL).unwrap_or_else(|| settings::JWT_TTL.default.to_owned());
        let ttl: u64 = ttl.parse().ok().filter(|s| (60..=2_592_000).contains(s)).with_context(|| {
            format!("{} must be seconds from 60 to 2592000, got {ttl:?}", settings::JWT_TTL.name)
        })?;
        let database_url = read(&settings::DATABASE_URL);
        if let Some(url) = &database_url {
            if !(url.starts_with("sqlite:") || url.starts_with("postgres:") || url.starts_with("postgresql:"))
            {
                bail!("{} must start with sqlite:// or postgres://", settings::DATABASE_URL.name);
            }
        }
        let docker = read(&settings::DOCKER).unwrap_or_else(|| settings::DOCKER.default.to_owned());
        let docker = match docker.as_str() {
            "on" => true,
            "off" => false,
            _ => bail!("{} must be on or off, got {docker:?}", settings::DOCKER.name),
        };
        let builder_addr = addr(&settings::BUILDER_ADDR)?;
        let registry = RegistrySettings {
            gateway_addr: addr(&settings::REGISTRY_GATEWAY_ADDR)?,
            token_addr: addr(&settings::REGISTRY_TOKEN_ADDR)?,
            addr: addr(&settings::REGISTRY_ADDR)?,
            binary: read(&settings::REGISTRY_BIN)
                .unwrap_or_else(|| settings::REGISTRY_BIN.default.to_owned())
                .into(),
        };
        let router_binary = match read(&settings::ROUTER_BIN) {
            Some(path) => PathBuf::from(path),
            None => crate::router_process::default_binary().with_context(|| {
                format!("cannot find paasd's own path to default {}", settings::ROUTER_BIN.name)
            })?,
        };
        let https_addr = match read(&settings::HTTPS_ADDR).as_deref() {
            Some("off") => None,
            _ => Some(addr(&settings::HTTPS_ADDR)?),
        };
        let metrics_addr = match read(&settings::ROUTER_METRICS_ADDR).as_deref() {
            None | Some("off") => None,
            Some(_) => Some(addr(&settings::ROUTER_METRICS_ADDR)?),
        };
        let router = RouterSettings {
            http_addr: addr(&settings::HTTP_ADDR)?,
            https_addr,
            metrics_addr,
            binary: router_binary,
            log_filter: Self::log_filter(),
        };
        let mut buildpacks = default_buildpacks();
        if let Some(dir) = read(&settings::BUILDPACKS_DIR) {
            buildpacks.dir = dir.into();
        }
        if let Some(image) = read(&settings::STACK_IMAGE) {
            buildpacks.stack_image = image;
        }
        match read(&settings::BUILD_CA_BUNDLE).as_deref() {
            None => {}
            Some("none") => buildpacks.ca_bundle = None,
            Some(path) => buildpacks.ca_bundle = Some(path.into()),
        }
        let rollout = paas_controller::scheduler::RolloutConfig {
            drain: Duration::from_secs(seconds(&settings::DRAIN_SECONDS, 3600)?),
            stop_grace: Duration::from_secs(seconds(&settings::STOP_GRACE_SECONDS, 600)?),
        };
        let keep =
            read(&settings::KEEP_RELEASES).unwrap_or_else(|| settings::KEEP_RELEASES.default.to_owned());
        let keep_releases = keep.parse().ok().filter(|n| (1..=10_000).contains(n)).with_context(|| {
            format!("{} must be a number from 1 to 10000, got {keep:?}", settings::KEEP_RELEASES.name)
        })?;
        let gc = paas_controller::scheduler::gc::GcConfig {
            keep_releases,
            ..paas_controller::scheduler::gc::GcConfig::default()
        };
        let acme = paas_controller::acme::AcmeConfig {
            directory_url: read(&settings::ACME_DIRECTORY)
                .unwrap_or_else(|| settings::ACME_DIRECTORY.default.to_owned()),
            server_root: read(&settings::ACME_SERVER_ROOT).map(PathBuf::from),
            contact: read(&settings::ACME_EMAIL),
            ..paas_controller::acme::AcmeConfig::default()
        };
        if !acme.directory_url.starts_with("https://") {
            bail!("{} must be an https:// URL, got {:?}", settings::ACME_DIRECTORY.name, acme.directory_url);
        }
        Ok(Self {
            acme,
            gc,
            rollout,
            buildpacks,
            router: Some(router),
            registry: Some(registry),
            builder_addr: Some(builder_addr),
            api_addr,
            data_dir,
            domain,
            database_url,
            registration,
            jwt_ttl: Duration::from_secs(ttl),
            public_url: read(&settings::PUBLIC_URL),
            docker,
        })
    }

    /// The log filter.
    pub fn log_filter() -> String {
        read(&settings::LOG).unwrap_or_else(|| settings::LOG.default.to_owned())
    }
}
