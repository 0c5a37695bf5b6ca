//! Settings, resolved once at start into one [`Settings`]: flags, then environment,
//! then the credentials file.
//!
//! This is the only module that reads the environment, and it reads paas's own
//! variables only through the constants of [`paas_core::settings`].

use std::ffi::OsString;
use std::path::PathBuf;

use paas_core::settings::{APP, CONFIG_DIR, PASSWORD};
use paas_core::AppName;

use crate::cli::Command;
use crate::credentials::{self, StoredCredentials};
use crate::error::CliError;
use crate::remote::{RemoteApp, REMOTE};

/// A secret typed by the user; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, to send.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The environment variables the CLI reads, as read; empty ones count as unset.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `PAAS_CONFIG_DIR`.
    pub config_dir: Option<PathBuf>,
    /// `XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
    /// `HOME`.
    pub home: Option<PathBuf>,
    /// `PAAS_PASSWORD`.
    pub password: Option<Secret>,
    /// `PAAS_APP`.
    pub app: Option<String>,
}

impl Env {
    /// Reads the process environment.
    #[allow(clippy::disallowed_methods)] // This module is where settings are read.
    pub fn read() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let string = |name: &str| var(name).map(|v: OsString| v.to_string_lossy().into_owned());
        Self {
            config_dir: var(CONFIG_DIR.name).map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            password: string(PASSWORD.name).map(Secret),
            app: string(APP.name),
        }
    }
}

/// How to print what a command read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Tables and `Key: value` lines.
    Human,
    /// The API's JSON, pretty-printed.
    Json,
}

/// Everything a command needs to know besides its own arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `credentials.json` in the config directory.
    pub credentials_path: PathBuf,
    /// What `paas login` stored, if anything.
    pub credentials: Option<StoredCredentials>,
    /// `--password`, else `PAAS_PASSWORD`; `register` and `login` prompt without it.
    pub password: Option<Secret>,
    /// For app-scoped commands: `-a`, else `PAAS_APP`, else the `paas` git remote.
    pub app: Option<AppName>,
    /// `--json` or not.
    pub output: Output,
}

impl Settings {
    /// Resolves the settings of `command`. `remote` is asked for the `paas` git remote
    /// only when an app-scoped command has no app from its flag or the environment.
    pub fn resolve(
        command: &Command,
        env: Env,
        remote: impl FnOnce() -> RemoteApp,
    ) -> anyhow::Result<Settings> {
        let credentials_path = config_dir(&env)?.join(credentials::FILE_NAME);
        let app = match command.app_flag() {
            Some(flag) => Some(resolve_app(flag, env.app.as_deref(), remote)?),
            None => None,
        };
        let credentials = match credentials::load(&credentials_path) {
            Ok(creds) => creds,
            Err(_) if command.replaces_credentials() => None,
            Err(e) => return Err(e),
        };
        Ok(Settings {
            credentials_path,
            credentials,
            password: command.password_flag().map(Secret::new).or(env.password),
            app,
            output: if command.json() { Output::Json } else { Output::Human },
        })
    }
}

/// `$PAAS_CONFIG_DIR`, else `$XDG_CONFIG_HOME/paas`, else `~/.config/paas`.
pub fn config_dir(env: &Env) -> Result<PathBuf, CliError> {
    if let Some(dir) = &env.config_dir {
        return Ok(dir.clone());
    }
    // The XDG spec says to ignore a relative XDG_CONFIG_HOME.
    if let Some(xdg) = env.xdg_config_home.as_ref().filter(|p| p.is_absolute()) {
        return Ok(xdg.join("paas"));
    }
    match &env.home {
        Some(home) => Ok(home.join(".config").join("paas")),
        None => Err(CliError::new("cannot tell where to keep credentials: HOME is not set")
            .hint(format!("set {} to a directory", CONFIG_DIR.name))),
    }
}

