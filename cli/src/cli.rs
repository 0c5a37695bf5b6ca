//! The command line as clap sees it: definitions only. The bodies live in
//! [`crate::commands`]; arguments stay plain strings here and are parsed into domain
//! types there, so a parse error never echoes a config value.

use clap::{Args, Parser, Subcommand};

/// The `paas` command line.
#[derive(Parser)]
#[command(
    name = "paas",
    version,
    about = "Command-line client of paas, a self-hosted Heroku",
    after_help = "Apps are chosen with -a APP, else $PAAS_APP, else the 'paas' git remote \
                  of the current checkout."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `-a/--app`, on every command that acts on one app.
#[derive(Args, Clone, Default)]
pub struct AppFlag {
    /// The app [default: $PAAS_APP, else the app of the 'paas' git remote]
    #[arg(short = 'a', long = "app", value_name = "APP")]
    pub app: Option<String>,
}

/// `--json`, on every command that reads.
#[derive(Args, Clone, Copy, Default)]
pub struct JsonFlag {
    /// Print the API's JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

/// `-a/--app` and `--json`, for the commands that read about one app.
#[derive(Args, Clone, Default)]
pub struct AppRead {
    #[command(flatten)]
    pub app: AppFlag,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// The arguments of `register` and `login`.
#[derive(Args, Clone)]
pub struct SignIn {
    /// The URL of the paas API, e.g. https://paas.example.com
    #[arg(value_name = "URL")]
    pub url: String,
    /// Your username
    #[arg(short = 'u', long, value_name = "NAME")]
    pub username: String,
    /// Your password [default: $PAAS_PASSWORD, else a prompt]
    #[arg(short = 'p', long, value_name = "PASSWORD")]
    pub password: Option<String>,
}

/// A command.
#[derive(Subcommand, Clone)]
pub enum Command {
    /// Create a user on a paas platform and log in as them
    Register(SignIn),
    /// Log in to a paas platform and store the token
    Login(SignIn),
    /// Forget the stored token
    Logout,
    /// Show who you are logged in as
    Whoami(JsonFlag),

