//! What the controller is told at start-up.

use std::time::Duration;

use paas_core::Hostname;

pub use paas_core::RegistrationMode;

/// The controller's configuration.
#[derive(Clone)]
pub struct ControllerConfig {
    /// The platform domain.
    pub domain: Hostname,
    /// The API's URL as users reach it.
    pub public_url: String,
    /// The scheme of app and git URLs: `http` or `https`.
    pub app_url_scheme: String,
    /// `:port` to append to app and git host names, or empty.
    pub app_url_port: String,
    /// Who may register until an admin changes it (then the stored setting wins:
    /// `app::users::registration`).
    pub registration: RegistrationMode,
    /// How long a login JWT lives.
    pub jwt_ttl: Duration,
    /// The HMAC key that signs JWTs.
    pub jwt_secret: Vec<u8>,
    /// The credential of the platform's own parts (routers) for `/v1/internal`.
    pub internal_token: String,
    /// Where `paas certs:auto` orders certificates.
    pub acme: crate::acme::AcmeConfig,
    /// The registry's storage directory, when the platform runs a registry on this
    /// machine: the platform page shows its size on disk.
    pub registry_storage: Option<std::path::PathBuf>,
}

impl ControllerConfig {
    /// `<scheme>://<app>.<domain>[:port]`.
    pub fn app_url(&self, app: &str) -> String {
        format!("{}://{app}.{}{}", self.app_url_scheme, self.domain, self.app_url_port)
    }

    /// The base URL of git remotes.
    pub fn git_url(&self) -> String {
        format!("{}://git.{}{}", self.app_url_scheme, self.domain, self.app_url_port)
    }
}

impl std::fmt::Debug for ControllerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerConfig")
            .field("domain", &self.domain)
            .field("public_url", &self.public_url)
            .field("registration", &self.registration)
            .field("jwt_ttl", &self.jwt_ttl)
            .field("acme", &self.acme)
            .field("registry_storage", &self.registry_storage)
            .finish_non_exhaustive()
    }
}
