//! An app's git repository for the benchmarks that push: files written, committed and
//! pushed with the real `git` client, isolated from the machine's and the user's git
//! configuration.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::{env, process};

/// Writes `files` (path, content) under `dir`, making it when missing.
pub fn write_files(dir: &Path, files: &[(&str, String)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?;
    }
    Ok(())
}

/// A git repository of the app, committed on `main` with the real `git` client,
/// isolated from the machine's and the user's git configuration.
pub struct Checkout {
    dir: PathBuf,
    home: PathBuf,
}

impl Checkout {
    /// A new repository in `dir` with `files` committed.
    pub fn create(dir: &Path, home: &Path, files: &[(&str, String)]) -> anyhow::Result<Self> {
        write_files(dir, files)?;
        let checkout = Self { dir: dir.to_owned(), home: home.to_owned() };
        process::read(checkout.git().args(["init", "-q", "-b", "main"]))?;
        checkout.commit(&[], "v1")?;
        Ok(checkout)
    }

    /// Writes `files` and commits everything with `message`.
    pub fn commit(&self, files: &[(&str, String)], message: &str) -> anyhow::Result<()> {
        write_files(&self.dir, files)?;
        process::read(self.git().args(["add", "-A"]))?;
        process::read(self.git().args(["commit", "-q", "-m", message]))?;
        Ok(())
    }

    fn git(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.dir)
            .env(env::HOME, &self.home)
            .env(env::XDG_CONFIG_HOME, self.home.join(".config"))
            .env(env::GIT_CONFIG_NOSYSTEM, "1")
            .env(env::GIT_TERMINAL_PROMPT, "0")
            .env(env::GIT_AUTHOR_NAME, "Bench")
            .env(env::GIT_AUTHOR_EMAIL, "bench@example.com")
            .env(env::GIT_COMMITTER_NAME, "Bench")
            .env(env::GIT_COMMITTER_EMAIL, "bench@example.com")
            .env(env::NO_PROXY, "127.0.0.1,localhost")
            .env(env::NO_PROXY_LOWER, "127.0.0.1,localhost");
        cmd
    }

    /// `git push <url> main`, its output read as it arrives so that each line is timed
    /// from `start`; fails, showing the output (`secret` blotted out), unless git exits
    /// 0. Gives the time git exited and the lines.
    pub fn push(&self, url: &str, start: Instant, secret: &str) -> anyhow::Result<Pushed> {
        let mut child = self
            .git()
            .args(["push", url, "main"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("could not start `git push`")?;
        let mut stderr = child.stderr.take().context("git's stderr")?;
        let mut lines = Vec::new();
        let mut line = Vec::new();
        let mut buf = [0; 8192];
        loop {
            let n = match stderr.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err).context("could not read git's output"),
            };
            let now = start.elapsed();
            for &byte in &buf[..n] {
                if byte == b'\n' || byte == b'\r' {
                    lines.push((now, String::from_utf8_lossy(&line).into_owned()));
                    line.clear();
                } else {
                    line.push(byte);
                }
            }
        }
        if !line.is_empty() {
            lines.push((start.elapsed(), String::from_utf8_lossy(&line).into_owned()));
        }
        let status = child.wait().context("could not wait for `git push`")?;
        let took = start.elapsed();
        if !status.success() {
            let output: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).filter(|l| !l.is_empty()).collect();
            bail!("`git push` failed ({status}):\n{}", output.join("\n").replace(secret, "<token>"));
        }
        Ok(Pushed { took, lines })
    }
}

/// What `git push` did.
pub struct Pushed {
    /// From the clock's start to git's exit.
    pub took: Duration,
    /// Each line of its output (stderr) and when it arrived, from the clock's start.
    pub lines: Vec<(Duration, String)>,
}
