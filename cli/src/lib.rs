//! `paas`, the command-line client of paas: talks to the controller's REST API.
//!
//! One run is: parse the command line ([`cli`]), resolve the settings once
//! ([`settings`]: flags, then environment, then the credentials file), run one command
//! body ([`commands`]) against the API ([`client`]), and print data on stdout and talk
//! on stderr ([`output`], [`views`], [`table`]). A failure ends the run with one
//! `error:` line, maybe one `hint:` line, and exit status 1 ([`error`]).

pub mod cli;
pub mod client;
pub mod commands;
pub mod credentials;
pub mod error;
pub mod output;
pub mod remote;
pub mod settings;
pub mod table;
pub mod views;

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

use crate::cli::Cli;
use crate::settings::{Env, Settings};

/// The whole program: returns the exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<error::ExitStatus>().is_some() => {
            ExitCode::from(e.downcast_ref::<error::ExitStatus>().map_or(1, |s| s.0))
        }
        Err(e) => {
            let _ = std::io::stderr().write_all(error::render(&e).as_bytes());
            ExitCode::FAILURE
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::resolve(&cli.command, Env::read(), remote::lookup)?;
    commands::run(cli.command, &settings)
}

/// Prints help and version as clap does; any other clap error becomes the usual
/// `error:` and `hint:` lines.
fn usage_error(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::FAILURE
        }
        _ => {
            let _ = std::io::stderr().write_all(usage_lines(&e.render().to_string()).as_bytes());
            ExitCode::FAILURE
        }
    }
}

/// Folds clap's rendering of a usage error into an `error:` line and a `hint:` line:
/// clap's tip when it gives one, else the usage line.
fn usage_lines(rendered: &str) -> String {
    let lines: Vec<&str> = rendered.lines().map(str::trim).collect();
    // The message, and the indented lines that continue it up to the first blank one
    // ("the following required arguments were not provided:" names them there).
    let message = match lines.iter().position(|l| l.starts_with("error: ")) {
        Some(i) => std::iter::once(&lines[i]["error: ".len()..])
            .chain(lines[i + 1..].iter().copied().take_while(|l| !l.is_empty()))
            .collect::<Vec<_>>()
            .join(" "),
        None => "invalid command line".to_owned(),
    };
    let hint = lines.iter().find_map(|l| l.strip_prefix("tip: ")).map(str::to_owned).or_else(|| {
        lines.iter().find_map(|l| l.strip_prefix("Usage: ").map(|u| format!("usage: {u}; see --help")))
    });
    let mut out = format!("error: {message}\n");
    if let Some(hint) = hint {
        out.push_str(&format!("hint: {hint}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(args: &[&str]) -> String {
        let mut argv = vec!["paas"];
        argv.extend_from_slice(args);
        let Err(e) = Cli::try_parse_from(argv) else {
            panic!("{args:?} should not parse");
        };
        usage_lines(&e.render().to_string())
    }

    #[test]
    fn usage_errors_are_an_error_line_and_a_hint_line() {
        let text = usage(&["config:set"]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], "error: the following required arguments were not provided: <KEY=VALUE>...");
        assert!(lines[1].starts_with("hint: usage: paas config:set"), "{text}");

        let text = usage(&["nope"]);
        assert!(text.starts_with("error: unrecognized subcommand 'nope'\n"), "{text}");
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
