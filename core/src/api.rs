//! The wire types of the REST API under `/v1`, shared by the controller and the CLI.
//!
//! Requests carry plain strings; the controller parses them into domain types and
//! answers a bad one with a 400 that names the field. Times are RFC 3339 strings in UTC.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// A stable code: `not_found`, `already_exists`, `invalid_request`,
    /// `unauthenticated`, `forbidden`, `conflict`, `payload_too_large`, `unavailable`,
    /// `internal`.
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
    /// What to do about it, when there is something to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// `POST /v1/auth/register` and `POST /v1/auth/login`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Credentials {
    /// The user's name.
    pub username: String,
    /// The user's password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct User {
    /// Login name.
    pub username: String,
    /// Whether the user administers the platform.
    pub admin: bool,
    /// A disabled user can neither sign in nor use tokens.
    pub disabled: bool,
    /// When the user registered.
    pub created_at: String,
}

/// The answer to a login: a short-lived bearer token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Session {
    /// A JWT to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops working.
    pub expires_at: String,
    /// Who signed in.
    pub user: User,
}

/// `PATCH /v1/users/{username}` (admins only).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserUpdate {
    /// Make the user an admin, or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    /// Disable the user, or enable them again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// `POST /v1/tokens`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenCreate {
    /// What the token is for, e.g. `ci`.
    #[serde(default)]
    pub description: String,
}

/// An API token as listed: never the secret itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Token {
    /// Identifies the token for `DELETE /v1/tokens/{id}`.
    pub id: i64,
    /// What the token is for.
    pub description: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    /// When it was made.
    pub created_at: String,
}

/// A token just made: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenCreated {
    /// The token as listed.
    #[serde(flatten)]
    pub token: Token,
    /// The secret, `paas_...`; send it as a bearer token or a git password.
    pub secret: String,
}

/// `POST /v1/apps`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AppCreate {
    /// The app's name.
    pub name: String,
}

/// An app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct App {
    /// The app's name.
    pub name: String,
    /// Who created it.
    pub owner: String,
    /// Where it answers: `http://<app>.<domain>`.
    pub url: String,
    /// The current release's number.
    pub release: u32,
    /// When it was created.
    pub created_at: String,
}

/// An app with everything `apps:info` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AppInfo {
    /// The app.
    #[serde(flatten)]
    pub app: App,
    /// The git URL to push to.
    pub git_url: String,
    /// Owner and collaborators.
    pub collaborators: Vec<Collaborator>,
    /// Default and custom domains.
    pub domains: Vec<Domain>,
    /// Process quantities.
    pub formation: Vec<ProcessFormation>,
}

/// `PATCH /v1/apps/{app}/config`: `null` unsets a key. All keys change in one release.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConfigUpdate {
    /// Keys to set (a string) or unset (`null`).
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Option<String>>))]
    pub values: BTreeMap<String, Option<String>>,
}

/// An app's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Config {
    /// The release this config belongs to.
    pub release: u32,
    /// The config vars.
    pub values: BTreeMap<String, String>,
}

/// A release of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Release {
    /// `N` of `vN`.
    pub version: u32,
    /// What changed, e.g. `Set A, B config vars`.
    pub summary: String,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: String,
    /// The image of the release's build, if it has one.
    pub image: Option<String>,
    /// Whether this is the release that runs now.
    pub current: bool,
    /// Its rollout: `pending` (its processes are starting or being health-checked),
    /// `succeeded` (promoted: it serves) or `failed` (abandoned; the previous release
    /// kept serving).
    #[serde(default = "succeeded")]
    pub status: String,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

fn succeeded() -> String {
    "succeeded".to_owned()
}

/// A release with its config, as `releases:info` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReleaseInfo {
    /// The release.
    #[serde(flatten)]
    pub release: Release,
    /// The config vars of the release.
    pub config: BTreeMap<String, String>,
}

/// `POST /v1/apps/{app}/rollback`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RollbackRequest {
    /// The release to go back to; without it, the one before the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

/// The quantity of one process type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProcessFormation {
    /// The process type, e.g. `web`.
    #[serde(rename = "type")]
    pub process_type: String,
    /// How many processes of it should run.
    pub quantity: u32,
}

/// `PATCH /v1/apps/{app}/formation`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FormationUpdate {
    /// The types to change; the others keep their quantity.
    pub updates: Vec<ProcessFormation>,
}

