//! Every environment variable paas reads, as a documented constant.
//!
//! Programs read settings only through these constants, so this list is complete; the
//! reference page `docs/configuration.md` is generated from it by
//! [`reference_markdown`], and a test fails when the checked-in page drifts.

use std::ffi::OsString;
use std::path::PathBuf;

/// A variable that is unset or set to something unusable.
#[derive(Debug, thiserror::Error)]
#[error("{variable} is invalid: {reason}")]
pub struct SettingsError {
    /// The variable's name.
    pub variable: &'static str,
    /// What is wrong; never the value of a secret.
    pub reason: String,
}

impl SettingsError {
    /// An error about `setting`.
    pub fn new(setting: &Setting, reason: impl ToString) -> Self {
        Self { variable: setting.name, reason: reason.to_string() }
    }
}

/// The data dir when `PAAS_DATA_DIR` is unset: `$XDG_DATA_HOME/paas`, else
/// `$HOME/.local/share/paas`. The caller reads the two variables (in its one settings
/// module) and passes them; an error names `setting`, the variable that had no value.
pub fn default_data_dir(
    setting: &Setting,
    xdg_data_home: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf, SettingsError> {
    if let Some(xdg) = xdg_data_home.filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("paas"));
    }
    match home.filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/paas")),
        None => Err(SettingsError::new(setting, "unset, and so are XDG_DATA_HOME and HOME")),
    }
}

/// One environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The variable's name, `PAAS_...`.
    pub name: &'static str,
    /// The value used when it is unset, as a user would write it.
    pub default: &'static str,
    /// Which program reads it.
    pub read_by: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// Address of the REST API and the dashboard.
pub const API_ADDR: Setting = Setting {
    name: "PAAS_API_ADDR",
    default: "127.0.0.1:7700",
    read_by: "paasd",
    doc: "Address (IP:port) the controller's REST API listens on. Port 0 picks a free port.",
};

/// Where the platform keeps its state.
pub const DATA_DIR: Setting = Setting {
    name: "PAAS_DATA_DIR",
    default: "$XDG_DATA_HOME/paas, else ~/.local/share/paas",
    read_by: "paasd, paas-router",
    doc: "Directory for the SQLite database, the JWT signing key and other state. Created with mode 0700.",
};

/// The platform domain.
pub const DOMAIN: Setting = Setting {
    name: "PAAS_DOMAIN",
    default: "localhost",
    read_by: "paasd, paas-router",
    doc: "Platform domain: every app answers on `<app>.<domain>`; the API on `paas.<domain>`, git on `git.<domain>`.",
};

/// The database.
pub const DATABASE_URL: Setting = Setting {
    name: "PAAS_DATABASE_URL",
    default: "sqlite://$PAAS_DATA_DIR/paas.db",
    read_by: "paasd",
    doc: "Database URL: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`.",
};

/// Who may register.
pub const REGISTRATION: Setting = Setting {
    name: "PAAS_REGISTRATION",
    default: "admin_only",
    read_by: "paasd",
    doc: "Who may register once the first user (who becomes admin) exists: `open` (anyone), `admin_only` (an admin registers others), `disabled` (nobody). The default until an admin sets the mode at run time (`paas registration:set`, the dashboard's Users page or `PUT /v1/platform/registration`); the stored mode wins from then on, restarts included.",
};

/// Lifetime of login tokens.
pub const JWT_TTL: Setting = Setting {
    name: "PAAS_JWT_TTL",
    default: "43200",
    read_by: "paasd",
    doc: "Lifetime in seconds of the JWT that `paas login` receives (60 to 2592000).",
};

/// The public URL of the API.
pub const PUBLIC_URL: Setting = Setting {
    name: "PAAS_PUBLIC_URL",
    default: "http://<PAAS_API_ADDR>",
    read_by: "paasd",
    doc: "URL under which users reach the API, as shown by `GET /v1/platform` and the start-up banner.",
};

