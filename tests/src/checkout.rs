//! A developer's checkout of a test app: files written into a fresh git repository and
//! committed with the real `git` client, pushed to the platform as a user would, and
//! the images its pushes made removed afterwards.

use std::path::Path;
use std::process::{Command, Output};

use tempfile::TempDir;

/// A git repository with the app's files committed on `main`.
pub struct Checkout {
    dir: TempDir,
}

/// What `git push` said and whether it succeeded.
#[derive(Debug)]
pub struct PushOutput {
    /// Whether git exited 0.
    pub success: bool,
    /// Everything git printed on stderr (the `remote:` lines among it).
    pub output: String,
}

impl PushOutput {
    /// Panics, showing the output, unless the push succeeded.
    pub fn assert_success(&self) -> &Self {
        assert!(self.success, "git push failed:\n{}", self.output);
        self
    }

    /// Panics, showing the output, unless the push failed.
    pub fn assert_failure(&self) -> &Self {
        assert!(!self.success, "git push succeeded but should not have:\n{}", self.output);
        self
    }

    /// Panics, showing the output, unless it contains `text`.
    pub fn assert_contains(&self, text: &str) -> &Self {
        assert!(self.output.contains(text), "the push output lacks {text:?}:\n{}", self.output);
        self
    }
}

impl Checkout {
    /// A new repository with `files` (path, content) committed as "first".
    pub fn new(files: &[(&str, &str)]) -> Self {
        let checkout = Self { dir: tempfile::tempdir().expect("a temporary dir") };
        checkout.git_ok(&["init", "-q", "-b", "main"]);
        checkout.commit(files, "first");
        checkout
    }

    /// The working tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `files` and commits them with `message`.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) {
        for (name, text) in files {
            let path = self.dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("the file's directory");
            }
            std::fs::write(&path, text).expect("the file is written");
        }
        self.git_ok(&["add", "-A"]);
        self.git_ok(&["commit", "-q", "--allow-empty", "-m", message]);
    }

    /// Pushes `main` to `url` (credentials in it), as `git push <url> main`.
    pub fn push(&self, url: &str) -> PushOutput {
        let out = self.git(&["push", url, "main"]);
        PushOutput {
            success: out.status.success(),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs git in the checkout, isolated from the machine's and the user's git config.
    pub fn git(&self, args: &[&str]) -> Output {
        self.git_with(&[], args)
    }

    /// [`Checkout::git`] with more environment variables (for git's helpers).
    pub fn git_with(&self, env: &[(&str, &std::ffi::OsStr)], args: &[&str]) -> Output {
        Command::new("git")
            .args(args)
            .envs(env.iter().copied())
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "Dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.com")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.com")
            .output()
            .expect("git runs")
    }

    fn git_ok(&self, args: &[&str]) {
        let out = self.git(args);
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Removes, when dropped, every image the builder made for an app (they carry the
/// label `paas.app=<app>`), so a failing test leaves none behind. Drop it after the
/// containers that ran them.
pub struct ImageCleanup {
    app: String,
}

impl ImageCleanup {
    /// Guards the images of `app`.
    pub fn new(app: &str) -> Self {
        Self { app: app.to_owned() }
    }
}

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        let filter = format!("label=paas.app={}", self.app);
        let listed = Command::new("docker").args(["images", "-q", "--filter", &filter]).output();
        let Ok(listed) = listed else { return };
        let mut ids: Vec<String> =
            String::from_utf8_lossy(&listed.stdout).split_whitespace().map(str::to_owned).collect();
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            let _ = Command::new("docker").args(["rmi", "-f"]).args(&ids).output();
        }
    }
}