/// A host name an app answers on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Domain {
    /// The host name.
    pub hostname: String,
    /// `default` for `<app>.<domain>`, `custom` for one added by a user.
    pub kind: String,
    /// When it was added (the app's creation for the default one).
    pub created_at: String,
}

/// `POST /v1/apps/{app}/domains`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DomainCreate {
    /// The host name to add.
    pub hostname: String,
}

/// Someone who may act on an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Collaborator {
    /// Their username.
    pub username: String,
    /// `owner` or `collaborator`.
    pub role: String,
}

/// `POST /v1/apps/{app}/collaborators`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CollaboratorAdd {
    /// The user to add.
    pub username: String,
}

/// An audit event: one for every change anyone made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Event {
    /// Increasing identifier.
    pub id: i64,
    /// Who acted.
    pub actor: String,
    /// What they did, e.g. `config.set`.
    pub action: String,
    /// The app, when the action was on one.
    pub app: Option<String>,
    /// Details, e.g. the keys that changed (never their values).
    pub detail: String,
    /// When.
    pub created_at: String,
}

/// `GET /v1/platform`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Platform {
    /// The controller's version.
    pub version: String,
    /// The platform domain.
    pub domain: String,
    /// The API's public URL.
    pub api_url: String,
    /// The base URL of git remotes: `<git_url>/<app>.git`.
    pub git_url: String,
    /// Who may register: `open`, `admin_only` or `disabled`.
    pub registration: String,
}

/// `GET /v1/platform/registration`, and the answer to `PUT`: who may register once the
/// first user exists, and who set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RegistrationSettings {
    /// `open`, `admin_only` or `disabled`.
    pub mode: String,
    /// The admin who set it; `null` while it is the start-up default
    /// (`PAAS_REGISTRATION`).
    pub changed_by: Option<String>,
    /// When they did; `null` likewise.
    pub changed_at: Option<String>,
}

/// `PUT /v1/platform/registration` (admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RegistrationUpdate {
    /// `open` (anyone), `admin_only` (an admin registers others) or `disabled`
    /// (nobody).
    pub mode: String,
}

/// A process of an app, as the scheduler last saw it (`GET /v1/apps/{app}/processes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Process {
    /// `web.1`, as the process sees it in `DYNO`.
    pub name: String,
    /// The process type.
    #[serde(rename = "type")]
    pub process_type: String,
    /// The release it runs.
    pub release: u32,
    /// `starting` (running, not yet healthy), `up` (healthy; a `web` process is in the
    /// route table), `crashed` (exited; restarted with backoff) or `draining` (out of
    /// the route table, finishing its requests before it is stopped).
    pub state: String,
    /// Where it listens on the platform network, when it has an address.
    pub address: Option<String>,
    /// How often the scheduler restarted it after it exited.
    #[serde(default)]
    pub restarts: u32,
    /// Seconds since it last started, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
}

/// A process type's health check (`GET /v1/apps/{app}/healthchecks`). Only `web`
/// processes are checked over HTTP on `PORT`; other types count as healthy once
/// running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Healthcheck {
    /// The process type.
    #[serde(rename = "type")]
    pub process_type: String,
    /// The path asked with `GET`; a 2xx or 3xx answer is healthy.
    pub path: String,
    /// How long one attempt may take, in milliseconds.
    pub timeout_ms: u64,
    /// The wait between attempts, in milliseconds.
    pub interval_ms: u64,
    /// How many attempts a new process gets before its release fails.
    pub attempts: u32,
}

/// `PUT /v1/apps/{app}/healthchecks/{type}`: the check of one process type. Unset
/// numbers take their defaults (5000 ms, 1000 ms, 30 attempts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HealthcheckUpdate {
    /// Starts with `/`.
    pub path: String,
    /// 100 to 60000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// 100 to 60000.
    #[serde(default)]
    pub interval_ms: Option<u64>,
    /// 1 to 100.
    #[serde(default)]
    pub attempts: Option<u32>,
}

/// A build of an app: the image made from one pushed commit (`GET /v1/apps/{app}/builds`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Build {
    /// Identifies the build.
    pub id: i64,
    /// The commit built (full hex).
    pub commit: String,
    /// The image the build made.
    pub image: String,
    /// Process types and their commands; an empty command runs the image's own `CMD`.
    pub process_types: BTreeMap<String, String>,
    /// Who pushed it.
    pub created_by: String,
    /// When it finished.
    pub created_at: String,
    /// The releases that run it, oldest first (a rollback adds one).
    pub releases: Vec<u32>,
}