    /// List the apps you can act on
    Apps(JsonFlag),
    /// Create an app
    #[command(name = "apps:create")]
    AppsCreate {
        /// The app's name: lowercase letters, digits and '-'
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Show an app's URLs, collaborators, domains and processes
    #[command(name = "apps:info")]
    AppsInfo(AppRead),
    /// Delete an app and everything in it
    #[command(name = "apps:destroy")]
    AppsDestroy {
        #[command(flatten)]
        app: AppFlag,
        /// The app's name again, to confirm
        #[arg(long, value_name = "NAME")]
        confirm: Option<String>,
    },

    /// Show an app's config vars
    Config(AppRead),
    /// Set config vars, all in one new release
    #[command(name = "config:set")]
    ConfigSet {
        #[command(flatten)]
        app: AppFlag,
        /// The vars to set
        #[arg(value_name = "KEY=VALUE", required = true)]
        assignments: Vec<String>,
    },
    /// Unset config vars, all in one new release
    #[command(name = "config:unset")]
    ConfigUnset {
        #[command(flatten)]
        app: AppFlag,
        /// The vars to unset
        #[arg(value_name = "KEY", required = true)]
        keys: Vec<String>,
    },

    /// List an app's releases, newest first
    Releases(AppRead),
    /// Show one release and its config vars
    #[command(name = "releases:info")]
    ReleasesInfo {
        #[command(flatten)]
        app: AppFlag,
        #[command(flatten)]
        json: JsonFlag,
        /// The release, e.g. v3
        #[arg(value_name = "VERSION")]
        version: String,
    },
    /// Go back to an earlier release (by default the one before the current one)
    Rollback {
        #[command(flatten)]
        app: AppFlag,
        /// The release to go back to, e.g. v3
        #[arg(value_name = "VERSION")]
        version: Option<String>,
    },

    /// List an app's processes and their state
    Ps(AppRead),
    /// Restart an app's processes (of one type, or all), rolling and without downtime
    #[command(name = "ps:restart")]
    PsRestart {
        #[command(flatten)]
        app: AppFlag,
        /// The process type, e.g. web; every type when left out
        #[arg(value_name = "TYPE")]
        process_type: Option<String>,
    },
    /// List the memory and CPU limits of an app's process types
    Limits(AppRead),
    /// Set memory (and CPU) limits per process type, e.g. `paas limits:set web=512M
    /// --cpu web=0.5`; the processes restart, rolling
    #[command(name = "limits:set")]
    LimitsSet {
        #[command(flatten)]
        app: AppFlag,
        /// Memory per type, e.g. web=512M worker=1G (16M to 64G)
        #[arg(value_name = "TYPE=SIZE")]
        memory: Vec<String>,
        /// CPUs per type, e.g. web=0.5 (0.01 to 64)
        #[arg(long = "cpu", value_name = "TYPE=CPUS")]
        cpu: Vec<String>,
    },
    /// Remove the limits of a process type; its processes restart, rolling
    #[command(name = "limits:unset")]
    LimitsUnset {
        #[command(flatten)]
        app: AppFlag,
        /// The process type, e.g. web
        #[arg(value_name = "TYPE")]
        process_type: String,
    },
    /// Show an app's logs: the newest lines of all its processes, in time order
    Logs {
        #[command(flatten)]
        app: AppFlag,
        /// How many of the newest lines to show (at most 10000)
        #[arg(short = 'n', long = "num", value_name = "N", default_value = "100")]
        num: String,
        /// Keep showing new lines as they are written, until Ctrl-C
        #[arg(short = 'f', long = "tail", short_alias = 't', visible_alias = "follow")]
        tail: bool,
        /// Only the processes of this type, e.g. web
        #[arg(long = "type", value_name = "TYPE")]
        process_type: Option<String>,
        /// Only the processes of this release, e.g. 3 or v3
        #[arg(long, value_name = "VERSION")]
        release: Option<String>,
    },

    /// Run a command once in a new process of the app, attached to this terminal, e.g.
    /// `paas run -- python3 manage.py migrate`; exits with the command's status
    Run {
        #[command(flatten)]
        app: AppFlag,
        /// Do not give the process a terminal, even when stdin is one
        #[arg(long)]
        no_tty: bool,
        /// The command and its arguments, after `--`
        #[arg(value_name = "CMD", required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },

    /// List an app's builds, newest first
    Builds(AppRead),

    /// List an app's health checks (types without one: the port must answer HTTP)
    Healthchecks(AppRead),
    /// Set the health check of a process type; only `web` is checked, over HTTP on PORT
    #[command(name = "healthchecks:set")]
    HealthchecksSet {
        #[command(flatten)]
        app: AppFlag,
        /// The process type, e.g. web
        #[arg(value_name = "TYPE")]
        process_type: String,
        /// The path asked with GET; a 2xx or 3xx answer is healthy
        #[arg(long, value_name = "PATH")]
        path: String,
        /// How long one attempt may take, e.g. 5s or 500ms (default 5s)
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
        /// The wait between attempts, e.g. 1s (default 1s)
        #[arg(long, value_name = "DURATION")]
        interval: Option<String>,
        /// Attempts before a new release fails (default 30)
        #[arg(long, value_name = "N")]
        attempts: Option<u32>,
    },
    /// Remove the health check of a process type: the default applies again
    #[command(name = "healthchecks:unset")]
    HealthchecksUnset {
        #[command(flatten)]
        app: AppFlag,
        /// The process type, e.g. web
        #[arg(value_name = "TYPE")]
        process_type: String,
    },

    /// Set how many processes of each type run, e.g. `paas scale web=2 worker=1`
    Scale {
        #[command(flatten)]
        app: AppFlag,
        /// Process types and quantities
        #[arg(value_name = "TYPE=N", required = true)]
        changes: Vec<String>,
    },

    /// List an app's domains
    Domains(AppRead),
    /// Add a custom domain to an app
    #[command(name = "domains:add")]
    DomainsAdd {
        #[command(flatten)]
        app: AppFlag,
        /// The host name, e.g. www.example.com
        #[arg(value_name = "HOSTNAME")]
        hostname: String,
    },
    /// Remove a custom domain from an app
    #[command(name = "domains:remove")]
    DomainsRemove {
        #[command(flatten)]
        app: AppFlag,
        /// The host name
        #[arg(value_name = "HOSTNAME")]
        hostname: String,
    },

    /// List an app's TLS certificates, warning about those expiring within 30 days
    Certs(AppRead),
    /// Add a TLS certificate for some of the app's domains
    #[command(name = "certs:add")]
    CertsAdd {
        #[command(flatten)]
        app: AppFlag,
        /// The PEM certificate chain: the certificate, then its intermediates
        #[arg(value_name = "CERT_FILE")]
        cert_file: std::path::PathBuf,
        /// The PEM private key of the certificate
        #[arg(value_name = "KEY_FILE")]
        key_file: std::path::PathBuf,
    },
    /// Remove a TLS certificate, named by one of its host names or its id
    #[command(name = "certs:remove")]
    CertsRemove {
        #[command(flatten)]
        app: AppFlag,
        /// A host name of the certificate, or its id
        #[arg(value_name = "HOSTNAME")]
        hostname: String,
    },
    /// Have the platform order the app's certificate from its ACME server (HTTP-01) now
    /// and renew it 30 days before it expires
    #[command(name = "certs:auto")]
    CertsAuto {
        #[command(flatten)]
        app: AppFlag,
    },
    /// Stop ordering and renewing the app's certificate (the current one stays)
    #[command(name = "certs:auto:disable")]
    CertsAutoDisable {
        #[command(flatten)]
        app: AppFlag,
    },
    /// Redirect an app's plain HTTP to HTTPS and send HSTS (off by default)
    #[command(name = "tls:enforce")]
    TlsEnforce {
        #[command(flatten)]
        app: AppFlag,
        /// Turn it off again
        #[arg(long)]
        off: bool,
    },

    /// List who may act on an app
    Perms(AppRead),
    /// Let a user act on an app
    #[command(name = "perms:add")]
    PermsAdd {
        #[command(flatten)]
        app: AppFlag,
        /// The user
        #[arg(value_name = "USERNAME")]
        username: String,
    },
    /// Stop a user from acting on an app
    #[command(name = "perms:remove")]
    PermsRemove {
        #[command(flatten)]
        app: AppFlag,
        /// The user
        #[arg(value_name = "USERNAME")]
        username: String,
    },

    /// List the platform's users (admins only)
    Users(JsonFlag),
    /// Stop a user from signing in (admins only)
    #[command(name = "users:disable")]
    UsersDisable {
        /// The user
        #[arg(value_name = "USERNAME")]
        username: String,
    },
    /// Let a disabled user sign in again (admins only)
    #[command(name = "users:enable")]
    UsersEnable {
        /// The user
        #[arg(value_name = "USERNAME")]
        username: String,
    },
    /// Make a user an admin (admins only)
    #[command(name = "users:promote")]
    UsersPromote {
        /// The user
        #[arg(value_name = "USERNAME")]
        username: String,
    },
    /// Set who may register from now on (admins only): open, admin_only or disabled
    #[command(name = "registration:set")]
    RegistrationSet {
        /// open (anyone), admin_only (an admin registers others) or disabled (nobody)
        #[arg(value_name = "MODE")]
        mode: String,
    },

    /// List your API tokens (never their secrets)
    Tokens(JsonFlag),
    /// Create an API token and print its secret, shown only this once
    #[command(name = "tokens:create")]
    TokensCreate {
        /// What the token is for, e.g. ci
        #[arg(long, short = 'd', value_name = "TEXT", default_value = "")]
        description: String,
    },
    /// Revoke an API token
    #[command(name = "tokens:revoke")]
    TokensRevoke {
        /// The token's id, as `paas tokens` lists it
        #[arg(value_name = "ID")]
        id: String,
    },

    /// Add the app's git remote to this checkout, so that `git push paas main` deploys
    #[command(name = "git:remote")]
    GitRemote {
        #[command(flatten)]
        app: AppFlag,
        /// The remote's name
        #[arg(short = 'r', long, value_name = "NAME", default_value = "paas")]
        remote: String,
    },
    /// The git credential helper that `git:remote` sets up (git runs it, not you)
    #[command(name = "git:credential", hide = true)]
    GitCredential {
        /// What git asks: get, store or erase
        #[arg(value_name = "OPERATION")]
        operation: String,
    },
}

impl Command {
    /// For a command that acts on one app, its `-a` flag (`Some(None)` when not given);
    /// `None` for every other command.
    pub fn app_flag(&self) -> Option<Option<&str>> {
        use Command::*;
        let flag = match self {
            AppsInfo(AppRead { app, .. })
            | Config(AppRead { app, .. })
            | Releases(AppRead { app, .. })
            | Domains(AppRead { app, .. })
            | Certs(AppRead { app, .. })
            | Perms(AppRead { app, .. })
            | Ps(AppRead { app, .. })
            | PsRestart { app, .. }
            | Limits(AppRead { app, .. })
            | LimitsSet { app, .. }
            | LimitsUnset { app, .. }
            | Healthchecks(AppRead { app, .. })
            | HealthchecksSet { app, .. }
            | HealthchecksUnset { app, .. }
            | Builds(AppRead { app, .. })
            | Logs { app, .. }
            | Run { app, .. }
            | AppsDestroy { app, .. }
            | ConfigSet { app, .. }
            | ConfigUnset { app, .. }
            | ReleasesInfo { app, .. }
            | Rollback { app, .. }
            | Scale { app, .. }
            | DomainsAdd { app, .. }
            | DomainsRemove { app, .. }
            | CertsAdd { app, .. }
            | CertsRemove { app, .. }
            | CertsAuto { app, .. }
            | CertsAutoDisable { app, .. }
            | TlsEnforce { app, .. }
            | PermsAdd { app, .. }
            | PermsRemove { app, .. }
            | GitRemote { app, .. } => app,
            _ => return None,
        };
        Some(flag.app.as_deref())
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        use Command::*;
        match self {
            Whoami(j) | Apps(j) | Users(j) | Tokens(j) => j.json,
            AppsInfo(r) | Config(r) | Releases(r) | Domains(r) | Certs(r) | Perms(r) | Ps(r) | Builds(r)
            | Healthchecks(r) | Limits(r) => r.json.json,
            ReleasesInfo { json, .. } => json.json,
            _ => false,
        }
    }

    /// The `--password` of `register` and `login`.
    pub fn password_flag(&self) -> Option<&str> {
        match self {
            Command::Register(s) | Command::Login(s) => s.password.as_deref(),
            _ => None,
        }
    }

    /// Whether the command works without a readable credentials file: the ones that
    /// replace or remove it.
    pub fn replaces_credentials(&self) -> bool {
        matches!(self, Command::Register(_) | Command::Login(_) | Command::Logout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Command {
        let mut argv = vec!["paas"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().command
    }

    #[test]
    fn names_with_colons_and_app_flags() {
        let cmd = parse(&["config:set", "-a", "hello", "A=1", "B=2"]);
        assert_eq!(cmd.app_flag(), Some(Some("hello")));
        let Command::ConfigSet { assignments, .. } = cmd else {
            panic!("not config:set");
        };
        assert_eq!(assignments, ["A=1", "B=2"]);

        assert_eq!(parse(&["releases", "--json"]).app_flag(), Some(None));
        assert!(parse(&["releases", "--app", "x", "--json"]).json());
        assert_eq!(parse(&["apps", "--json"]).app_flag(), None);
        assert!(parse(&["apps", "--json"]).json());
        assert!(!parse(&["apps:info"]).json());
    }

    #[test]
    fn sign_in_arguments() {
        let cmd = parse(&["login", "http://x", "--username", "alice", "-p", "pw"]);
        assert_eq!(cmd.password_flag(), Some("pw"));
        assert!(cmd.replaces_credentials());
        assert!(Cli::try_parse_from(["paas", "login", "http://x"]).is_err());
    }

    #[test]
    fn run_takes_the_command_after_the_double_dash() {
        let Command::Run { app, no_tty, command } =
            parse(&["run", "-a", "hello", "--", "sh", "-c", "echo -n hi"])
        else {
            panic!("not run");
        };
        assert_eq!((app.app.as_deref(), no_tty), (Some("hello"), false));
        assert_eq!(command, ["sh", "-c", "echo -n hi"]);
        let Command::Run { no_tty, command, .. } = parse(&["run", "--no-tty", "python3", "-V"]) else {
            panic!("not run");
        };
        assert!(no_tty);
        assert_eq!(command, ["python3", "-V"]);
        let mut argv = vec!["paas", "run"];
        argv.push("--");
        assert!(Cli::try_parse_from(argv).is_err(), "a command is required");
    }

    #[test]
    fn logs_flags_as_on_heroku() {
        let Command::Logs { app, num, tail, .. } = parse(&["logs", "-a", "hello", "-n", "20", "-t"]) else {
            panic!("not logs");
        };
        assert_eq!((app.app.as_deref(), num.as_str(), tail), (Some("hello"), "20", true));
        let Command::Logs { num, tail, .. } = parse(&["logs", "--num", "5", "--tail"]) else {
            panic!("not logs");
        };
        assert_eq!((num.as_str(), tail), ("5", true));
        let Command::Logs { num, tail, .. } = parse(&["logs", "-f"]) else {
            panic!("not logs");
        };
        assert_eq!((num.as_str(), tail), ("100", true));
        assert!(parse(&["builds", "--json"]).json());
        assert_eq!(parse(&["builds", "-a", "x"]).app_flag(), Some(Some("x")));
    }

    #[test]
    fn lists_need_at_least_one_item() {
        for args in [["paas", "config:set"], ["paas", "config:unset"], ["paas", "scale"]] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
