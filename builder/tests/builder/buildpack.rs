//! Pushes without a Dockerfile, built by buildpacks in a build container, with the real
//! `git` and the real Docker engine (needs `paas/stack:bookworm`): what the user reads,
//! what the image holds and runs as, and how failures and limits end a push.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use paas_builder::build::{BuildEnv, BuildpackConfig};
use paas_builder::handler::BoxFuture;
use paas_builder::{BuildLimits, BuildingHandler, Rejection};
use paas_core::{AppName, ConfigKey, ConfigValue, ConfigVars, ProcessType, Procfile};
use tempfile::TempDir;

use crate::helpers::{
    app_with, build_containers, docker, image_exists, spawn_builder_with, BuildContainerGuard, Builder,
    GitUser, ImageGuard, RecordBuilds, TOKEN,
};

/// The host's CA bundle: this machine reaches PyPI through a proxy whose CA only the
/// host trusts.
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The repository's buildpacks, with the host's CA bundle and pip index settings.
fn buildpacks() -> BuildpackConfig {
    let ca_bundle = Some(PathBuf::from(HOST_CA_BUNDLE)).filter(|p| p.is_file());
    BuildpackConfig { ca_bundle, compile_env: host_pip_settings(), ..BuildpackConfig::default() }
}

#[allow(clippy::disallowed_methods)] // The test harness is this program's settings module.
fn host_pip_settings() -> BTreeMap<String, String> {
    ["PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"]
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), std::env::var(name).ok().filter(|v| !v.is_empty())?)))
        .collect()
}

struct Platform {
    builder: Builder,
    builds: Arc<RecordBuilds>,
}

async fn spawn(buildpacks: BuildpackConfig, limits: BuildLimits, env: Option<Arc<dyn BuildEnv>>) -> Platform {
    let builds = Arc::new(RecordBuilds::default());
    let handler = BuildingHandler::connect(builds.clone()).await.expect("no Docker engine answers");
    let mut handler = handler.with_limits(limits).with_buildpacks(buildpacks);
    if let Some(env) = env {
        handler = handler.with_build_env(env);
    }
    Platform { builder: spawn_builder_with(Arc::new(handler), |_| {}).await, builds }
}

async fn spawn_default() -> Platform {
    spawn(buildpacks(), BuildLimits::default(), None).await
}