/// What `GET /v1/apps/{app}/run` runs, in its `Paas-Run` header (see
/// [`crate::run_stream`]): a one-off process of the app's current release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RunRequest {
    /// What to run: a list is the program and its arguments, run as they are; a string
    /// is run by `/bin/sh -c`.
    pub command: RunCommand,
    /// Whether the process gets a terminal (raw bytes, stdout and stderr as one).
    #[serde(default)]
    pub tty: bool,
    /// More environment for this process only, over the app's config.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// A one-off process's command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(untagged)]
pub enum RunCommand {
    /// The program and its arguments.
    Argv(Vec<String>),
    /// A shell command line.
    Shell(String),
}

/// `POST /v1/apps/{app}/processes/restart`: replaces the processes of one type, or of
/// every type, rolling and without downtime. Not a release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RestartRequest {
    /// The process type; every type when absent.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub process_type: Option<String>,
}

/// What `POST /v1/apps/{app}/processes/restart` restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Restart {
    /// The process types being replaced.
    pub types: Vec<String>,
}

/// A process type's resource limits (`GET /v1/apps/{app}/limits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProcessLimits {
    /// The process type.
    #[serde(rename = "type")]
    pub process_type: String,
    /// The memory limit, e.g. `512M` (no swap); none when absent.
    pub memory: Option<String>,
    /// The memory limit in bytes.
    pub memory_bytes: Option<u64>,
    /// The CPU limit in CPUs, e.g. `0.5`; none when absent.
    pub cpu: Option<String>,
}

/// One type's new limits in `PATCH /v1/apps/{app}/limits`; an absent limit stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LimitUpdate {
    /// The process type.
    #[serde(rename = "type")]
    pub process_type: String,
    /// A memory size, `16M` to `64G` (K, M, G: powers of 1024).
    #[serde(default)]
    pub memory: Option<String>,
    /// A number of CPUs, `0.01` to `64`.
    #[serde(default)]
    pub cpu: Option<String>,
}

/// `PATCH /v1/apps/{app}/limits`: every update is checked before any is applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LimitsUpdate {
    /// The types to change.
    pub updates: Vec<LimitUpdate>,
}

/// How many days before it expires a certificate counts as expiring soon (`paas certs`
/// warns).
pub const CERT_EXPIRY_WARNING_DAYS: i64 = 30;

/// A TLS certificate of an app (`GET /v1/apps/{app}/certs`). Its private key is never
/// shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Certificate {
    /// Its id, which `DELETE` takes as well as a host name.
    pub id: i64,
    /// The host names it covers (its subjectAltName DNS names), all domains of the app.
    pub hostnames: Vec<String>,
    /// Its issuer's distinguished name.
    pub issuer: String,
    /// Valid from (RFC 3339, UTC).
    pub not_before: String,
    /// Valid until (RFC 3339, UTC).
    pub not_after: String,
    /// Whole days until it expires; negative once it has.
    pub days_left: i64,
    /// Fewer than [`CERT_EXPIRY_WARNING_DAYS`] days left.
    pub expiring_soon: bool,
    /// SHA-256 of the certificate's DER, hex pairs separated by `:`.
    pub fingerprint_sha256: String,
    /// Who uploaded it (for an ACME certificate, who turned `certs:auto` on).
    pub added_by: String,
    /// When.
    pub created_at: String,
    /// Issued by the platform's ACME server (`paas certs:auto`) and renewed by it.
    #[serde(default)]
    pub auto: bool,
}

/// `GET /v1/apps/{app}/certs/auto`: whether the platform orders the app's certificate
/// from its ACME server, and why the last order failed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AcmeStatus {
    /// `paas certs:auto` is on.
    pub enabled: bool,
    /// The last order's failure; `null` after a success or before the first order.
    pub last_error: Option<String>,
}

/// `POST /v1/apps/{app}/certs`: a PEM chain (the certificate first, then its
/// intermediates) and its PEM private key. `Debug` never shows the key.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CertificateCreate {
    /// The certificate chain, PEM.
    pub chain: String,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

impl std::fmt::Debug for CertificateCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateCreate").field("chain", &self.chain).field("key", &"<redacted>").finish()
    }
}

/// `PUT /v1/apps/{app}/tls` and its answer: whether plain HTTP is redirected to HTTPS
/// and HTTPS answers carry HSTS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TlsSettings {
    /// On or off (off for a new app).
    pub enforce: bool,
}
