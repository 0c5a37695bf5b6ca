//! What the controller is told at start-up.

use std::time::Duration;

use paas_core::Hostname;

/// Who may register once the first user exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    /// Anyone.
    Open,
    /// Only a signed-in admin, for someone else.
    AdminOnly,
    /// Nobody.
    Disabled,
}

impl RegistrationMode {
    /// Parses `open`, `admin_only` or `disabled`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Self::Open),
            "admin_only" => Ok(Self::AdminOnly),
            "disabled" => Ok(Self::Disabled),
            other => {
                Err(format!("unknown registration mode {other:?}: expected open, admin_only or disabled"))
            }
        }
    }

    /// The name as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::AdminOnly => "admin_only",
            Self::Disabled => "disabled",
        }
    }
}

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
    /// Who may register.
    pub registration: RegistrationMode,
    /// How long a login JWT lives.
    pub jwt_ttl: Duration,
    /// The HMAC key that signs JWTs.
    pub jwt_secret: Vec<u8>,
    /// The credential of the platform's own parts (routers) for `/v1/internal`.
    pub internal_token: String,
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
            .finish_non_exhaustive()
    }
}
