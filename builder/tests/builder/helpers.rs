//! `spawn_builder()` starts the real builder on a free port with a temporary data dir;
//! `GitUser` runs the real `git` with its own HOME and no prompts; `ImageGuard` and
//! `BuildContainerGuard` remove what a build left on the Docker engine, passed or not.

use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paas_builder::handler::BoxFuture;
use paas_builder::{
    AcceptPushes, BuildResult, BuildSink, BuilderConfig, BuilderState, Progress, PushHandler, Rejection,
    StaticTokens,
};
use paas_core::AppName;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const TOKEN: &str = "s3cret-token";

pub struct Builder {
    pub addr: std::net::SocketAddr,
    pub data: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub async fn spawn_builder() -> Builder {
    spawn_builder_with(Arc::new(AcceptPushes), |_| {}).await
}

pub async fn spawn_builder_with(
    handler: Arc<dyn PushHandler>,
    tweak: impl FnOnce(&mut BuilderConfig),
) -> Builder {
    let data = tempfile::tempdir().unwrap();
    let mut config = BuilderConfig::new(data.path().join("repos"));
    config.request_timeout = Duration::from_secs(30);
    tweak(&mut config);
    let app = |s: &str| AppName::parse(s).unwrap();
    let tokens = StaticTokens::new().allow(TOKEN, [app("hello"), app("big")]).with_app(app("secret-app"));
    let state = BuilderState::new(config, Arc::new(tokens), handler);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        paas_builder::run(listener, state, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Builder { addr, data, stop: Some(stop), task: Some(task) }
}

impl Builder {
    pub fn url(&self, token: &str, app: &str) -> String {
        format!("http://someone:{token}@{}/{app}.git", self.addr)
    }

    pub fn bare_ref(&self, app: &str, name: &str) -> Option<String> {
        let repo =
            git2::Repository::open_bare(self.data.path().join("repos").join(format!("{app}.git"))).ok()?;
        let r = repo.find_reference(name).ok()?;
        Some(r.target()?.to_string())
    }

    pub fn has_commit(&self, app: &str, sha: &str) -> bool {
        let repo =
            git2::Repository::open_bare(self.data.path().join("repos").join(format!("{app}.git"))).unwrap();
        let found = repo.find_commit(git2::Oid::from_str(sha).unwrap()).is_ok();
        found
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task.take().unwrap()).await.unwrap().unwrap();
    }
}

/// A person with git: a HOME of their own and no terminal prompts.
pub struct GitUser {
    pub home: TempDir,
}

pub struct Pushed {
    pub ok: bool,
    pub stderr: String,
}

impl From<Output> for Pushed {
    fn from(o: Output) -> Self {
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        Self { ok: o.status.success(), stderr }
    }
}

impl GitUser {
    pub fn new() -> Self {
        Self { home: tempfile::tempdir().unwrap() }
    }

    pub async fn git(&self, dir: &Path, args: &[&str]) -> Output {
        let out = tokio::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .env("HOME", self.home.path())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.com")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.com")
            .env("LANG", "C")
            .output();
        tokio::time::timeout(Duration::from_secs(60), out).await.expect("git hung").unwrap()
    }

    async fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git(dir, args).await;
        assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// A repository on `main` with one commit.
    pub async fn new_app(&self) -> TempDir {
        let dir = tempfile::tempdir().unwrap();
        self.ok(dir.path(), &["init", "-q", "-b", "main"]).await;
        std::fs::write(dir.path().join("Procfile"), "web: python3 -m http.server $PORT\n").unwrap();
        self.commit_all(dir.path(), "first").await;
        dir
    }

    /// Commits everything; returns the commit id.
    pub async fn commit_all(&self, dir: &Path, message: &str) -> String {
        self.ok(dir, &["add", "-A"]).await;
        self.ok(dir, &["commit", "-q", "-m", message]).await;
        self.head(dir).await
    }

    pub async fn head(&self, dir: &Path) -> String {
        self.ok(dir, &["rev-parse", "HEAD"]).await
    }

    pub async fn push(&self, dir: &Path, url: &str, refspec: &str) -> Pushed {
        self.git(dir, &["push", url, refspec]).await.into()
    }
}

/// Bytes that do not compress.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Removes an image when the test ends, passed or not.
pub struct ImageGuard(pub String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

pub fn image_exists(image: &str) -> bool {
    docker(&["image", "inspect", image]).is_ok()
}

/// Runs the docker CLI; its stdout, or its stderr as the error.
pub fn docker(args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("docker").args(args).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The ids of the build containers of `commit` to the app `hello` still on the engine.
pub fn build_containers(commit: &str) -> Vec<String> {
    let filter = format!("name=paas-build-hello-{}-", &commit[..7]);
    docker(&["ps", "-aq", "--filter", &filter]).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// Force-removes the build containers of a commit when the test ends, so a failed test
/// leaves none behind.
pub struct BuildContainerGuard(pub String);

impl Drop for BuildContainerGuard {
    fn drop(&mut self) {
        for id in build_containers(&self.0) {
            let _ = docker(&["rm", "-f", &id]);
        }
    }
}

/// A git repository on `main` with `files`, not yet committed.
pub async fn app_with(user: &GitUser, files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    assert!(user.git(dir.path(), &["init", "-q", "-b", "main"]).await.status.success());
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// Keeps every build and says `-----> Built <image>`, as `LogBuilds` does.
#[derive(Default)]
pub struct RecordBuilds(pub Mutex<Vec<BuildResult>>);

impl RecordBuilds {
    pub fn last(&self) -> Option<BuildResult> {
        self.0.lock().unwrap().last().cloned()
    }
}

impl BuildSink for RecordBuilds {
    fn built<'a>(
        &'a self,
        result: BuildResult,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            progress.line(&format!("-----> Built {}", result.image)).await;
            self.0.lock().unwrap().push(result);
            Ok(())
        })
    }
}
