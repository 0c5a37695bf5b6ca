//! The error a user sees: one `error:` line and, when there is something to do about
//! it, one `hint:` line.
//!
//! Command bodies return `anyhow::Error`; a [`CliError`] inside it carries the hint.
//! Any other error is shown as its cause chain on one line. Messages never contain a
//! token or a password: nothing secret is ever put into one.

use std::fmt;

/// An error with a message a user can act on and, maybe, a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CliError {
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl CliError {
    /// An error without a hint.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), hint: None }
    }

    /// The same error with a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The "not logged in" error.
    pub fn not_logged_in() -> Self {
        Self::new("not logged in").hint("run paas login URL --username NAME")
    }
}

/// Not a failure of paas: the command it ran (`paas run`) ended with this status,
/// which becomes paas's own; nothing is printed for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the command exited with status {0}")]
pub struct ExitStatus(pub u8);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<paas_core::ParseError> for CliError {
    fn from(e: paas_core::ParseError) -> Self {
        Self::new(e.to_string())
    }
}

/// The lines printed for an error: `error: ...` and maybe `hint: ...`, each a single
/// line whatever the messages contain.
pub fn render(err: &anyhow::Error) -> String {
    let (message, hint) = match err.downcast_ref::<CliError>() {
        Some(e) => (e.message.clone(), e.hint.clone()),
        None => (format!("{err:#}"), None),
    };
    let mut out = format!("error: {}\n", one_line(&message));
    if let Some(hint) = hint {
        out.push_str(&format!("hint: {}\n", one_line(&hint)));
    }
    out
}

/// Folds line breaks and other control characters into spaces.
fn one_line(s: &str) -> String {
    s.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn error_and_hint_lines() {
        let err = anyhow::Error::new(CliError::new("no app").hint("pass -a APP"));
        assert_eq!(render(&err), "error: no app\nhint: pass -a APP\n");
        let err = anyhow::Error::new(CliError::new("boom"));
        assert_eq!(render(&err), "error: boom\n");
    }

    #[test]
    fn other_errors_show_their_chain_on_one_line() {
        let io = std::io::Error::other("disk full\nreally");
        let err = Err::<(), _>(io).context("cannot write x").unwrap_err();
        assert_eq!(render(&err), "error: cannot write x: disk full really\n");
    }
}