/// A buildpack directory of one buildpack, `name`, with these scripts.
fn custom_buildpack(name: &str, detect: &str, compile: &str, release: &str) -> (TempDir, BuildpackConfig) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join(name).join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (script, body) in [("detect", detect), ("compile", compile), ("release", release)] {
        std::fs::write(bin.join(script), format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(bin.join(script), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let config = BuildpackConfig { dir: dir.path().to_owned(), order: vec![name.to_owned()], ..buildpacks() };
    (dir, config)
}

/// What a pushed commit leaves: its image and build containers, removed when the test
/// ends.
struct Pushed {
    image: String,
    _image: ImageGuard,
    _containers: BuildContainerGuard,
}

fn guards(sha: &str) -> Pushed {
    let image = format!("paas/hello:{}", &sha[..7]);
    Pushed {
        image: image.clone(),
        _image: ImageGuard(image),
        _containers: BuildContainerGuard(sha.to_owned()),
    }
}

fn assert_lines(stderr: &str, lines: &[&str]) {
    for line in lines {
        assert!(stderr.contains(line), "missing {line:?} in:\n{stderr}");
    }
}

fn procfile(entries: &[(&str, &str)]) -> Procfile {
    Procfile(entries.iter().map(|(t, c)| (ProcessType::parse(t).unwrap(), (*c).to_owned())).collect())
}

const STDLIB_APP: &str = "\
import http.server, os

class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'hello from python\\n'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(('127.0.0.1', int(os.environ.get('PORT', '5000'))), Hello).serve_forever()
";

/// Starts `python3 app.py` in the image and fetches `/` from inside the container.
const FETCH: &str = "\
python3 app.py & for i in $(seq 50); do \
python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://127.0.0.1:5000/\").read().decode(), end=\"\")' \
2>/dev/null && exit 0; sleep 0.1; done; exit 1";

#[tokio::test]
async fn a_stdlib_python_app_builds_with_the_python_buildpack_and_serves() {
    let platform = spawn_default().await;
    let user = GitUser::new();
    let app = app_with(
        &user,
        &[
            ("app.py", STDLIB_APP),
            ("Procfile", "web: python3 app.py\nworker: python3 -c 'import time; time.sleep(1e9)'\n"),
        ],
    )
    .await;
    let sha = user.commit_all(app.path(), "first").await;
    let pushed_commit = guards(&sha);
    let image = &pushed_commit.image;

    let pushed = user.push(app.path(), &platform.builder.url(TOKEN, "hello"), "main").await;
    assert!(pushed.ok, "{}", pushed.stderr);
    assert_lines(
        &pushed.stderr,
        &[
            "remote: -----> Python app detected",
            "remote: -----> Using Python 3.",
            "remote: -----> No requirements.txt, pyproject.toml or setup.py: no packages to install",
            "remote: -----> Discovering process types",
            "remote:        Procfile declares types -> web, worker",
            &format!("remote: -----> Committing {image}"),
            &format!("remote: -----> Built {image}"),
        ],
    );
    let built = platform.builds.last().expect("a build");
    assert_eq!(built.image, *image);
    assert_eq!(
        built.process_types,
        procfile(&[("web", "python3 app.py"), ("worker", "python3 -c 'import time; time.sleep(1e9)'")])
    );
    assert!(build_containers(&sha).is_empty(), "left behind: {:?}", build_containers(&sha));

    let config = docker(&[
        "image",
        "inspect",
        image,
        "--format",
        "{{.Config.User}} {{.Config.WorkingDir}} {{json .Config.Labels}}",
    ])
    .unwrap();
    assert_eq!(config, r#"app /app {"paas.app":"hello"}"#);
    let env = docker(&["image", "inspect", image, "--format", "{{json .Config.Env}}"]).unwrap();
    assert!(env.contains("PATH=/app/.venv/bin:/usr/local/sbin:"), "{env}");
    let who = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        "id -u; command -v python3; ls -A /tmp; ls -A",
    ])
    .unwrap();
    assert_eq!(who, "1000\n/app/.venv/bin/python3\n.venv\nProcfile\napp.py");
    let served = docker(&["run", "--rm", "--network", "none", image, "sh", "-c", FETCH]).unwrap();
    assert_eq!(served, "hello from python");
    platform.builder.stop().await;
}

#[tokio::test]
async fn requirements_are_installed_into_a_virtualenv_first_on_path() {
    let platform = spawn_default().await;
    let user = GitUser::new();
    let app = app_with(
        &user,
        &[("requirements.txt", "six==1.16.0\n"), ("Procfile", "web: python3 -c 'import six'\n")],
    )
    .await;
    let sha = user.commit_all(app.path(), "first").await;
    let pushed_commit = guards(&sha);
    let image = &pushed_commit.image;

    let pushed = user.push(app.path(), &platform.builder.url(TOKEN, "hello"), "main").await;
    assert!(pushed.ok, "{}", pushed.stderr);
    assert_lines(
        &pushed.stderr,
        &[
            "remote: -----> Python app detected",
            "remote: -----> Creating a virtualenv in /app/.venv",
            "remote: -----> Installing requirements.txt with pip",
            "remote:        Collecting six==1.16.0",
            "remote:        Successfully installed six-1.16.0",
        ],
    );
    let imported = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "python3",
        "-c",
        "import sys, six; print(sys.prefix, six.__version__, six.__file__.startswith('/app/.venv/'))",
    ])
    .unwrap();
    assert_eq!(imported, "/app/.venv 1.16.0 True");
    // The build's support files (buildpacks, CA bundle, pip's cache) are not in the image.
    let tmp = docker(&["run", "--rm", "--network", "none", image, "ls", "-A", "/tmp"]).unwrap();
    assert_eq!(tmp, "");
    platform.builder.stop().await;
}

