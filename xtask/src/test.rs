//! `cargo xtask test`: everything CI runs, in order, stopping at the first failure.
//!
//! Steps: Debian packages (Chromium and its driver among them, for the dashboard's
//! browser test), `cargo fmt --check`, `cargo clippy -D warnings`,
//! `cargo build --bins` (the end-to-end tests run the real binaries), the fuzz targets
//! of `core/fuzz` and `router/fuzz` (built once, each run for a few seconds), the stack image
//! (made when missing, checked always), the tests on SQLite, then the private
//! PostgreSQL cluster and the tests again against it. Both test runs use cargo-nextest
//! (installed when missing; `.config/nextest.toml` says how many run at once) and
//! receive the stack image's tag. A summary with each step's time ends the output, whether the run passed
//! or not.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use crate::{apt, docker, env, postgres, process, stack};

/// The flags of `cargo xtask test`.
#[derive(Debug, Default)]
pub struct Options {
    /// `--no-lint`: skip fmt and clippy.
    no_lint: bool,
    /// `--sqlite-only`: skip the PostgreSQL run.
    sqlite_only: bool,
    /// `--no-fuzz`: skip building and running the fuzz targets.
    no_fuzz: bool,
    /// Everything after `--`, given to both `cargo nextest run` runs.
    test_args: Vec<String>,
}

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--no-lint" => options.no_lint = true,
                "--sqlite-only" => options.sqlite_only = true,
                "--no-fuzz" => options.no_fuzz = true,
                "--" => {
                    options.test_args = args.cloned().collect();
                    break;
                }
                other => bail!(
                    "unknown option `{other}` for `test`\n\
                     hint: arguments for cargo nextest run go after `--`, e.g. `cargo xtask test -- NAME`"
                ),
            }
        }
        Ok(options)
    }
}

pub fn run(options: Options) -> anyhow::Result<()> {
    let mut steps = Steps::default();
    let result = run_steps(&options, &mut steps);
    steps.print_summary();
    result
}

