//! Running child processes, and finding the repository: what every command shares.
//!
//! Commands echo what they run (`$ cargo fmt --all -- --check`) on stderr, and a failure
//! names the command and its exit status, so a CI log reads without xtask's source.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context};

use crate::env;

/// The workspace root: xtask lives in `<root>/xtask`.
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// `cargo` (the one that runs xtask, when known), in the workspace root.
pub fn cargo() -> Command {
    let mut cmd = Command::new(env::var(env::CARGO).unwrap_or_else(|| "cargo".to_owned()));
    cmd.current_dir(repo_root());
    cmd
}

/// Runs `cmd` with the terminal's stdout and stderr; fails unless it exits with 0.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = show(cmd);
    eprintln!("$ {shown}");
    let status = cmd.status().with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its stdout; a failure carries its stderr and stdout.
pub fn read(cmd: &mut Command) -> anyhow::Result<String> {
    let output = output(cmd)?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}):\n{}{}",
            show(cmd),
            output.status,
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout),
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `cmd` quietly (no stdin, output captured) whatever its exit status.
pub fn output(cmd: &mut Command) -> anyhow::Result<Output> {
    cmd.stdin(Stdio::null()).output().with_context(|| format!("could not start `{}`", show(cmd)))
}

/// Whether `program` is found on `PATH` (or, given as a path, exists).
pub fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    Command::new("sh")
        .args(["-c", "command -v \"$1\"", "sh", program])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether xtask runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.trim_ascii() == b"0")
}

/// `cmd` as a user would type it: program and arguments, quoted where needed.
fn show(cmd: &Command) -> String {
    let mut shown = String::new();
    for word in std::iter::once(cmd.get_program()).chain(cmd.get_args()) {
        let word = word.to_string_lossy();
        if !shown.is_empty() {
            shown.push(' ');
        }
        let plain =
            !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c));
        if plain {
            shown.push_str(&word);
        } else {
            let _ = write!(shown, "'{}'", word.replace('\'', r"'\''"));
        }
    }
    shown
}
