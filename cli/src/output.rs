//! Where text goes: stdout is data (tables, values, JSON), stderr is talk (progress,
//! headings, confirmations). No colour is ever written, so `NO_COLOR` holds trivially;
//! clap's help honours it on its own.

use std::fmt::Display;
use std::io::{self, Write};

use serde_json::Value;

/// Writes data to stdout. A closed pipe (`paas apps | head -1`) is not an error.
pub fn data(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Writes one line of data to stdout.
pub fn data_line(line: impl Display) -> anyhow::Result<()> {
    data(&format!("{line}\n"))
}

/// Writes the API's JSON to stdout, pretty-printed.
pub fn json(value: &Value) -> anyhow::Result<()> {
    data(&format!("{}\n", serde_json::to_string_pretty(value)?))
}

/// Writes one line of talk to stderr.
pub fn say(line: impl Display) {
    // Nothing sensible is left to do when stderr is gone.
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// A step of work shown on stderr as `Creating app hello... done`. The text before
/// `done` appears when the step starts; a step dropped unfinished ends its line with
/// `failed`, so the error that follows starts on a line of its own.
#[must_use = "finish the step with done()"]
pub struct Step {
    finished: bool,
}

impl Step {
    /// Prints `{what}... ` and starts the step.
    pub fn start(what: impl Display) -> Self {
        let mut err = io::stderr().lock();
        let _ = write!(err, "{what}... ");
        let _ = err.flush();
        Self { finished: false }
    }

    /// Ends the line with `done` and `suffix`, e.g. `, v2`.
    pub fn done(mut self, suffix: impl Display) {
        self.finished = true;
        say(format_args!("done{suffix}"));
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.finished {
            say("failed");
        }
    }
}
