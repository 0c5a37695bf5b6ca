//! Command bodies: each parses its arguments into domain types, calls the API, and
//! prints data on stdout and talk on stderr. One module per topic.

mod apps;
mod auth;
mod builds;
mod certs;
mod config;
mod domains;
mod git;
mod healthchecks;
mod limits;
mod logs;
mod perms;
mod releases;
mod run;
mod scale;
mod tokens;
mod users;

use paas_core::AppName;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cli::{AppRead, Command};
use crate::client::{decode, Api};
use crate::error::CliError;
use crate::output;
use crate::settings::{Output, Settings};

/// Runs one command with its resolved settings.
pub fn run(command: Command, settings: &Settings) -> anyhow::Result<()> {
    let ctx = Ctx { settings };
    use Command::*;
    match command {
        Register(args) => auth::register(&ctx, &args),
        Login(args) => auth::login(&ctx, &args),
        Logout => auth::logout(&ctx),
        Whoami(_) => auth::whoami(&ctx),

        Apps(_) => apps::list(&ctx),
        AppsCreate { name } => apps::create(&ctx, &name),
        AppsInfo(AppRead { .. }) => apps::info(&ctx),
        AppsDestroy { confirm, .. } => apps::destroy(&ctx, confirm.as_deref()),

        Config(_) => config::show(&ctx),
        ConfigSet { assignments, .. } => config::set(&ctx, &assignments),
        ConfigUnset { keys, .. } => config::unset(&ctx, &keys),

        Releases(_) => releases::list(&ctx),
        ReleasesInfo { version, .. } => releases::info(&ctx, &version),
        Rollback { version, .. } => releases::rollback(&ctx, version.as_deref()),

        Ps(_) => scale::ps(&ctx),
        Scale { changes, .. } => scale::scale(&ctx, &changes),
        PsRestart { process_type, .. } => limits::restart(&ctx, process_type.as_deref()),
        Limits(_) => limits::list(&ctx),
        LimitsSet { memory, cpu, .. } => limits::set(&ctx, &memory, &cpu),
        LimitsUnset { process_type, .. } => limits::unset(&ctx, &process_type),
        Healthchecks(_) => healthchecks::list(&ctx),
        HealthchecksSet { process_type, path, timeout, interval, attempts, .. } => {
            healthchecks::set(&ctx, &process_type, path, timeout.as_deref(), interval.as_deref(), attempts)
        }
        HealthchecksUnset { process_type, .. } => healthchecks::unset(&ctx, &process_type),
        Logs { num, tail, process_type, release, .. } => {
            logs::show(&ctx, &num, tail, process_type.as_deref(), release.as_deref())
        }
        Run { no_tty, command, .. } => run::run(&ctx, no_tty, &command),

        Builds(_) => builds::list(&ctx),

        Domains(_) => domains::list(&ctx),
        DomainsAdd { hostname, .. } => domains::add(&ctx, &hostname),
        DomainsRemove { hostname, .. } => domains::remove(&ctx, &hostname),
        Certs(_) => certs::list(&ctx),
        CertsAdd { cert_file, key_file, .. } => certs::add(&ctx, &cert_file, &key_file),
        CertsRemove { hostname, .. } => certs::remove(&ctx, &hostname),
        CertsAuto { .. } => certs::auto(&ctx),
        CertsAutoDisable { .. } => certs::auto_disable(&ctx),
        TlsEnforce { off, .. } => certs::enforce(&ctx, off),

        Perms(_) => perms::list(&ctx),
        PermsAdd { username, .. } => perms::add(&ctx, &username),
        PermsRemove { username, .. } => perms::remove(&ctx, &username),

        Users(_) => users::list(&ctx),
        UsersDisable { username } => users::disable(&ctx, &username),
        UsersEnable { username } => users::enable(&ctx, &username),
        UsersPromote { username } => users::promote(&ctx, &username),
        RegistrationSet { mode } => users::registration_set(&ctx, &mode),

        Tokens(_) => tokens::list(&ctx),
        TokensCreate { description } => tokens::create(&ctx, description),
        TokensRevoke { id } => tokens::revoke(&ctx, &id),

        GitRemote { remote, .. } => git::remote(&ctx, &remote),
        GitCredential { operation } => git::credential(&ctx, &operation),
    }
}

/// What a command body works with.
struct Ctx<'a> {
    settings: &'a Settings,
}

impl Ctx<'_> {
    /// A client of the API the user logged in to, with their token.
    fn api(&self) -> anyhow::Result<Api> {
        let creds = self.settings.credentials.as_ref().ok_or_else(CliError::not_logged_in)?;
        Ok(Api::new(&creds.api_url, Some(&creds.token))?.as_user(&creds.username))
    }

    /// The app of an app-scoped command, resolved with the settings.
    fn app(&self) -> anyhow::Result<&AppName> {
        Ok(self.settings.app.as_ref().ok_or_else(|| {
            CliError::new("no app given").hint("pass -a APP or run inside a checkout with a 'paas' remote")
        })?)
    }

    /// Prints what a reading command got: the API's JSON with `--json`, else `human`
    /// applied to the decoded value.
    fn show<T: DeserializeOwned>(
        &self,
        value: Value,
        human: impl FnOnce(T) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        match self.settings.output {
            Output::Json => output::json(&value),
            Output::Human => human(decode(value)?),
        }
    }
}