/// The app of an app-scoped command: `-a`, else `PAAS_APP`, else the `paas` remote.
pub fn resolve_app(
    flag: Option<&str>,
    env: Option<&str>,
    remote: impl FnOnce() -> RemoteApp,
) -> Result<AppName, CliError> {
    if let Some(name) = flag {
        return Ok(AppName::parse(name)?);
    }
    if let Some(name) = env {
        return AppName::parse(name).map_err(|e| {
            CliError::new(format!("{e} (from {})", APP.name))
                .hint(format!("unset {} or pass -a APP", APP.name))
        });
    }
    match remote() {
        RemoteApp::Found(app) => Ok(app),
        RemoteApp::Unrecognised => {
            Err(CliError::new(format!("the '{REMOTE}' git remote does not name an app")).hint(format!(
                "pass -a APP, or point the remote at the app: git remote set-url {REMOTE} GIT_URL/APP.git"
            )))
        }
        RemoteApp::Missing => Err(CliError::new("no app given")
            .hint(format!("pass -a APP or run inside a checkout with a '{REMOTE}' remote"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn app(name: &str) -> AppName {
        AppName::parse(name).unwrap()
    }

    fn no_remote() -> RemoteApp {
        panic!("the git remote should not be consulted")
    }

    #[test]
    fn app_flag_beats_env_beats_remote() {
        let found = || RemoteApp::Found(app("from-git"));
        assert_eq!(resolve_app(Some("flag"), Some("env"), no_remote), Ok(app("flag")));
        assert_eq!(resolve_app(None, Some("env"), no_remote), Ok(app("env")));
        assert_eq!(resolve_app(None, None, found), Ok(app("from-git")));
    }

    #[test]
    fn no_app_anywhere_is_an_error_with_the_hint() {
        let err = resolve_app(None, None, || RemoteApp::Missing).unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("pass -a APP or run inside a checkout with a 'paas' remote"));
        let err = resolve_app(None, None, || RemoteApp::Unrecognised).unwrap_err();
        assert!(err.message.contains("'paas' git remote"));
        let err = resolve_app(None, Some("Bad"), no_remote).unwrap_err();
        assert!(err.message.contains("PAAS_APP"), "{}", err.message);
    }

    #[test]
    fn config_dir_order() {
        let env = Env {
            config_dir: Some("/c".into()),
            xdg_config_home: Some("/x".into()),
            home: Some("/h".into()),
            ..Env::default()
        };
        assert_eq!(config_dir(&env).unwrap(), PathBuf::from("/c"));
        let env = Env { config_dir: None, ..env };
        assert_eq!(config_dir(&env).unwrap(), PathBuf::from("/x/paas"));
        let env = Env { xdg_config_home: Some("relative".into()), ..env };
        assert_eq!(config_dir(&env).unwrap(), PathBuf::from("/h/.config/paas"));
        assert!(config_dir(&Env::default()).unwrap_err().hint.is_some());
    }

    fn resolve(args: &[&str], env: Env) -> anyhow::Result<Settings> {
        let mut argv = vec!["paas"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap();
        Settings::resolve(&cli.command, env, || RemoteApp::Missing)
    }

    #[test]
    fn resolved_once_from_flags_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let env = || Env {
            config_dir: Some(dir.path().to_owned()),
            password: Some(Secret::new("from-env")),
            app: Some("env-app".into()),
            ..Env::default()
        };
        let s = resolve(&["config", "--json"], env()).unwrap();
        assert_eq!(s.app, Some(app("env-app")));
        assert_eq!(s.output, Output::Json);
        assert_eq!(s.credentials, None);
        assert_eq!(s.credentials_path, dir.path().join("credentials.json"));

        let s = resolve(&["apps"], env()).unwrap();
        assert_eq!((s.app, s.output), (None, Output::Human));

        let s = resolve(&["login", "http://x", "-u", "a", "-p", "flag"], env()).unwrap();
        assert_eq!(s.password, Some(Secret::new("flag")));
        let s = resolve(&["login", "http://x", "-u", "a"], env()).unwrap();
        assert_eq!(s.password, Some(Secret::new("from-env")));
        assert!(!format!("{s:?}").contains("from-env"));
    }

    #[test]
    fn a_broken_credentials_file_only_stops_commands_that_need_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("credentials.json"), "not json").unwrap();
        let env = || Env { config_dir: Some(dir.path().to_owned()), ..Env::default() };
        assert!(resolve(&["apps"], env()).is_err());
        assert!(resolve(&["logout"], env()).is_ok());
        assert!(resolve(&["login", "http://x", "-u", "a"], env()).is_ok());
    }
}