/// Log filter.
pub const LOG: Setting = Setting {
    name: "PAAS_LOG",
    default: "info",
    read_by: "paasd, paas-router",
    doc: "Log filter in `tracing` syntax, e.g. `info,paas_controller=debug`. Logs go to stderr.",
};

/// Where the router serves apps.
pub const HTTP_ADDR: Setting = Setting {
    name: "PAAS_HTTP_ADDR",
    default: "127.0.0.1:8080",
    read_by: "paasd, paas-router",
    doc: "Address (IP:port) of the router's plain-HTTP listener, where apps, `paas.<domain>` (the API) and `git.<domain>` (the builder) are served. paasd hands it to the router it starts, so it needs a fixed port; app and git URLs name it unless it is 80.",
};

/// Where the router serves apps over TLS.
pub const HTTPS_ADDR: Setting = Setting {
    name: "PAAS_HTTPS_ADDR",
    default: "127.0.0.1:8443",
    read_by: "paasd, paas-router",
    doc: "Address (IP:port) of the router's HTTPS listener (TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1 by ALPN), serving the same hosts as `PAAS_HTTP_ADDR`; `off`: no HTTPS listener. The certificate is chosen by SNI: `<state dir>/certs/<hostname>.pem` (chain and key), else a self-signed one for `<domain>` and `*.<domain>` that the router makes on first start in `<state dir>/tls/`.",
};

/// Where the router keeps its copy of the route table.
pub const ROUTER_STATE_DIR: Setting = Setting {
    name: "PAAS_ROUTER_STATE_DIR",
    default: "$PAAS_DATA_DIR/router",
    read_by: "paas-router",
    doc: "Directory where the router keeps `routes.json`, its copy of the last route table, so that it serves at once after a restart even when the controller is away. Created with mode 0700.",
};

/// The route stream the router follows.
pub const ROUTER_FEED_URL: Setting = Setting {
    name: "PAAS_ROUTER_FEED_URL",
    default: "(none)",
    read_by: "paas-router",
    doc: "URL of the controller's route stream, e.g. `http://127.0.0.1:7700/v1/internal/routes/watch`. Without it the router serves the table saved on disk.",
};

/// The router's credential for the route stream.
pub const ROUTER_TOKEN: Setting = Setting {
    name: "PAAS_ROUTER_TOKEN",
    default: "(none)",
    read_by: "paas-router",
    doc: "Bearer token the router presents to the controller's route stream.",
};

/// Where `paas.<domain>` goes.
pub const ROUTER_CONTROLLER_ADDR: Setting = Setting {
    name: "PAAS_ROUTER_CONTROLLER_ADDR",
    default: "(none)",
    read_by: "paas-router",
    doc: "Address (IP:port) of the controller's API, which the router serves on `paas.<PAAS_DOMAIN>`. Without it that host answers 404.",
};

/// Where `git.<domain>` goes.
pub const ROUTER_BUILDER_ADDR: Setting = Setting {
    name: "PAAS_ROUTER_BUILDER_ADDR",
    default: "(none)",
    read_by: "paas-router",
    doc: "Address (IP:port) of the builder's git endpoint, which the router serves on `git.<PAAS_DOMAIN>`. Without it that host answers 404.",
};

/// Who may tell the router who the client is.
pub const TRUSTED_PROXIES: Setting = Setting {
    name: "PAAS_TRUSTED_PROXIES",
    default: "(none)",
    read_by: "paas-router",
    doc: "Comma-separated IP addresses and CIDR blocks (`10.0.0.0/8, fd00::/8`) of proxies in front of the router, such as a load balancer. A request from one of them keeps its `Forwarded` and `X-Forwarded-Proto/-Host/-Port` headers and gets its address appended to `X-Forwarded-For`; from any other peer the router drops those headers and sets its own.",
};