#[tokio::test]
async fn an_app_with_only_a_procfile_builds_with_the_procfile_buildpack() {
    let platform = spawn_default().await;
    let user = GitUser::new();
    let app = user.new_app().await;
    let sha = user.head(app.path()).await;
    let pushed_commit = guards(&sha);

    let pushed = user.push(app.path(), &platform.builder.url(TOKEN, "hello"), "main").await;
    assert!(pushed.ok, "{}", pushed.stderr);
    assert_lines(
        &pushed.stderr,
        &[
            "remote: -----> Procfile app detected",
            "remote: -----> Nothing to compile: the Procfile's commands run on the stack as they are",
            &format!("remote: -----> Built {}", pushed_commit.image),
        ],
    );
    assert_eq!(
        platform.builds.last().unwrap().process_types,
        procfile(&[("web", "python3 -m http.server $PORT")])
    );
    assert!(image_exists(&pushed_commit.image));
    platform.builder.stop().await;
}

#[tokio::test]
async fn a_repo_without_an_app_is_rejected_naming_what_each_buildpack_looks_for() {
    let platform = spawn_default().await;
    let user = GitUser::new();
    let app = app_with(&user, &[("README", "nothing to run here\n")]).await;
    let sha = user.commit_all(app.path(), "first").await;
    let pushed_commit = guards(&sha);

    let pushed = user.push(app.path(), &platform.builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok, "{}", pushed.stderr);
    assert_lines(
        &pushed.stderr,
        &["remote:  !     No Dockerfile, and no buildpack detected an app (python: looks for requirements.txt, \
           pyproject.toml, setup.py or a *.py file; procfile: looks for a Procfile)"],
    );
    assert!(!image_exists(&pushed_commit.image));
    assert!(build_containers(&sha).is_empty(), "left behind: {:?}", build_containers(&sha));
    assert_eq!(platform.builder.bare_ref("hello", "refs/heads/main"), None);
    platform.builder.stop().await;
}

#[tokio::test]
async fn a_failing_compile_shows_pips_error_and_tags_nothing() {
    let platform = spawn_default().await;
    let user = GitUser::new();
    let app = app_with(
        &user,
        &[
            ("requirements.txt", "paas-no-such-package-e3b0c442==1.0\n"),
            ("Procfile", "web: python3 app.py\n"),
        ],
    )
    .await;
    let sha = user.commit_all(app.path(), "first").await;
    let pushed_commit = guards(&sha);

    let pushed = user.push(app.path(), &platform.builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok, "{}", pushed.stderr);
    assert_lines(
        &pushed.stderr,
        &[
            "remote:        ERROR: No matching distribution found for paas-no-such-package-e3b0c442==1.0",
            "remote:  !     failed to compile Python app: bin/compile exited with code 1",
        ],
    );
    assert!(!image_exists(&pushed_commit.image));
    assert!(build_containers(&sha).is_empty(), "left behind: {:?}", build_containers(&sha));
    assert_eq!(platform.builder.bare_ref("hello", "refs/heads/main"), None);
    platform.builder.stop().await;
}

/// Gives every app one config var, `GREETING`.
struct Greeting;

impl BuildEnv for Greeting {
    fn config_vars<'a>(&'a self, _app: &'a AppName) -> BoxFuture<'a, Result<ConfigVars, Rejection>> {
        Box::pin(async {
            let key = ConfigKey::parse("GREETING").unwrap();
            Ok(ConfigVars(BTreeMap::from([(key, ConfigValue::parse("hi there").unwrap())])))
        })
    }
}

#[tokio::test]
async fn config_vars_reach_compile_and_the_release_defaults_name_the_processes() {
    let (_dir, config) = custom_buildpack(
        "greeter",
        "echo Greeter",
        "echo \"-----> Greeting: $(cat \"$3/GREETING\")\"; echo 'cache and env:'; ls -ld \"$2\" \"$3\" | cut -c1-10; \
         echo \"$(cat \"$3/GREETING\")\" > \"$1/greeting.txt\"",
        "printf -- '---\\ndefault_process_types:\\n  web: cat greeting.txt\\nconfig_vars:\\n  GREETED: \"yes\"\\n'",
    );
    let platform = spawn(config, BuildLimits::default(), Some(Arc::new(Greeting))).await;
    let user = GitUser::new();
    let app = app_with(&user, &[("index.txt", "no Procfile\n")]).await;
    let sha = user.commit_all(app.path(), "first").await;
    let pushed_commit = guards(&sha);
    let image = &pushed_commit.image;

    let pushed = user.push(app.path(), &platform.builder.url(TOKEN, "hello"), "main").await;
    assert!(pushed.ok, "{}", pushed.stderr);
    assert_lines(
        &pushed.stderr,
        &[
            "remote: -----> Greeter app detected",
            "remote: -----> Greeting: hi there",
            "remote:        cache and env:",
            "remote:        drwxr-xr-x",
            "remote:        Default types for buildpack -> web",
        ],
    );
    assert_eq!(platform.builds.last().unwrap().process_types, procfile(&[("web", "cat greeting.txt")]));
    let ran = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        "cat greeting.txt; echo $GREETED; ls -A /tmp",
    ])
    .unwrap();
    assert_eq!(ran, "hi there\nyes");
    platform.builder.stop().await;
}

