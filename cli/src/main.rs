//! `paas`: the command-line client of paas. All of it lives in the `paas_cli` library.

use std::process::ExitCode;

fn main() -> ExitCode {
    paas_cli::main()
}