/// Where the router serves its metrics.
pub const ROUTER_METRICS_ADDR: Setting = Setting {
    name: "PAAS_ROUTER_METRICS_ADDR",
    default: "off",
    read_by: "paasd, paas-router",
    doc: "Address (IP:port) of the router's admin listener, which serves Prometheus metrics at `GET /metrics` (plain HTTP, no authentication: keep it on loopback or a private network), such as `127.0.0.1:9180`; `off`: none. Series: `paas_router_requests_total{app,code}` (status classes `2xx`...), `paas_router_request_duration_seconds{app}` (histogram, to the response head), `paas_router_upstream_errors_total{app,kind}` (`connect`, `failed`, `timeout`), `paas_router_open_connections`, `paas_router_max_connections`, `paas_router_route_table_version`, `paas_router_route_table_last_change_timestamp_seconds`. paasd hands it to the router it starts.",
};

/// The router binary paasd starts.
pub const ROUTER_BIN: Setting = Setting {
    name: "PAAS_ROUTER_BIN",
    default: "paas-router next to the paasd executable",
    read_by: "paasd",
    doc: "The `paas-router` binary that paasd starts as its own process, in its own process group, so that apps stay reachable while paasd restarts; a restarted paasd adopts the router it finds running (`router.pid` in the router's state dir) unless its configuration changed.",
};

/// Where the CLI keeps credentials.
pub const CONFIG_DIR: Setting = Setting {
    name: "PAAS_CONFIG_DIR",
    default: "$XDG_CONFIG_HOME/paas, else ~/.config/paas",
    read_by: "paas",
    doc: "Directory of the CLI's credentials file (`credentials.json`, mode 0600).",
};

/// A password for the CLI's sign-in commands.
pub const PASSWORD: Setting = Setting {
    name: "PAAS_PASSWORD",
    default: "(prompt)",
    read_by: "paas",
    doc: "Password for `paas register` and `paas login` when `--password` is not given; without either, the CLI prompts.",
};

/// The app the CLI acts on.
pub const APP: Setting = Setting {
    name: "PAAS_APP",
    default: "(from the `paas` git remote)",
    read_by: "paas",
    doc: "App for commands that act on one, when `-a/--app` is not given.",
};

/// Address of the per-node registry gateway Docker engines push to and pull from.
pub const REGISTRY_GATEWAY_ADDR: Setting = Setting {
    name: "PAAS_REGISTRY_GATEWAY_ADDR",
    default: "127.0.0.1:5050",
    read_by: "paasd, paas-registry-proxy",
    doc: "Address of the registry gateway Docker engines push to and pull from; loopback, so Docker allows plain HTTP.",
};

/// Address of the registry token endpoint.
pub const REGISTRY_TOKEN_ADDR: Setting = Setting {
    name: "PAAS_REGISTRY_TOKEN_ADDR",
    default: "127.0.0.1:5052",
    read_by: "paasd, paas-registry-proxy",
    doc: "Address of the registry token endpoint (`/token`).",
};

/// Address the Distribution registry listens on.
pub const REGISTRY_ADDR: Setting = Setting {
    name: "PAAS_REGISTRY_ADDR",
    default: "127.0.0.1:5051",
    read_by: "paasd, paas-registry-proxy",
    doc: "Address the supervised Distribution registry listens on; keep it on loopback.",
};

/// The Distribution registry binary.
pub const REGISTRY_BIN: Setting = Setting {
    name: "PAAS_REGISTRY_BIN",
    default: "/usr/bin/docker-registry",
    read_by: "paasd, paas-registry-proxy",
    doc: "The Distribution registry binary (Debian package `docker-registry`).",
};

/// Secret of the `builder` registry principal.
pub const REGISTRY_BUILDER_SECRET: Setting = Setting {
    name: "PAAS_REGISTRY_BUILDER_SECRET",
    default: "(required)",
    read_by: "paas-registry-proxy",
    doc: "Password of the registry user `builder`, which may push and pull every repository.",
};

/// Secret of the `node` registry principal.
pub const REGISTRY_NODE_SECRET: Setting = Setting {
    name: "PAAS_REGISTRY_NODE_SECRET",
    default: "(required)",
    read_by: "paas-registry-proxy",
    doc: "Password of the registry user `node`, which may pull every repository.",
};

