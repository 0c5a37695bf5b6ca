//! End-to-end tests of the `paas` binary against the real controller (paasd in-process,
//! real database). Each test is a user's session at a terminal and asserts on what they
//! see: data on stdout, talk and errors on stderr, and the exit status.
//!
//! Every run, whatever the command, is checked for what must never be seen: a panic, a
//! colour code, or the password.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use paas_core::settings::{APP, CONFIG_DIR, PASSWORD as PASSWORD_VAR};
use paas_tests::{spawn_controller, spawn_controller_with, TestPlatform, PASSWORD};
use serde_json::{json, Value};
use tempfile::TempDir;

/// One user at one terminal: their own home, whose config directory (and so whose
/// credentials) `paas` creates on first login, and their own working directory, which
/// is not a git checkout until they make it one.
struct Cli {
    /// The API's URL, as the user types it.
    url: String,
    home: TempDir,
    work_dir: TempDir,
}

/// What one run of `paas` showed.
struct Run {
    command: String,
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Cli {
    /// A new user of `platform`, not logged in.
    fn new(platform: &TestPlatform) -> Self {
        Self::at(&platform.url)
    }

    /// A new user of the API at `url`, not logged in.
    fn at(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            home: tempfile::tempdir().expect("a home dir"),
            work_dir: tempfile::tempdir().expect("a working dir"),
        }
    }

    /// Runs `paas ARGS` with a clean environment.
    async fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(&[], args).await
    }

    /// Runs `paas ARGS` with a clean environment plus `env`. stdin is not a terminal.
    #[allow(clippy::disallowed_methods)] // PATH is the test runner's, not a paas setting.
    async fn run_with_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_paas"));
        command
            .args(args)
            .current_dir(self.work_dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env(CONFIG_DIR.name, self.config_dir())
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = command.output().await.expect("paas runs");
        let run = Run {
            command: format!("paas {}", args.join(" ").replace(PASSWORD, "<password>")),
            status: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        };
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(!all.contains("panicked") && !all.contains("RUST_BACKTRACE"), "a panic:\n{run}");
        assert!(!all.contains('\u{1b}'), "colour despite NO_COLOR:\n{run}");
        assert!(!all.contains(PASSWORD), "the password is shown:\n{run}");
        run
    }

    /// Runs `paas ARGS` and checks that it succeeded.
    async fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args).await;
        assert_eq!(run.status, Some(0), "`{}` failed:\n{run}", run.command);
        run
    }

    /// Runs `paas ARGS` and checks that it failed as every command fails: exit status 1,
    /// nothing on stdout, and on stderr one `error:` line and maybe one `hint:` line,
    /// after at most the `... failed` line of the step that was under way.
    async fn fails(&self, args: &[&str]) -> Run {
        let run = self.run(args).await;
        run.assert_failed();
        run
    }

    /// `paas register URL --username NAME --password PASSWORD`.
    async fn register(&self, username: &str) -> Run {
        self.ok(&["register", &self.url, "--username", username, "--password", PASSWORD]).await
    }

    /// `paas login URL --username NAME --password PASSWORD`.
    async fn login(&self, username: &str) -> Run {
        self.ok(&["login", &self.url, "--username", username, "--password", PASSWORD]).await
    }

    /// Runs a command other than paas in the working directory, e.g. `git init`.
    fn shell(&self, program: &str, args: &[&str]) {
        let status = std::process::Command::new(program)
            .args(args)
            .current_dir(self.work_dir.path())
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .status()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(status.success(), "{program} {args:?} failed");
    }

    /// `$PAAS_CONFIG_DIR`: not there until `paas` makes it.
    fn config_dir(&self) -> PathBuf {
        self.home.path().join("paas-config")
    }

    fn credentials_path(&self) -> PathBuf {
        self.config_dir().join("credentials.json")
    }
}

