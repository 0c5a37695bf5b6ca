//! `logs [-n N] [--tail] [--type TYPE] [--release N]`: the app's log lines (of one
//! process type or release when asked), printed as they arrive. The router's access
//! lines are not among them.

use std::io::{self, BufRead, BufReader, Write};

use super::Ctx;
use crate::error::CliError;

/// `paas logs`: the newest lines; with `--tail`, then every new line until Ctrl-C.
pub(super) fn show(
    ctx: &Ctx,
    num: &str,
    tail: bool,
    process_type: Option<&str>,
    release: Option<&str>,
) -> anyhow::Result<()> {
    let lines: u32 = num.trim().parse().map_err(|_| {
        CliError::new(format!("invalid number of lines: {num}"))
            .hint("pass -n with a whole number, e.g. -n 200")
    })?;
    let mut path = format!("logs?lines={lines}&follow={tail}");
    if let Some(process_type) = process_type {
        let process_type = paas_core::ProcessType::parse(process_type.trim()).map_err(|e| {
            CliError::new(format!("invalid process type {process_type:?}: {e}")).hint("e.g. --type web")
        })?;
        path.push_str(&format!("&type={process_type}"));
    }
    if let Some(release) = release {
        let version = paas_core::ReleaseVersion::parse(release.trim()).map_err(|e| {
            CliError::new(format!("invalid release {release:?}: {e}"))
                .hint("e.g. --release 3 or --release v3")
        })?;
        path.push_str(&format!("&release={}", version.get()));
    }
    let app = ctx.app()?;
    let api = ctx.api()?;
    let response = api.get_text_stream(&format!("/apps/{app}/{path}"), tail)?;
    let broke = |e: io::Error| {
        CliError::new(format!("the log stream from the paas API at {} broke: {e}", api.base()))
    };
    let mut reader = BufReader::new(response);
    let mut line = Vec::new();
    let mut out = io::stdout().lock();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(broke)? == 0 {
            return Ok(());
        }
        // Each line as it comes, not when a buffer fills. A closed pipe
        // (`paas logs -t | grep -m1 x`) ends the command quietly.
        match out.write_all(&line).and_then(|()| out.flush()) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
}
