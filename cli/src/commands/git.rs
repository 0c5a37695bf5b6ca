//! `git:remote` and the git credential helper behind it.
//!
//! `paas git:remote -a hello` adds (or updates) the remote `paas` pointing at the app's
//! git URL and configures, in this checkout only, a credential helper for the
//! platform's git host: git then runs `paas git:credential get` when it needs to
//! authenticate, and the CLI answers with the stored username and token. An empty
//! helper entry comes first, so helpers configured elsewhere (a credential store that
//! would keep a copy of the token on disk) are not asked for this host.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};

use paas_core::api::AppInfo;

use super::Ctx;
use crate::error::CliError;
use crate::output;

/// Runs `git ARGS` in the current directory; `Ok(false)` when git says no.
fn git(args: &[&str]) -> anyhow::Result<bool> {
    let status = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| CliError::new(format!("cannot run git: {e}")).hint("install git"))?;
    Ok(status.success())
}

/// Like [`git`], but a refusal is an error saying what failed.
fn git_must(args: &[&str], what: &str) -> anyhow::Result<()> {
    if git(args)? {
        Ok(())
    } else {
        Err(CliError::new(format!("git could not {what}"))
            .hint("run paas git:remote inside a git checkout (git init makes one)")
            .into())
    }
}

/// The base URL git credentials are scoped to: the git URL without `/<app>.git`.
fn credential_scope(git_url: &str) -> &str {
    git_url.rsplit_once('/').map_or(git_url, |(base, _)| base)
}

/// The helper command git runs: this very binary, quoted for git's shell.
fn helper_command() -> anyhow::Result<String> {
    let exe =
        std::env::current_exe().map_err(|e| CliError::new(format!("cannot find the paas binary: {e}")))?;
    let exe = exe.to_string_lossy().replace('\'', r"'\''");
    Ok(format!("!'{exe}' git:credential"))
}

/// `paas git:remote [-a APP] [-r NAME]`.
pub(super) fn remote(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let app = ctx.app()?;
    ctx.settings.credentials.as_ref().ok_or_else(CliError::not_logged_in)?;
    let info: AppInfo = ctx.api()?.get_as(&format!("/apps/{app}"))?;
    git_must(&["rev-parse", "--git-dir"], "find a checkout here")?;
    if git(&["remote", "get-url", name])? {
        git_must(&["remote", "set-url", name, &info.git_url], "update the remote")?;
    } else {
        git_must(&["remote", "add", name, &info.git_url], "add the remote")?;
    }
    let key = format!("credential.{}.helper", credential_scope(&info.git_url));
    // Clears what an earlier git:remote set (exit status 5 when there was nothing).
    git(&["config", "--local", "--unset-all", &key])?;
    git_must(&["config", "--local", "--add", &key, ""], "configure git credentials")?;
    git_must(&["config", "--local", "--add", &key, &helper_command()?], "configure git credentials")?;
    output::say(format!("Git remote {name} now points at {app}: git push {name} main deploys it"));
    Ok(())
}

/// `paas git:credential get|store|erase`: git's credential helper protocol. git writes
/// `key=value` lines and a blank line; for `get` the helper answers with `username=`
/// and `password=` lines. `store` and `erase` need nothing: the CLI's own credentials
/// file is the store.
pub(super) fn credential(ctx: &Ctx, operation: &str) -> anyhow::Result<()> {
    // Read what git sends, so that it never writes into a closed pipe.
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        if line?.is_empty() {
            break;
        }
    }
    if operation != "get" {
        return Ok(());
    }
    let creds = ctx.settings.credentials.as_ref().ok_or_else(CliError::not_logged_in)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "username={}", creds.username)?;
    writeln!(out, "password={}", creds.token)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_scoped_to_the_git_host() {
        assert_eq!(credential_scope("http://git.localhost/hello.git"), "http://git.localhost");
        assert_eq!(
            credential_scope("https://git.example.com:8443/hello.git"),
            "https://git.example.com:8443"
        );
    }
}