impl Run {
    /// stdout as JSON.
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }

    /// The message of the `error:` line.
    fn error(&self) -> &str {
        self.stderr.lines().find_map(|l| l.strip_prefix("error: ")).unwrap_or_default()
    }

    /// The message of the `hint:` line.
    fn hint(&self) -> &str {
        self.stderr.lines().find_map(|l| l.strip_prefix("hint: ")).unwrap_or_default()
    }

    /// The first line of stderr.
    fn first_line(&self) -> &str {
        self.stderr.lines().next().unwrap_or_default()
    }

    #[track_caller]
    fn assert_failed(&self) {
        assert_eq!(self.status, Some(1), "`{}` should fail with status 1:\n{self}", self.command);
        assert_eq!(self.stdout, "", "a failure prints no data:\n{self}");
        let mut lines: &[&str] = &self.stderr.lines().collect::<Vec<_>>();
        if lines.first().is_some_and(|step| step.ends_with("... failed")) {
            lines = &lines[1..];
        }
        let shape_ok = match lines {
            [error] => error.starts_with("error: "),
            [error, hint] => error.starts_with("error: ") && hint.starts_with("hint: "),
            _ => false,
        };
        assert!(shape_ok, "a failure is an error line and maybe a hint line:\n{self}");
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "$ {}\n[exit {:?}]\n--- stdout\n{}--- stderr\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// The `version` of each release in `paas releases --json`.
fn versions(releases: &Value) -> Vec<u64> {
    releases.as_array().expect("a list").iter().map(|r| r["version"].as_u64().expect("a version")).collect()
}

/// The `name` (or `username`) of each item of a JSON list.
fn names<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array().expect("a list").iter().map(|x| x[field].as_str().expect("a name")).collect()
}