fn run_steps(options: &Options, steps: &mut Steps) -> anyhow::Result<()> {
    steps.run("packages", || {
        let mut needs = apt::BUILD_PACKAGES.to_vec();
        needs.extend_from_slice(stack::PACKAGES);
        needs.extend_from_slice(apt::REGISTRY_PACKAGES);
        needs.extend_from_slice(apt::BROWSER_PACKAGES);
        needs.extend_from_slice(apt::ACME_PACKAGES);
        needs.extend_from_slice(apt::TLS_TEST_PACKAGES);
        if !options.sqlite_only {
            needs.extend_from_slice(postgres::PACKAGES);
        }
        apt::ensure_packages(&needs)
    })?;

    if options.no_lint {
        steps.skip("fmt", "--no-lint");
        steps.skip("clippy", "--no-lint");
    } else {
        steps.run("fmt", || {
            process::run(process::cargo().args(["fmt", "--all", "--", "--check"]))
                .map_err(|err| anyhow!("{err:#}\nhint: `cargo fmt --all` formats the code"))
        })?;
        steps.run("clippy", || {
            process::run(process::cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
    }

    steps.run("build", || process::run(process::cargo().args(["build", "--workspace", "--bins"])))?;

    if options.no_fuzz {
        steps.skip("fuzz", "--no-fuzz");
    } else {
        steps.run("fuzz", fuzz)?;
    }

    let mut stack_image = String::new();
    steps.run("stack", || {
        docker::ensure_engine()?;
        stack_image = stack::ensure(false)?;
        eprintln!("xtask: {}={stack_image}", env::TEST_STACK_IMAGE);
        Ok(())
    })?;

    steps.run("test (sqlite)", || {
        process::run(
            nextest()?
                .args(&options.test_args)
                .env(env::TEST_STACK_IMAGE, &stack_image)
                .env_remove(env::TEST_POSTGRES_URL)
                .env_remove(env::TEST_ROLLOUT_ROUNDS),
        )
    })?;

    if options.sqlite_only {
        steps.skip("postgres", "--sqlite-only");
        steps.skip("test (postgres)", "--sqlite-only");
        return Ok(());
    }
    let mut url = String::new();
    steps.run("postgres", || {
        url = postgres::ensure_running()?;
        eprintln!("xtask: {}={url}", env::TEST_POSTGRES_URL);
        Ok(())
    })?;
    steps.run("test (postgres)", || {
        process::run(
            nextest()?
                .args(postgres_test_args(&options.test_args))
                .env(env::TEST_STACK_IMAGE, &stack_image)
                .env(env::TEST_POSTGRES_URL, &url)
                .env(env::TEST_ROLLOUT_ROUNDS, env::TEST_ROLLOUT_ROUNDS_POSTGRES),
        )
    })
}

/// End-to-end tests the PostgreSQL run leaves out, to keep CI within 40 minutes: the
/// slowest flows of Docker, git and a browser, and the TLS scan. All run on SQLite. The dashboard's
/// queries run on PostgreSQL in `dashboard.rs`; the image collector's marking of
/// collected builds (`hygiene.rs`) is then shown on SQLite only.
const SKIPPED_ON_POSTGRES: &[&str] = &[
    "a_person_scales_rolls_back_and_reveals_config_in_the_browser",
    "old_images_go_and_a_destroyed_app_leaves_nothing",
    // TLS of the router only (no store involved): 45 s of scanning.
    "testssl_finds_no_deprecated_protocol_weak_cipher_or_vulnerability",
];

/// `cargo nextest run --workspace`, after installing cargo-nextest when it is missing.
/// There are no doctests to run (the code's examples are `text` blocks), which
/// nextest would leave out.
fn nextest() -> anyhow::Result<std::process::Command> {
    if !process::on_path("cargo-nextest") {
        process::run(process::cargo().args(["install", "cargo-nextest", "--locked"]))?;
    }
    let mut cmd = process::cargo();
    cmd.args(["nextest", "run", "--workspace"]);
    Ok(cmd)
}

/// The PostgreSQL run's `cargo nextest run` arguments: the user's, then `--skip` for each of
/// [`SKIPPED_ON_POSTGRES`] among the filters after `--` (nextest reads libtest's `--skip`).
fn postgres_test_args(user: &[String]) -> Vec<String> {
    let mut args = user.to_vec();
    if !args.iter().any(|a| a == "--") {
        args.push("--".into());
    }
    for name in SKIPPED_ON_POSTGRES {
        args.extend(["--skip".to_owned(), (*name).to_owned()]);
    }
    args
}

/// The cargo-fuzz workspaces, each its own workspace outside the main one.
const FUZZ_DIRS: &[&str] = &["core/fuzz", "router/fuzz"];
/// How long each fuzz target runs: enough to catch a shallow crash, short enough that
/// the whole step stays within a few minutes once built.
const FUZZ_SECONDS: u32 = 10;
/// Lets stable rustc take the `-Z` flags cargo-fuzz passes (sanitizers, coverage), so
/// no nightly toolchain is needed.
const RUSTC_BOOTSTRAP: &str = "RUSTC_BOOTSTRAP";

/// Installs cargo-fuzz when it is missing, builds every fuzz target (into
/// `target/fuzz`, kept between runs) and runs each for [`FUZZ_SECONDS`]. A crash fails
/// the step; its input is in `<fuzz dir>/artifacts/<target>/`.
fn fuzz() -> anyhow::Result<()> {
    if !process::on_path("cargo-fuzz") {
        process::run(process::cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let root = process::repo_root();
    let target_dir = root.join("target/fuzz");
    let target_dir = target_dir.to_str().ok_or_else(|| anyhow!("the repository's path is not UTF-8"))?;
    for dir in FUZZ_DIRS {
        let cargo_fuzz = |args: &[&str]| {
            let mut cmd = process::cargo();
            cmd.current_dir(root.join(dir)).env(RUSTC_BOOTSTRAP, "1").arg("fuzz").args(args);
            cmd
        };
        // Unoptimised: a fresh CI clone builds every dependency with the sanitizer, and
        // the short run is a smoke test, not a search.
        process::run(&mut cargo_fuzz(&["build", "--dev", "--target-dir", target_dir]))?;
        let targets = process::read(&mut cargo_fuzz(&["list"]))?;
        for target in targets.lines().map(str::trim).filter(|t| !t.is_empty()) {
            let max_time = format!("-max_total_time={FUZZ_SECONDS}");
            process::run(&mut cargo_fuzz(&[
                "run",
                "--dev",
                "--target-dir",
                target_dir,
                target,
                "--",
                &max_time,
            ]))?;
        }
    }
    Ok(())
}

/// The steps run so far, with their outcome and time.
#[derive(Default)]
struct Steps {
    done: Vec<(&'static str, Outcome)>,
}

enum Outcome {
    Passed(Duration),
    Failed(Duration),
    Skipped(&'static str),
}

impl Steps {
    /// Runs one step; its error names the step.
    fn run(&mut self, name: &'static str, step: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
        eprintln!("\nxtask: ==> {name}");
        let start = Instant::now();
        let result = step();
        let took = start.elapsed();
        match result {
            Ok(()) => {
                self.done.push((name, Outcome::Passed(took)));
                Ok(())
            }
            Err(err) => {
                self.done.push((name, Outcome::Failed(took)));
                Err(err.context(format!("step `{name}` failed")))
            }
        }
    }

    fn skip(&mut self, name: &'static str, why: &'static str) {
        self.done.push((name, Outcome::Skipped(why)));
    }

    fn print_summary(&self) {
        eprintln!("\nxtask: summary");
        for (name, outcome) in &self.done {
            match outcome {
                Outcome::Passed(took) => {
                    eprintln!("  ok       {name:<16} {:>7.1}s", took.as_secs_f64())
                }
                Outcome::Failed(took) => {
                    eprintln!("  FAILED   {name:<16} {:>7.1}s", took.as_secs_f64())
                }
                Outcome::Skipped(why) => eprintln!("  skipped  {name:<16}          ({why})"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_run_skips_the_slowest_flows_after_the_users_arguments() {
        let skips: Vec<String> =
            SKIPPED_ON_POSTGRES.iter().flat_map(|n| ["--skip".to_owned(), (*n).to_owned()]).collect();
        let mut want = vec!["--".to_owned()];
        want.extend(skips.clone());
        assert_eq!(postgres_test_args(&[]), want);
        let user = ["deploy".to_owned(), "--".to_owned(), "--nocapture".to_owned()];
        let mut want = user.to_vec();
        want.extend(skips);
        assert_eq!(postgres_test_args(&user), want);
    }
}