/// Whether paasd runs apps' processes on the local Docker engine.
pub const DOCKER: Setting = Setting {
    name: "PAAS_DOCKER",
    default: "on",
    read_by: "paasd",
    doc: "`on`: the scheduler runs apps' processes as containers on the local Docker engine \
          (`DOCKER_HOST` or the default socket), which must answer at start-up. `off`: no \
          processes run (the API alone).",
};

/// Address of the builder's git HTTP server.
pub const BUILDER_ADDR: Setting = Setting {
    name: "PAAS_BUILDER_ADDR",
    default: "127.0.0.1:7702",
    read_by: "paasd, paas-builder",
    doc: "Address (IP:port) the builder's git smart-HTTP server listens on. Port 0 picks a free port.",
};

/// The push size limit.
pub const BUILDER_MAX_PUSH_BYTES: Setting = Setting {
    name: "PAAS_BUILDER_MAX_PUSH_BYTES",
    default: "1073741824",
    read_by: "paas-builder",
    doc: "Largest `git push` request accepted, in bytes; larger pushes are refused with a message.",
};

/// How long a push may take to arrive.
pub const BUILDER_REQUEST_TIMEOUT: Setting = Setting {
    name: "PAAS_BUILDER_REQUEST_TIMEOUT",
    default: "600",
    read_by: "paas-builder",
    doc: "Seconds a `git push` request (commands and pack) may take to arrive.",
};

/// Stop-gap push credentials until the controller answers.
pub const BUILDER_TOKENS: Setting = Setting {
    name: "PAAS_BUILDER_TOKENS",
    default: "",
    read_by: "paas-builder",
    doc: "Space-separated `token:app1,app2` entries: who may push to which app, until the builder asks the controller. Secret.",
};

/// Where the buildpacks are.
pub const BUILDPACKS_DIR: Setting = Setting {
    name: "PAAS_BUILDPACKS_DIR",
    default: "the checkout's `buildpacks/`",
    read_by: "paasd",
    doc: "Directory of the buildpacks tried, in order, on a push without a Dockerfile: `python`, then `procfile` (each with `bin/detect`, `bin/compile`, `bin/release`).",
};

/// The stack image builds run on.
pub const STACK_IMAGE: Setting = Setting {
    name: "PAAS_STACK_IMAGE",
    default: "paas/stack:bookworm",
    read_by: "paasd",
    doc: "The image buildpack builds run in and their apps run on (`cargo xtask stack` makes it).",
};

/// The CA bundle given to buildpack builds.
pub const BUILD_CA_BUNDLE: Setting = Setting {
    name: "PAAS_BUILD_CA_BUNDLE",
    default: "/etc/ssl/certs/ca-certificates.crt when it exists",
    read_by: "paasd",
    doc: "CA bundle copied into buildpack build containers (for `pip` and other package clients behind a proxy with its own CA); never part of the built image. `none`: no bundle.",
};

/// How long replaced processes keep running after leaving the route table.
pub const DRAIN_SECONDS: Setting = Setting {
    name: "PAAS_DRAIN_SECONDS",
    default: "30",
    read_by: "paasd",
    doc: "Seconds a replaced or scaled-down `web` process keeps running after it leaves the route table, so in-flight requests and long connections finish (0 to 3600).",
};

/// How long a stopping process has between SIGTERM and SIGKILL.
pub const STOP_GRACE_SECONDS: Setting = Setting {
    name: "PAAS_STOP_GRACE_SECONDS",
    default: "10",
    read_by: "paasd",
    doc: "Seconds a process has to exit after SIGTERM before it gets SIGKILL (0 to 600).",
};

/// How many releases' images are kept.
pub const KEEP_RELEASES: Setting = Setting {
    name: "PAAS_KEEP_RELEASES",
    default: "10",
    read_by: "paasd",
    doc: "How many of each app's newest releases keep their images in the registry and on the node (1 to 10000); older builds' images are removed (never one a container uses, nor the serving release's), the registry's garbage is collected, and a rollback to a release whose image was removed is refused.",
};