#[tokio::test]
async fn a_compile_over_the_time_limit_is_stopped_and_its_container_removed() {
    let (_dir, config) =
        custom_buildpack("slow", "echo Slow", "echo '-----> Thinking'; sleep 600", "echo ---");
    // The limit covers copying the app in and `bin/detect` too: long enough for those on
    // a loaded machine, so the compile is what it stops.
    let limits = BuildLimits { timeout: Duration::from_secs(8), ..BuildLimits::default() };
    let platform = spawn(config, limits, None).await;
    let user = GitUser::new();
    let app = app_with(&user, &[("slow.txt", "zzz\n")]).await;
    let sha = user.commit_all(app.path(), "first").await;
    let pushed_commit = guards(&sha);

    let pushed = user.push(app.path(), &platform.builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok, "{}", pushed.stderr);
    assert_lines(
        &pushed.stderr,
        &["remote: -----> Thinking", "remote:  !     the build took longer than 8s and was stopped"],
    );
    assert!(build_containers(&sha).is_empty(), "left behind: {:?}", build_containers(&sha));
    assert!(!image_exists(&pushed_commit.image));
    platform.builder.stop().await;
}

#[tokio::test]
async fn a_compile_over_the_process_limit_fails_cleanly() {
    let (_dir, config) =
        custom_buildpack("forky", "echo Forky", "for i in $(seq 2000); do sleep 30 & done; wait", "echo ---");
    let limits = BuildLimits { pids: 64, ..BuildLimits::default() };
    let platform = spawn(config, limits, None).await;
    let user = GitUser::new();
    let app = app_with(&user, &[("fork.txt", "bomb\n")]).await;
    let sha = user.commit_all(app.path(), "first").await;
    let pushed_commit = guards(&sha);

    let pushed = user.push(app.path(), &platform.builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok, "{}", pushed.stderr);
    assert_lines(
        &pushed.stderr,
        &[
            "Cannot fork",
            "remote:  !     failed to compile Forky app: bin/compile exited with code 2 \
             (most likely out of processes; a build may run 64 at once)",
        ],
    );
    assert!(build_containers(&sha).is_empty(), "left behind: {:?}", build_containers(&sha));
    assert!(!image_exists(&pushed_commit.image));
    platform.builder.stop().await;
}

#[tokio::test]
async fn a_compile_out_of_memory_is_rejected_with_a_hint() {
    let (_dir, config) = custom_buildpack(
        "hungry",
        "echo Hungry",
        "python3 -c 'x = bytearray(512 << 20); print(len(x))'",
        "echo ---",
    );
    let limits = BuildLimits { memory_bytes: 64 << 20, ..BuildLimits::default() };
    let platform = spawn(config, limits, None).await;
    let user = GitUser::new();
    let app = app_with(&user, &[("eat.txt", "all of it\n")]).await;
    let sha = user.commit_all(app.path(), "first").await;
    let pushed_commit = guards(&sha);

    let pushed = user.push(app.path(), &platform.builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok, "{}", pushed.stderr);
    assert_lines(
        &pushed.stderr,
        &["remote:  !     failed to compile Hungry app: bin/compile exited with code 137 \
           (killed: most likely out of memory; a build may use 64 MiB)"],
    );
    assert!(build_containers(&sha).is_empty(), "left behind: {:?}", build_containers(&sha));
    assert!(!image_exists(&pushed_commit.image));
    platform.builder.stop().await;
}