/// A URL where nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("an address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_user_creates_configures_rolls_back_scales_and_destroys_an_app() {
    let platform = spawn_controller().await;
    let admin = Cli::new(&platform);
    let url = platform.url.as_str();

    let registered = admin.ok(&["register", url, "--username", "admin", "--password", PASSWORD]).await;
    assert!(registered.stderr.contains("Logged in as admin"), "{registered}");
    let login = admin.ok(&["login", url, "--username", "admin", "--password", PASSWORD]).await;
    assert!(login.stderr.starts_with(&format!("Logged in as admin at {url}")), "{login}");
    assert_eq!(admin.ok(&["whoami"]).await.stdout, "admin\n");
    assert_eq!(admin.ok(&["whoami", "--json"]).await.json()["username"], "admin");

    let created = admin.ok(&["apps:create", "hello"]).await;
    assert!(created.stderr.starts_with("Creating app hello... done\n"), "{created}");
    assert!(created.stdout.contains("hello.paas.test"), "the app's URL: {created}");
    let apps = admin.ok(&["apps", "--json"]).await.json();
    assert_eq!(names(&apps, "name"), ["hello"]);

    let set = admin.ok(&["config:set", "A=1", "B=2", "-a", "hello"]).await;
    assert_eq!(set.stderr, "Setting A, B and restarting hello... done, v2\n");
    assert_eq!(set.stdout, "");
    let config = admin.ok(&["config", "-a", "hello"]).await;
    assert_eq!(config.stdout, "A: 1\nB: 2\n");
    assert_eq!(
        admin.ok(&["config", "-a", "hello", "--json"]).await.json()["values"],
        json!({"A": "1", "B": "2"})
    );

    let releases = admin.ok(&["releases", "-a", "hello"]).await;
    let rows: Vec<&str> = releases.stdout.lines().collect();
    assert_eq!(rows.len(), 3, "a header and two releases:\n{releases}");
    assert!(rows[0].starts_with("VERSION"), "{releases}");
    assert!(rows[1].starts_with("v2 (current)") && rows[1].contains("admin"), "{releases}");
    assert!(rows[2].starts_with("v1 "), "{releases}");
    assert_eq!(versions(&admin.ok(&["releases", "-a", "hello", "--json"]).await.json()), [2, 1]);

    let rollback = admin.ok(&["rollback", "v1", "-a", "hello"]).await;
    assert!(rollback.stderr.starts_with("Rolling back hello to v1... done, v3"), "{rollback}");
    assert_eq!(versions(&admin.ok(&["releases", "-a", "hello", "--json"]).await.json()), [3, 2, 1]);
    assert_eq!(
        admin.ok(&["config", "-a", "hello", "--json"]).await.json(),
        json!({"release": 3, "values": {}})
    );
    let empty = admin.ok(&["config", "-a", "hello"]).await;
    assert_eq!((empty.stdout.as_str(), empty.stderr.as_str()), ("", "hello has no config vars.\n"));
    let v3 = admin.ok(&["releases:info", "v3", "-a", "hello"]).await;
    assert!(v3.stdout.starts_with("Version: v3 (current)\n"), "{v3}");
    assert_eq!(admin.ok(&["releases:info", "v3", "-a", "hello", "--json"]).await.json()["config"], json!({}));
    let v2 = admin.ok(&["releases:info", "v2", "-a", "hello"]).await;
    assert!(v2.stdout.ends_with("A: 1\nB: 2\n"), "v2 keeps its config:\n{v2}");

    let ps = admin.ok(&["ps", "-a", "hello"]).await;
    assert_eq!(ps.stdout, "", "no scheduler runs in this test, so no processes");
    assert!(ps.stderr.contains("runs no processes"), "{ps}");
    assert_eq!(admin.ok(&["ps", "-a", "hello", "--json"]).await.json(), json!([]));
    let scaled = admin.ok(&["scale", "web=2", "-a", "hello"]).await;
    assert_eq!(scaled.stdout, "web=2\n");
    let info = admin.ok(&["apps:info", "-a", "hello", "--json"]).await.json();
    assert_eq!(info["formation"], json!([{"type": "web", "quantity": 2}]));
    assert_eq!(info["release"], 3, "scaling is not a release");

    admin.ok(&["domains:add", "www.example.com", "-a", "hello"]).await;
    let domains = admin.ok(&["domains", "-a", "hello"]).await;
    assert!(domains.stdout.lines().any(|l| l.starts_with("www.example.com ")), "{domains}");
    let domains = admin.ok(&["domains", "-a", "hello", "--json"]).await.json();
    assert_eq!(names(&domains, "hostname"), ["hello.paas.test", "www.example.com"]);
    let info = admin.ok(&["apps:info", "-a", "hello"]).await;
    assert!(info.stdout.contains("Domains:       hello.paas.test, www.example.com\n"), "{info}");
    assert!(info.stdout.contains("Processes:     web=2\n"), "{info}");

    let destroyed = admin.ok(&["apps:destroy", "-a", "hello", "--confirm", "hello"]).await;
    assert!(destroyed.stderr.starts_with("Destroying hello"), "{destroyed}");
    let apps = admin.ok(&["apps"]).await;
    assert_eq!(apps.stdout, "", "no apps left:\n{apps}");
    assert!(apps.stderr.contains("no apps"), "{apps}");
    assert_eq!(admin.ok(&["apps", "--json"]).await.json(), json!([]));

    let logout = admin.ok(&["logout"]).await;
    assert_eq!(logout.stderr, format!("Logged out of {url}\n"));
    let whoami = admin.fails(&["whoami"]).await;
    assert_eq!(whoami.first_line(), "error: not logged in");
    assert!(whoami.hint().contains("paas login"), "{whoami}");
    assert_eq!(admin.ok(&["logout"]).await.stderr, "Not logged in\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_private_and_hold_no_password() {
    let platform = spawn_controller().await;
    let admin = Cli::new(&platform);
    admin.register("admin").await;
    admin.login("admin").await;

    let path = admin.credentials_path();
    let mode = |p: &Path| std::fs::metadata(p).expect("it exists").permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "credentials.json is readable by its owner only");
    assert_eq!(mode(&admin.config_dir()), 0o700, "and so is the directory paas made for it");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(PASSWORD), "the password is never stored");
    let stored: Value = serde_json::from_str(&text).expect("credentials.json is JSON");
    assert_eq!(
        (stored["api_url"].as_str(), stored["username"].as_str()),
        (Some(platform.url.as_str()), Some("admin"))
    );

    admin.ok(&["logout"]).await;
    assert!(!path.exists(), "logout removes the file");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_credentials_file_says_how_to_start_over() {
    let platform = spawn_controller().await;
    let admin = Cli::new(&platform);
    admin.register("admin").await;
    let token = "eyJ.a-token-that-must-not-be-shown";
    std::fs::write(admin.credentials_path(), format!("{{\"api_url\": 7, \"token\": \"{token}")).unwrap();

    let run = admin.fails(&["apps"]).await;
    assert!(run.error().contains("is not a valid credentials file"), "{run}");
    assert_eq!(run.hint(), "run paas logout, then paas login URL --username NAME");
    assert!(!run.stderr.contains(token), "{run}");

    admin.ok(&["logout"]).await;
    admin.login("admin").await;
    assert_eq!(admin.ok(&["whoami"]).await.stdout, "admin\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_session_says_to_log_in_again() {
    let platform = spawn_controller_with(|config| config.jwt_ttl = Duration::ZERO).await;
    let admin = Cli::new(&platform);
    admin.register("admin").await;
    // The controller allows a few seconds of clock skew past a token's expiry.
    tokio::time::sleep(Duration::from_secs(7)).await;

    let run = admin.fails(&["apps"]).await;
    assert_eq!(run.first_line(), "error: your session has expired");
    assert_eq!(run.hint(), format!("run paas login {} --username admin", platform.url));
}

#[tokio::test(flavor = "multi_thread")]
async fn mistakes_and_refusals_are_an_error_line_and_exit_status_1() {
    let platform = spawn_controller().await;
    let admin = Cli::new(&platform);
    admin.register("admin").await;
    admin.ok(&["apps:create", "hello"]).await;

    let nope = admin.fails(&["config", "-a", "nope"]).await;
    assert!(nope.first_line().starts_with("error: app nope not found"), "{nope}");
    assert!(nope.hint().contains("paas apps"), "{nope}");

    let bad = admin.fails(&["apps:create", "Bad_Name"]).await;
    assert!(bad.first_line().starts_with("error: invalid app name \"Bad_Name\""), "{bad}");

    let secret = "s3cr3t-value";
    let novalue = admin.fails(&["config:set", "NOVALUE", "-a", "hello"]).await;
    assert!(novalue.first_line().starts_with("error: "), "{novalue}");
    assert!(novalue.error().contains("KEY=VALUE"), "{novalue}");
    let bad_key = admin.fails(&["config:set", &format!("1BAD={secret}"), "-a", "hello"]).await;
    assert!(bad_key.first_line().starts_with("error: "), "{bad_key}");
    assert!(!bad_key.stderr.contains(secret), "a config value is never echoed:\n{bad_key}");
    assert_eq!(admin.ok(&["config", "-a", "hello", "--json"]).await.json()["release"], 1, "nothing was set");

    let unconfirmed = admin.fails(&["apps:destroy", "-a", "hello"]).await;
    assert!(unconfirmed.first_line().starts_with("error: "), "{unconfirmed}");
    assert_eq!(unconfirmed.hint(), "run paas apps:destroy -a hello --confirm hello");
    let mistyped = admin.fails(&["apps:destroy", "-a", "hello", "--confirm", "hullo"]).await;
    assert_eq!(mistyped.first_line(), "error: --confirm hullo does not match the app hello");
    assert_eq!(names(&admin.ok(&["apps", "--json"]).await.json(), "name"), ["hello"], "hello survives");

    let no_app = admin.fails(&["config"]).await;
    assert_eq!(no_app.first_line(), "error: no app given");
    assert!(no_app.hint().contains("-a APP"), "{no_app}");

    let usage = admin.fails(&["config:set", "-a", "hello"]).await;
    assert!(usage.first_line().starts_with("error: the following required arguments"), "{usage}");

    let no_password = admin.fails(&["login", &platform.url, "--username", "admin"]).await;
    assert!(no_password.first_line().starts_with("error: no password given"), "{no_password}");
    assert!(no_password.hint().contains(PASSWORD_VAR.name), "{no_password}");
    let wrong = admin.fails(&["login", &platform.url, "-u", "admin", "-p", "not the password at all"]).await;
    assert!(wrong.first_line().starts_with("error: "), "{wrong}");
    assert!(!wrong.stderr.contains("not the password at all"), "{wrong}");

    // Someone else's app does not exist, as far as bob can tell.
    admin.ok(&["register", &platform.url, "--username", "bob", "--password", PASSWORD]).await;
    let bob = Cli::new(&platform);
    bob.login("bob").await;
    for args in [
        &["config", "-a", "hello"][..],
        &["releases", "-a", "hello"],
        &["config:set", "A=1", "-a", "hello"],
        &["apps:destroy", "-a", "hello", "--confirm", "hello"],
    ] {
        let run = bob.fails(args).await;
        assert!(run.error().contains("not found"), "{run}");
    }
    assert_eq!(bob.fails(&["config", "-a", "hello"]).await.first_line(), "error: app hello not found");
    assert_eq!(
        admin.ok(&["config", "-a", "hello", "--json"]).await.json()["release"],
        1,
        "bob changed nothing"
    );

    // An API that does not answer.
    let dead = closed_port_url();
    let unreachable = Cli::at(&dead);
    let run = unreachable.fails(&["login", &dead, "-u", "admin", "-p", PASSWORD]).await;
    assert_eq!(run.first_line(), format!("error: cannot reach the paas API at {dead}"));
    assert!(!unreachable.credentials_path().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_controller_that_went_away_cannot_be_reached() {
    let platform = spawn_controller().await;
    let url = platform.url.clone();
    let admin = Cli::new(&platform);
    admin.register("admin").await;
    platform.stop().await.expect("paasd stops cleanly");

    let run = admin.fails(&["apps"]).await;
    assert_eq!(run.first_line(), format!("error: cannot reach the paas API at {url}"));
    assert!(run.hint().contains("controller is running"), "{run}");
    let run = admin.fails(&["config:set", "A=1", "-a", "hello"]).await;
    assert_eq!(run.first_line(), "Setting A and restarting hello... failed");
    assert_eq!(run.error(), format!("cannot reach the paas API at {url}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_comes_from_the_git_remote_or_paas_app() {
    let platform = spawn_controller().await;
    let admin = Cli::new(&platform);
    admin.register("admin").await;
    admin.ok(&["apps:create", "hello"]).await;
    admin.ok(&["apps:create", "other"]).await;
    admin.ok(&["config:set", "FROM=flag", "-a", "hello"]).await;

    // Not a checkout: no app.
    assert_eq!(admin.fails(&["config"]).await.first_line(), "error: no app given");

    let with_env = admin.run_with_env(&[(APP.name, "hello")], &["config"]).await;
    assert_eq!((with_env.status, with_env.stdout.as_str()), (Some(0), "FROM: flag\n"), "{with_env}");
    let bad_env = admin.run_with_env(&[(APP.name, "Nope!")], &["config"]).await;
    bad_env.assert_failed();
    assert!(bad_env.error().contains(APP.name), "{bad_env}");

    admin.shell("git", &["init", "-q"]);
    admin.shell("git", &["remote", "add", "paas", "http://git.paas.test/hello.git"]);
    assert_eq!(admin.ok(&["config"]).await.stdout, "FROM: flag\n");
    admin.ok(&["config:set", "FROM=git"]).await;
    assert_eq!(admin.ok(&["config", "-a", "hello"]).await.stdout, "FROM: git\n");
    assert_eq!(versions(&admin.ok(&["releases", "--json"]).await.json()), [3, 2, 1]);

    // -a beats PAAS_APP beats the remote.
    let run = admin.run_with_env(&[(APP.name, "other")], &["config", "--json"]).await;
    assert_eq!(run.json()["values"], json!({}), "PAAS_APP names other:\n{run}");
    let run = admin.run_with_env(&[(APP.name, "other")], &["config", "-a", "hello", "--json"]).await;
    assert_eq!(run.json()["values"], json!({"FROM": "git"}));

    admin.shell("git", &["remote", "set-url", "paas", "http://git.paas.test/"]);
    let run = admin.fails(&["config"]).await;
    assert_eq!(run.first_line(), "error: the 'paas' git remote does not name an app");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_registering_a_user_stays_logged_in() {
    let platform = spawn_controller().await;
    let admin = Cli::new(&platform);
    admin.register("admin").await;

    let registered = admin.register("bob").await;
    assert!(registered.stderr.contains("you are still logged in as admin"), "{registered}");
    assert_eq!(admin.ok(&["whoami"]).await.stdout, "admin\n");

    let users = admin.ok(&["users"]).await;
    let rows: Vec<Vec<&str>> = users.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0][..3], ["USERNAME", "ROLE", "STATUS"]);
    assert_eq!(rows[1][..3], ["admin", "admin", "active"]);
    assert_eq!(rows[2][..3], ["bob", "user", "active"]);
    assert_eq!(names(&admin.ok(&["users", "--json"]).await.json(), "username"), ["admin", "bob"]);

    // Bob, at his own terminal, signs in with PAAS_PASSWORD instead of a flag.
    let bob = Cli::new(&platform);
    let login = bob
        .run_with_env(&[(PASSWORD_VAR.name, PASSWORD)], &["login", &platform.url, "--username", "bob"])
        .await;
    assert_eq!(login.status, Some(0), "{login}");
    assert_eq!(bob.ok(&["whoami"]).await.stdout, "bob\n");
    let forbidden = bob.fails(&["users"]).await;
    assert!(forbidden.error().contains("admin"), "says why:\n{forbidden}");

    // Bob may not register others.
    let run = bob.fails(&["register", &platform.url, "--username", "carol", "--password", PASSWORD]).await;
    assert!(run.first_line().starts_with("Registering carol"), "{run}");
    assert_eq!(names(&admin.ok(&["users", "--json"]).await.json(), "username"), ["admin", "bob"]);

    // The admin may, however they spell the URL.
    let spelled = format!("{}/", platform.url);
    admin.ok(&["register", &spelled, "--username", "carol", "--password", PASSWORD]).await;
    assert_eq!(admin.ok(&["whoami"]).await.stdout, "admin\n");

    // A disabled user is told so, and what to do; enabled again, they carry on.
    admin.ok(&["users:disable", "bob"]).await;
    let disabled = bob.fails(&["apps"]).await;
    assert_eq!(disabled.first_line(), "error: user bob is disabled");
    assert_eq!(disabled.hint(), "ask an admin to enable the account");
    admin.ok(&["users:enable", "bob"]).await;
    assert_eq!(bob.ok(&["whoami"]).await.stdout, "bob\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_sets_who_may_register() {
    let platform = spawn_controller().await;
    let admin = Cli::new(&platform);
    admin.register("admin").await;

    // A mode that does not exist is refused before anything is sent.
    let bad = admin.fails(&["registration:set", "sometimes"]).await;
    assert_eq!(
        bad.first_line(),
        "error: invalid registration mode \"sometimes\": expected open, admin_only or disabled"
    );
    assert_eq!(bad.hint(), "paas registration:set open|admin_only|disabled");

    let set = admin.ok(&["registration:set", "open"]).await;
    assert_eq!(set.stdout, "");
    assert!(set.stderr.contains("Setting registration to open"), "{set}");
    let bob = Cli::new(&platform);
    bob.register("bob").await;
    let refused = bob.fails(&["registration:set", "disabled"]).await;
    assert!(refused.error().contains("only admins"), "{refused}");

    admin.ok(&["registration:set", "disabled"]).await;
    let carol = Cli::new(&platform);
    let closed =
        carol.fails(&["register", &platform.url, "--username", "carol", "--password", PASSWORD]).await;
    assert!(closed.error().contains("registration is disabled"), "{closed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_shown_once_listed_without_secret_and_revoked() {
    let platform = spawn_controller().await;
    let admin = Cli::new(&platform);
    admin.register("admin").await;
    let empty = admin.ok(&["tokens"]).await;
    assert_eq!(empty.stdout, "");
    assert!(empty.stderr.contains("tokens:create"), "{empty}");

    let created = admin.ok(&["tokens:create", "--description", "ci"]).await;
    let secret = created.stdout.trim_end().to_owned();
    assert!(secret.starts_with("paas_") && !secret.contains(char::is_whitespace), "{created}");
    assert_eq!(created.stdout, format!("{secret}\n"), "the secret alone, on one line:\n{created}");
    assert!(created.stderr.contains("not shown again"), "{created}");

    let listed = admin.ok(&["tokens"]).await;
    assert!(!listed.stdout.contains(&secret), "{listed}");
    let row: Vec<&str> = listed.stdout.lines().nth(1).expect("a row").split_whitespace().collect();
    assert_eq!(row[1], "ci", "{listed}");
    assert!(secret.starts_with(row[2].trim_end_matches("...")), "a prefix of the secret:\n{listed}");
    let tokens = admin.ok(&["tokens", "--json"]).await.json();
    assert!(!tokens.to_string().contains(&secret));
    assert_eq!(names(&tokens, "description"), ["ci"]);
    let id = tokens[0]["id"].as_i64().expect("an id").to_string();
    assert_eq!(row[0], id);

    let pasted = admin.fails(&["tokens:revoke", &secret]).await;
    assert!(!pasted.stderr.contains(&secret), "a pasted secret is not echoed:\n{pasted}");

    admin.ok(&["tokens:revoke", &id]).await;
    assert_eq!(admin.ok(&["tokens", "--json"]).await.json(), json!([]));
    let again = admin.fails(&["tokens:revoke", &id]).await;
    assert!(again.error().contains("not found"), "{again}");
}

/// What git itself prints for `git ARGS` in the user's checkout, with `input` on stdin,
/// in the user's environment (so the credential helper finds their credentials).
fn git_says(cli: &Cli, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .args(args)
        .current_dir(cli.work_dir.path())
        .env("HOME", cli.home.path())
        .env(CONFIG_DIR.name, cli.config_dir())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn git_remote_points_the_checkout_at_the_app_and_git_authenticates_with_the_token() {
    let platform = spawn_controller().await;
    let admin = Cli::new(&platform);
    admin.register("admin").await;
    admin.ok(&["apps:create", "hello"]).await;

    // Outside a checkout it says what to do.
    let outside = admin.fails(&["git:remote", "-a", "hello"]).await;
    assert!(outside.hint().contains("git init"), "{outside}");

    admin.shell("git", &["init", "-q"]);
    let run = admin.ok(&["git:remote", "-a", "hello"]).await;
    assert!(run.stderr.contains("git push paas main"), "{run}");
    assert_eq!(git_says(&admin, &["remote", "get-url", "paas"], ""), "http://git.paas.test/hello.git\n");
    // Now the app comes from the remote.
    assert_eq!(admin.ok(&["apps:info", "--json"]).await.json()["name"], "hello");

    // git asks the helper, which answers with the stored session.
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(admin.credentials_path()).unwrap()).unwrap();
    let filled =
        git_says(&admin, &["credential", "fill"], "protocol=http\nhost=git.paas.test\npath=hello.git\n\n");
    assert!(filled.contains("username=admin\n"), "{filled}");
    assert!(filled.contains(&format!("password={}\n", stored["token"].as_str().unwrap())), "{filled}");

    // Running it again changes nothing twice: one empty entry (no other helper is
    // asked for this host), then ours.
    admin.ok(&["git:remote", "-a", "hello"]).await;
    let helpers = git_says(&admin, &["config", "--get-all", "credential.http://git.paas.test.helper"], "");
    let helpers: Vec<&str> = helpers.lines().collect();
    assert_eq!(helpers.len(), 2, "{helpers:?}");
    assert_eq!(helpers[0], "");
    assert!(helpers[1].ends_with("git:credential"), "{helpers:?}");

    // Logged out, the helper gives git nothing, and git (not allowed to prompt) fails.
    admin.ok(&["logout"]).await;
    let failed = std::process::Command::new("git")
        .args(["credential", "fill"])
        .current_dir(admin.work_dir.path())
        .env("HOME", admin.home.path())
        .env(CONFIG_DIR.name, admin.config_dir())
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"protocol=http\nhost=git.paas.test\n\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(!failed.status.success());
    assert!(!String::from_utf8_lossy(&failed.stdout).contains("password="));
}

#[tokio::test(flavor = "multi_thread")]
async fn builds_are_listed_and_logs_without_docker_say_they_need_the_engine() {
    let platform = spawn_controller().await;
    let admin = Cli::new(&platform);
    admin.register("admin").await;
    admin.ok(&["apps:create", "hello"]).await;

    let none = admin.ok(&["builds", "-a", "hello"]).await;
    assert_eq!(none.stdout, "", "no builds, no table:\n{none}");
    assert!(none.stderr.contains("hello has no builds yet"), "{none}");
    assert_eq!(admin.ok(&["builds", "-a", "hello", "--json"]).await.json(), json!([]));

    platform.stand_in_build("hello", "paas/hello:1", &json!({"web": "serve $PORT"})).await;
    let builds = admin.ok(&["builds", "-a", "hello"]).await;
    assert_eq!(builds.stderr, "=== hello Builds\n");
    let rows: Vec<Vec<&str>> = builds.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "a header and one build:\n{builds}");
    assert_eq!(rows[0], ["ID", "COMMIT", "RELEASES", "BY", "CREATED"]);
    assert_eq!(rows[1][1..], ["stand-i", "v1", "test", "1970-01-01T00:00:00.000Z"], "{builds}");
    let json = admin.ok(&["builds", "-a", "hello", "--json"]).await.json();
    assert_eq!((json[0]["commit"].clone(), json[0]["releases"].clone()), (json!("stand-in"), json!([1])));
    let missing = admin.fails(&["builds", "-a", "nope"]).await;
    assert_eq!(missing.error(), "app nope not found");

    for args in [&["logs", "-a", "hello"][..], &["logs", "-a", "hello", "--tail", "-n", "5"]] {
        let logs = admin.fails(args).await;
        assert_eq!(logs.error(), "this platform runs no Docker engine, so it has no logs", "{logs}");
        assert!(logs.hint().contains("logs need the Docker engine"), "{logs}");
    }
    let bad = admin.fails(&["logs", "-a", "hello", "-n", "many"]).await;
    assert_eq!(bad.error(), "invalid number of lines: many");
    let too_many = admin.fails(&["logs", "-a", "hello", "-n", "10001"]).await;
    assert_eq!(too_many.error(), "lines must be 0 to 10000");
}