/// The ACME directory `paas certs:auto` orders from.
pub const ACME_DIRECTORY: Setting = Setting {
    name: "PAAS_ACME_DIRECTORY",
    default: "https://acme-v02.api.letsencrypt.org/directory",
    read_by: "paasd",
    doc: "The ACME directory URL that `paas certs:auto` orders certificates from (HTTP-01: the server must reach the router on port 80 by each app domain). Let's Encrypt's staging directory is `https://acme-staging-v02.api.letsencrypt.org/directory`.",
};

/// The root certificate of the ACME server's own HTTPS, when not a public one.
pub const ACME_SERVER_ROOT: Setting = Setting {
    name: "PAAS_ACME_SERVER_ROOT",
    default: "none: the system's roots",
    read_by: "paasd",
    doc: "A PEM file with the root certificate the ACME server's HTTPS chains to, for a private or test ACME server (such as Pebble).",
};

/// The contact address of the platform's ACME account.
pub const ACME_EMAIL: Setting = Setting {
    name: "PAAS_ACME_EMAIL",
    default: "none",
    read_by: "paasd",
    doc: "The e-mail address the ACME account is registered with (expiry notices from the CA).",
};

/// Every setting, in the order of the reference page.
pub const ALL: &[Setting] = &[
    API_ADDR,
    DATA_DIR,
    DOMAIN,
    DATABASE_URL,
    REGISTRATION,
    JWT_TTL,
    PUBLIC_URL,
    DOCKER,
    DRAIN_SECONDS,
    STOP_GRACE_SECONDS,
    KEEP_RELEASES,
    ACME_DIRECTORY,
    ACME_SERVER_ROOT,
    ACME_EMAIL,
    LOG,
    HTTP_ADDR,
    HTTPS_ADDR,
    ROUTER_STATE_DIR,
    ROUTER_FEED_URL,
    ROUTER_TOKEN,
    ROUTER_CONTROLLER_ADDR,
    ROUTER_BUILDER_ADDR,
    TRUSTED_PROXIES,
    ROUTER_METRICS_ADDR,
    ROUTER_BIN,
    REGISTRY_GATEWAY_ADDR,
    REGISTRY_TOKEN_ADDR,
    REGISTRY_ADDR,
    REGISTRY_BIN,
    REGISTRY_BUILDER_SECRET,
    REGISTRY_NODE_SECRET,
    BUILDER_ADDR,
    BUILDPACKS_DIR,
    STACK_IMAGE,
    BUILD_CA_BUNDLE,
    BUILDER_MAX_PUSH_BYTES,
    BUILDER_REQUEST_TIMEOUT,
    BUILDER_TOKENS,
    CONFIG_DIR,
    PASSWORD,
    APP,
];

/// The reference page of all settings, in Markdown.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Configuration\n\n\
         Generated from `core/src/settings.rs` by a test; edit that file, not this page.\n\
         Every setting is an environment variable.\n\n\
         | variable | read by | default | meaning |\n| --- | --- | --- | --- |\n",
    );
    for s in ALL {
        out.push_str(&format!("| `{}` | {} | `{}` | {} |\n", s.name, s.read_by, s.default, s.doc));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_data_dir_follows_xdg_then_home() {
        let dir = |xdg: Option<&str>, home: Option<&str>| {
            default_data_dir(&DATA_DIR, xdg.map(Into::into), home.map(Into::into)).map_err(|e| e.to_string())
        };
        assert_eq!(dir(Some("/x"), Some("/h")), Ok(PathBuf::from("/x/paas")));
        assert_eq!(dir(Some(""), Some("/h")), Ok(PathBuf::from("/h/.local/share/paas")));
        assert_eq!(
            dir(None, None),
            Err("PAAS_DATA_DIR is invalid: unset, and so are XDG_DATA_HOME and HOME".to_owned())
        );
    }

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut names: Vec<_> = ALL.iter().map(|s| s.name).collect();
        assert!(names.iter().all(|n| n.starts_with("PAAS_")));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
