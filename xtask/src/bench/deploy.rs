//! `cargo xtask bench deploy`: seconds from `git push` to the first 200 of the new
//! release, cold (the first push of a new app) and warm (a second push, one line
//! changed), side by side with `docker build` + `docker run` of the same app on the
//! same machine and Docker engine.
//!
//! It makes sure of the packages and the stack image, builds `paasd`, `paas-router` and
//! `paas` in release mode, and starts one `target/release/paasd` for the whole
//! benchmark (see `platform.rs`): the scheduler on, SQLite in a fresh data dir, every
//! listener on a free loopback port (see `server.rs`), an admin with an API token. Then
//! it runs N rounds, each deploying in turn: paas with
//! a Dockerfile (cold, warm), paas with buildpacks (cold, warm; left out when the
//! warm-up round shows they fail), docker (cold, warm). Round 0 is a warm-up, not
//! counted. A deploy's clock starts when its first command starts; the app is polled
//! (`probe.rs`) until a poll is answered 200 with the new version, which stops the
//! clock. paas's `git push` output is read as it arrives, and the time
//! of each stage line (`-----> Build finished`, `-----> Pushed`, ...) splits the push
//! into stages.
//!
//! `platform::Cleanup` removes, also when the run fails, what the benchmark made on the
//! engine, after paasd and its router have stopped. The results are printed and written to the `## Deploy`
//! section of `docs/benchmarks.md`; other sections are kept.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use reqwest::Method;
use serde_json::json;

use super::git::{write_files, Checkout};
use super::platform::{docker, Platform, BENCH_LABEL, CONTAINER_PORT, DOCKERFILE, STACK_IMAGE};
use super::probe::{Answer, Poll, Target, MAX_IN_FLIGHT, POLL_INTERVAL, PROBE_TIMEOUT};
use super::report::{self, median, opt_secs, ratio, secs, Machine};
use super::server;
use crate::process;

/// Counted rounds, by default.
const DEFAULT_RUNS: usize = 5;
/// The heading of the section of `docs/benchmarks.md` the results replace.
const HEADING: &str = "## Deploy";
/// A failed poll that took this long is counted apart: a request that hung.
const SLOW_POLL: Duration = Duration::from_secs(1);
/// A deploy not live this long after its first command started fails the benchmark.
const LIVE_TIMEOUT: Duration = Duration::from_secs(300);
/// The issue's goal for a warm push, reported (never asserted).
const GOAL: Duration = Duration::from_secs(5);
/// The Procfile of the buildpack app.
const PROCFILE: &str = "web: python3 app.py\n";

/// Lines of paas's push output that end a stage, and the stage they end: the first
/// line (after `remote: `) that starts with the first text and contains the second.
const STAGES: &[(&str, &str, &str)] = &[
    ("-----> Building ", "", "receive"),
    ("-----> Build finished", "", "build"),
    ("-----> Pushed ", "", "registry push"),
    ("-----> Released ", "", "release"),
    ("-----> v", " is up", "rollout"),
];
/// The stages after the push output's: until `git push` returns, and until the first 200.
const LAST_STAGES: [&str; 2] = ["git exits", "first 200"];
/// The baseline's stages: until `docker build` exits, until `docker run` exits (after
/// `docker rm -f` of the old container, when warm), and until the first 200.
const DOCKER_STAGES: [&str; 3] = ["build", "(rm -f +) run", "start"];

/// The flags of `cargo xtask bench deploy`.
#[derive(Debug)]
pub struct Options {
    /// `--runs N`: counted rounds.
    runs: usize,
}

impl Options {
    /// Parses the arguments after `bench deploy`.
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self { runs: DEFAULT_RUNS };
        super::parse_counts("deploy", args, &mut [("--runs", &mut options.runs)])?;
        Ok(options)
    }

    /// The arguments of `cargo xtask bench` that give these options.
    pub fn args(&self) -> Vec<String> {
        vec!["deploy".to_owned(), "--runs".to_owned(), self.runs.to_string()]
    }
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let stack_tag = super::platform::prepare()?;
    let load = report::load_average();
    let tools = format!(
        "{}; {}; stack image {STACK_IMAGE} = {stack_tag}",
        super::platform::engine(),
        report::command("git", &["--version"]),
    );

    let program = process::repo_root().join("target/release/paasd");
    let mut bench = Platform::start(&program, "bench deploy", |_| {})?;
    let mut results: BTreeMap<(Setup, Kind), Vec<Deploy>> = BTreeMap::new();
    let mut buildpack_failure = None;
    for round in 0..=options.runs {
        let counted = round > 0;
        let note = if counted { "" } else { " (warm-up, not counted)" };
        eprintln!("\nxtask: ==> round {round} of {}{note}", options.runs);
        for setup in [Setup::Dockerfile, Setup::Buildpack, Setup::Docker] {
            if setup == Setup::Buildpack && buildpack_failure.is_some() {
                continue;
            }
            let deployed = match setup {
                Setup::Docker => docker_round(&bench, round),
                _ => paas(&mut bench, setup, round),
            };
            let deploys = match deployed {
                Ok(deploys) => deploys,
                Err(err) if setup == Setup::Buildpack && !counted => {
                    eprintln!("xtask: warning: buildpack builds fail, leaving them out: {err:#}");
                    buildpack_failure = Some(rejection(&format!("{err:#}")));
                    continue;
                }
                Err(err) => return Err(err.context(format!("round {round}: `{}` failed", setup.label()))),
            };
            for (kind, deploy) in [Kind::Cold, Kind::Warm].into_iter().zip(deploys) {
                eprintln!("xtask: {}, {}: {}{note}", setup.label(), kind.name(), deploy.summary(setup));
                if counted {
                    results.entry((setup, kind)).or_default().push(deploy);
                }
            }
        }
    }
    bench.finish()?;

    let report =
        Report { runs: options.runs, machine: Machine::read(load), tools, results, buildpack_failure };
    println!();
    print!("{}", report.terminal_table());
    report::write_section(HEADING, &report.doc_section())
}

/// What is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Setup {
    /// paas, the app with a Dockerfile.
    Dockerfile,
    /// paas, the app with a Procfile and no Dockerfile.
    Buildpack,
    /// The baseline: `docker build` and `docker run` of the app with a Dockerfile.
    Docker,
}

impl Setup {
    fn label(self) -> &'static str {
        match self {
            Self::Dockerfile => "paas, Dockerfile",
            Self::Buildpack => "paas, buildpack (procfile/python)",
            Self::Docker => "docker build + docker run",
        }
    }

    /// The start of its apps' names.
    fn prefix(self) -> &'static str {
        match self {
            Self::Dockerfile => "dockerfile",
            Self::Buildpack => "buildpack",
            Self::Docker => "docker",
        }
    }

    /// The names of [`Deploy::stage_lengths`].
    fn stage_names(self) -> Vec<&'static str> {
        match self {
            Self::Docker => DOCKER_STAGES.to_vec(),
            _ => STAGES.iter().map(|(_, _, name)| *name).chain(LAST_STAGES).collect(),
        }
    }

    /// The app's files at `version`, for the run `run_id`.
    fn files(self, version: &str, run_id: &str) -> Vec<(&'static str, String)> {
        let app = ("app.py", app_py(version, run_id));
        match self {
            Self::Dockerfile | Self::Docker => vec![app, ("Dockerfile", DOCKERFILE.to_owned())],
            Self::Buildpack => vec![app, ("Procfile", PROCFILE.to_owned())],
        }
    }
}

/// Which push of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// The first push of a new app; it is live when it answers `v1`.
    Cold,
    /// The second, one line changed; it is live when it answers `v2`.
    Warm,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Cold => "cold",
            Self::Warm => "warm",
        }
    }
}

/// The app: answers every GET with 200 and `<version> <run id>`. The run id makes each
/// run's file unique, so that no build finds an earlier run's layer in the cache.
fn app_py(version: &str, run_id: &str) -> String {
    format!(
        r#"import http.server, os
VERSION = "{version}"
RUN = "{run_id}"
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s %s\n" % (VERSION, RUN)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, format, *args):
        pass
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), App).serve_forever()
"#
    )
}

/// One measured deploy.
struct Deploy {
    /// How long its commands took: `git push`, or `docker build` (+ `docker rm`) +
    /// `docker run`.
    commands: Duration,
    /// From the start of its first command to the first 200 with the new version.
    live: Duration,
    /// How long polls failed after the old version had answered: the time from its
    /// last 200 to the next 200, summed. Zero for a cold deploy.
    unavailable: Duration,
    /// What the polls got meanwhile, and how often ([`Polled::gap`]).
    gap: BTreeMap<String, usize>,
    /// The longest of those failed polls.
    longest_failure: Duration,
    /// When each stage but the last two ended, from the start: for paas when each
    /// [`STAGES`] line arrived (`None` when it did not), for docker when the build ended.
    stages: Vec<Option<Duration>>,
}

impl Deploy {
    /// Each stage's length ([`Setup::stage_names`]): `stages`, then until the commands
    /// exited and until live; `None` when a stage's line is missing and the next one's
    /// too, zero when a stage ended before the previous one (the app answered before
    /// git exited).
    fn stage_lengths(&self) -> Vec<Option<Duration>> {
        let mut ends: Vec<Option<Duration>> = vec![Some(Duration::ZERO)];
        ends.extend(self.stages.iter().copied());
        ends.extend([Some(self.commands), Some(self.live)]);
        ends.windows(2).map(|pair| Some(pair[1]?.saturating_sub(pair[0]?))).collect()
    }

    /// `commands 2.10 s, live after 2.60 s, unavailable 0.30 s [502 ×12] (receive 0.05 s, ...)`.
    fn summary(&self, setup: Setup) -> String {
        let gap = if self.gap.is_empty() {
            String::new()
        } else {
            format!(" [{}]", gap_list(&self.gap, self.longest_failure))
        };
        format!(
            "commands {}, live after {}, unavailable {}{gap} ({})",
            secs(self.commands),
            secs(self.live),
            secs(self.unavailable),
            stage_list(&setup.stage_names(), &self.stage_lengths())
        )
    }
}

/// One round of a paas setup: a new app pushed (cold), then pushed again with one
/// line changed (warm); the app is deleted afterwards, also when a push failed.
fn paas(p: &mut Platform, setup: Setup, round: usize) -> anyhow::Result<[Deploy; 2]> {
    let app = format!("{}-{}-{round}", setup.prefix(), p.suffix);
    p.cleanup.apps.push(app.clone());
    p.api
        .send(&p.client, Method::POST, "/v1/apps", Some(json!({ "name": app })))
        .with_context(|| format!("could not create the app {app}"))?;
    let deployed = push_twice(p, setup, &app);
    let deleted = p.api.send(&p.client, Method::DELETE, &format!("/v1/apps/{app}"), None);
    let deploys = deployed?;
    deleted.with_context(|| format!("could not delete the app {app}"))?;
    Ok(deploys)
}

fn push_twice(p: &Platform, setup: Setup, app: &str) -> anyhow::Result<[Deploy; 2]> {
    let checkout = Checkout::create(&p.dir.path.join(app), &p.home, &setup.files("v1", app))?;
    let url = format!("http://{}:{}@{}/{app}.git", server::USERNAME, p.token, p.paasd.builder_addr);
    let target = Target {
        url: format!("http://{}/", p.paasd.router_addr),
        host: Some(format!("{app}.{}", server::DOMAIN)),
    };
    let cold = measure(&target, "v1", |start| push(&checkout, &url, start, &p.token))?;
    checkout.commit(&[("app.py", app_py("v2", app))], "v2")?;
    let warm = measure(&target, "v2", |start| push(&checkout, &url, start, &p.token))?;
    Ok([cold, warm])
}

/// One round of the baseline: `docker build` + `docker run` (cold), then the line
/// change, `docker build`, `docker rm -f` of the old container and `docker run`
/// (warm), on the same host port.
fn docker_round(p: &Platform, round: usize) -> anyhow::Result<[Deploy; 2]> {
    let name = format!("{}-{}-{round}", Setup::Docker.prefix(), p.suffix);
    let dir = p.dir.path.join(&name);
    write_files(&dir, &Setup::Docker.files("v1", &name))?;
    let dir = dir.to_string_lossy().into_owned();
    let port = super::free_port()?;
    let target = Target { url: format!("http://127.0.0.1:{port}/"), host: None };
    let label = format!("{BENCH_LABEL}={}", p.suffix);
    let publish = format!("127.0.0.1:{port}:{CONTAINER_PORT}");
    let port_env = format!("PORT={CONTAINER_PORT}");
    let build = |version: &str| {
        let tag = format!("{name}:{version}");
        docker(Command::new("docker").args(["build", "--label", &label, "-t", &tag, &dir]))
    };
    let run = |version: &str| {
        let (container, tag) = (format!("{name}-{version}"), format!("{name}:{version}"));
        let args =
            ["run", "-d", "--name", &container, "--label", &label, "-p", &publish, "-e", &port_env, &tag];
        docker(Command::new("docker").args(args))
    };
    let cold = measure(&target, "v1", |start| {
        build("v1")?;
        let built = start.elapsed();
        run("v1")?;
        Ok(Commands { took: start.elapsed(), stages: vec![Some(built)] })
    })?;
    write_files(Path::new(&dir), &[("app.py", app_py("v2", &name))])?;
    let warm = measure(&target, "v2", |start| {
        build("v2")?;
        let built = start.elapsed();
        docker(Command::new("docker").args(["rm", "-f", &format!("{name}-v1")]))?;
        run("v2")?;
        Ok(Commands { took: start.elapsed(), stages: vec![Some(built)] })
    })?;
    // Not timed: one app runs at a time, as with paas.
    docker(Command::new("docker").args(["rm", "-f", &format!("{name}-v2")]))?;
    Ok([cold, warm])
}

/// What a deploy's commands did.
struct Commands {
    /// From the clock's start to the last command's exit.
    took: Duration,
    /// When the stages before the commands' exit ended ([`Deploy::stages`]).
    stages: Vec<Option<Duration>>,
}

/// Starts the clock, runs `deploy` while a second thread polls `target` until it
/// answers 200 with `marker`, and stops the clock there.
fn measure(
    target: &Target,
    marker: &str,
    deploy: impl FnOnce(Instant) -> anyhow::Result<Commands>,
) -> anyhow::Result<Deploy> {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|scope| {
        let poller = scope.spawn(|| wait_for(target, marker, start, &stop));
        let deployed = deploy(start);
        if deployed.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let live = poller.join().map_err(|_| anyhow!("the polling thread panicked"));
        let commands = deployed?;
        let polled = live??;
        Ok(Deploy {
            commands: commands.took,
            live: polled.live,
            unavailable: polled.unavailable,
            gap: polled.gap,
            longest_failure: polled.longest_failure,
            stages: commands.stages,
        })
    })
}

/// `git push` of `checkout`, split into stages by the times of its [`STAGES`] lines.
fn push(checkout: &Checkout, url: &str, start: Instant, secret: &str) -> anyhow::Result<Commands> {
    let pushed = checkout.push(url, start, secret)?;
    Ok(Commands { took: pushed.took, stages: stage_times(&pushed.lines) })
}

/// Polls `target` until it answers 200 with a body whose first word is `marker`, or
/// `stop` is set, or [`LIVE_TIMEOUT`] has passed since `start`.
fn wait_for(target: &Target, marker: &str, start: Instant, stop: &AtomicBool) -> anyhow::Result<Polled> {
    let polls = target.record(start, LIVE_TIMEOUT, stop, |poll| poll.answer.first_word() == Some(marker))?;
    let last =
        polls.iter().max_by_key(|poll| poll.at).map_or_else(|| "none".to_owned(), |p| p.answer.shown());
    if let Some(polled) = Polled::from_polls(polls, marker) {
        return Ok(polled);
    }
    if stop.load(Ordering::Relaxed) {
        bail!("polling stopped");
    }
    bail!(
        "{} did not answer 200 with `{marker}` within {}s; the last answer: {last}",
        target.shown(),
        LIVE_TIMEOUT.as_secs()
    )
}

/// What polling saw.
#[derive(Debug, Default)]
struct Polled {
    /// From the clock's start to the first 200 with the new version.
    live: Duration,
    /// Until then, how long polls failed after an earlier 200: from that 200 to the
    /// next, summed.
    unavailable: Duration,
    /// What the polls sent after the first 200 got when they failed (a status,
    /// `no connection`, `timeout`, `error`; `slow` when it took [`SLOW_POLL`] or more),
    /// and how often; those in flight when the new version answered count too.
    gap: BTreeMap<String, usize>,
    /// The longest of those failed polls.
    longest_failure: Duration,
}

impl Polled {
    /// The first 200 with `marker` and what came before it; `None` when there is none.
    fn from_polls(mut polls: Vec<Poll>, marker: &str) -> Option<Self> {
        polls.sort_by_key(|poll| poll.at);
        let live = polls.iter().find(|poll| poll.answer.first_word() == Some(marker))?.at;
        let first_ok = polls.iter().find(|poll| matches!(poll.answer, Answer::Ok(_)))?.at;
        let mut polled = Self { live, ..Self::default() };
        let (mut last_ok, mut down_since) = (None, None);
        for poll in &polls {
            match &poll.answer {
                Answer::Ok(_) if poll.at <= live => {
                    if let Some(since) = down_since.take() {
                        polled.unavailable += poll.at.saturating_sub(since);
                    }
                    last_ok = Some(poll.at);
                }
                Answer::Ok(_) => {}
                Answer::Failed { kind, .. } => {
                    if last_ok.is_some() && down_since.is_none() && poll.at < live {
                        down_since = last_ok;
                    }
                    if poll.sent >= first_ok && poll.sent < live {
                        let took = poll.at.saturating_sub(poll.sent);
                        let kind = if took >= SLOW_POLL { format!("{kind} slow") } else { kind.clone() };
                        *polled.gap.entry(kind).or_default() += 1;
                        polled.longest_failure = polled.longest_failure.max(took);
                    }
                }
            }
        }
        Some(polled)
    }
}

/// When each [`STAGES`] line first arrived, from timed lines of `git push` output.
fn stage_times(lines: &[(Duration, String)]) -> Vec<Option<Duration>> {
    STAGES
        .iter()
        .map(|(prefix, contains, _)| {
            lines.iter().find_map(|(at, line)| {
                let text = line.strip_prefix("remote:").unwrap_or(line).trim_start();
                (text.starts_with(prefix) && text.contains(contains)).then_some(*at)
            })
        })
        .collect()
}

/// The reason a failed push gives: the builder's ` !` lines, else the error's first
/// line.
fn rejection(error: &str) -> String {
    let lines: Vec<&str> = error
        .lines()
        .filter_map(|line| line.strip_prefix("remote:").map(str::trim).filter(|l| l.starts_with('!')))
        .map(|line| line.trim_start_matches('!').trim())
        .collect();
    if lines.is_empty() {
        error.lines().next().unwrap_or_default().to_owned()
    } else {
        lines.join(" ")
    }
}

/// Everything the table and the document show.
struct Report {
    runs: usize,
    machine: Machine,
    /// The engine, git and stack image, as one line.
    tools: String,
    results: BTreeMap<(Setup, Kind), Vec<Deploy>>,
    /// Why buildpack builds were left out, when they were.
    buildpack_failure: Option<String>,
}

/// One row of the results: a setup and kind over the counted runs.
struct Row {
    setup: Setup,
    kind: Kind,
    runs: usize,
    commands: Duration,
    median: Duration,
    min: Duration,
    max: Duration,
    /// The median time polls failed, for a warm deploy.
    unavailable: Option<Duration>,
    /// What the failed polls got over all runs, for a warm deploy ([`Polled::gap`]),
    /// and the longest of them.
    gap: Option<(BTreeMap<String, usize>, Duration)>,
    /// The median time to live over docker's of the same kind.
    ratio: Option<f64>,
    /// The median length of each stage ([`Setup::stage_names`]).
    stages: Vec<Option<Duration>>,
}

impl Report {
    fn rows(&self) -> Vec<Row> {
        let live = |deploys: &[Deploy]| median(deploys.iter().map(|d| d.live).collect());
        self.results
            .iter()
            .map(|(&(setup, kind), deploys)| {
                let lives: Vec<Duration> = deploys.iter().map(|d| d.live).collect();
                let docker = self.results.get(&(Setup::Docker, kind)).filter(|_| setup != Setup::Docker);
                let lengths: Vec<Vec<Option<Duration>>> = deploys.iter().map(Deploy::stage_lengths).collect();
                let stages = (0..setup.stage_names().len())
                    .map(|i| lengths.iter().map(|l| l.get(i).copied().flatten()).collect::<Option<Vec<_>>>())
                    .map(|all| all.map(median))
                    .collect();
                Row {
                    setup,
                    kind,
                    runs: deploys.len(),
                    commands: median(deploys.iter().map(|d| d.commands).collect()),
                    median: live(deploys),
                    min: lives.iter().copied().min().unwrap_or_default(),
                    max: lives.iter().copied().max().unwrap_or_default(),
                    unavailable: (kind == Kind::Warm)
                        .then(|| median(deploys.iter().map(|d| d.unavailable).collect())),
                    gap: (kind == Kind::Warm).then(|| {
                        let mut gap = BTreeMap::new();
                        for (what, n) in deploys.iter().flat_map(|d| &d.gap) {
                            *gap.entry(what.clone()).or_default() += n;
                        }
                        let longest = deploys.iter().map(|d| d.longest_failure).max().unwrap_or_default();
                        (gap, longest)
                    }),
                    ratio: docker.map(|docker| live(deploys).as_secs_f64() / live(docker).as_secs_f64()),
                    stages,
                }
            })
            .collect()
    }

    /// Whether each paas setup meets the goal, as a sentence.
    fn goal(rows: &[Row]) -> String {
        let verdicts: Vec<String> = rows
            .iter()
            .filter(|row| row.kind == Kind::Warm && row.setup != Setup::Docker)
            .map(|row| {
                let met = if row.median < GOAL { "met" } else { "not met" };
                format!(
                    "{met} by `{}` (median {}, slowest of {} runs {})",
                    row.setup.label(),
                    secs(row.median),
                    row.runs,
                    secs(row.max)
                )
            })
            .collect();
        format!("**Goal, warm push-to-live under {} s:** {}.", GOAL.as_secs(), verdicts.join("; "))
    }

    fn terminal_table(&self) -> String {
        let rows = self.rows();
        let mut out = String::new();
        let line = |out: &mut String, cells: [&str; 8]| {
            let _ = writeln!(
                out,
                "{:<34} {:<5} {:>9} {:>9} {:>9} {:>9} {:>12} {:>12}",
                cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7]
            );
        };
        line(
            &mut out,
            ["deploy", "kind", "commands", "live p50", "min", "max", "unavailable", "paas/docker"],
        );
        for row in &rows {
            let cells = [
                secs(row.commands),
                secs(row.median),
                secs(row.min),
                secs(row.max),
                opt_secs(row.unavailable),
                ratio(row.ratio),
            ];
            let [c, m, lo, hi, u, r] = cells.each_ref().map(String::as_str);
            line(&mut out, [row.setup.label(), row.kind.name(), c, m, lo, hi, u, r]);
        }
        let _ = writeln!(out, "\nwhat the failed polls of warm deploys got (all runs):");
        for row in &rows {
            if let Some((gap, longest)) = &row.gap {
                let _ = writeln!(
                    out,
                    "  {}, {}: {}",
                    row.setup.label(),
                    row.kind.name(),
                    gap_list(gap, *longest)
                );
            }
        }
        let _ = writeln!(out, "\nwhere the time goes (median of each stage):");
        for row in &rows {
            let stages = stage_list(&row.setup.stage_names(), &row.stages);
            let _ = writeln!(out, "  {}, {}: {stages}", row.setup.label(), row.kind.name());
        }
        if let Some(failure) = &self.buildpack_failure {
            let _ = writeln!(out, "\nbuildpack builds left out: {failure}");
        }
        let _ = writeln!(out, "\n{}", Self::goal(&rows).replace("**", "").replace('`', ""));
        out
    }

    fn doc_section(&self) -> String {
        let rows = self.rows();
        let runs = self.runs;
        let mut out = String::new();
        let _ = writeln!(out, "{HEADING}\n");
        out.push_str(&self.machine.markdown(&format!("cargo xtask bench deploy --runs {runs}")));
        let _ = writeln!(out, "- {}\n", self.tools);

        let _ = writeln!(out, "### Method\n");
        let _ = writeln!(
            out,
            "One `paasd` (release build) runs for the whole benchmark, with `PAAS_DOCKER=on`, \
             SQLite in a fresh data directory, `PAAS_DOMAIN=localhost` and every listener (API, \
             builder, router, registry gateway, registry token endpoint, registry) on a free \
             loopback port; it starts the router (`target/release/paas-router`) and the \
             Distribution registry itself. The benchmark registers an admin, makes an API token, \
             and pushes with the real `git` client, isolated from the user's git configuration: \
             `git push http://bench:<token>@<builder>/<app>.git main`. The client (xtask, \
             release build), paasd, the router, the registry, the Docker engine and the apps \
             share the machine's CPUs.\n"
        );
        let _ = writeln!(
            out,
            "The app is a Python HTTP server of the standard library (`app.py`, reading `PORT`) \
             that answers every `GET` with 200 and `<version> <run id>`. The Dockerfile variant \
             adds `FROM {STACK_IMAGE}`, `COPY app.py /app/app.py`, `CMD [\"python3\", \
             \"/app/app.py\"]`; the buildpack variant a `Procfile` `web: python3 app.py` and no \
             Dockerfile. The run id makes each deploy's `app.py` unique, so no build finds an \
             earlier one's layer in the engine's cache; the stack image is in the engine for \
             every build, paas's and docker's alike.\n"
        );
        let _ = writeln!(
            out,
            "- **cold**: the first push of a new app (made with `POST /v1/apps` just before, not \
             timed) from a new repository with one commit. The clock starts when `git push` is \
             started and stops when a `GET /` to the router with `Host: <app>.localhost` first \
             answers 200 with a body starting `v1`.\n\
             - **warm**: the second push of the same app, one line changed (`VERSION = \"v2\"`) \
             and committed; the clock stops at the first 200 starting `v2`.\n\
             - **commands**: for paas, how long `git push` itself took: upload, build, registry \
             push, release and rollout (the builder answers once the new release's processes \
             are up, `-----> vN is up`, or once it gives up waiting); the router then learns \
             the new address, if it has not already. For docker, \
             `docker build` + `docker run` (cold) or + `docker rm -f` + `docker run` (warm).\n\
             - **polling**: from the clock's start a `GET /` goes out every {} ms, each on a \
             new connection and a thread of its own with a {} s timeout, whether earlier ones \
             were answered or not (at most {MAX_IN_FLIGHT} in flight), so one that hangs delays \
             none of the others. The clock stops at the first answer that is 200 with the new \
             version; a deploy not live within {} s fails the benchmark.\n\
             - **unavailable** (warm only): how long the polls failed (no answer, or not 200) \
             after v1 had answered, from v1's last 200 to the next 200; zero means every poll was \
             answered by v1 or v2. **Failed polls** counts what those polls got (a status, \
             `no connection`, `timeout`, or `error`: any other failure, such as a connection \
             closed without an answer) over all runs, polls that took {} s or more apart \
             (`slow`: a request that hung), with the longest such poll; polls sent before the \
             new version answered count even when they ended after it.\n",
            POLL_INTERVAL.as_millis(),
            PROBE_TIMEOUT.as_secs(),
            LIVE_TIMEOUT.as_secs(),
            SLOW_POLL.as_secs(),
        );
        let _ = writeln!(
            out,
            "**docker build + docker run**, the baseline: the same files (`app.py` and the \
             Dockerfile, no `.git`), the same engine, the same polling of \
             `http://127.0.0.1:<port>/`. Cold is `docker build --label {BENCH_LABEL}=<id> -t \
             <image>:v1 <dir>` (a fresh tag) then `docker run -d -p \
             127.0.0.1:<port>:{CONTAINER_PORT} -e PORT={CONTAINER_PORT} <image>:v1`; warm is the \
             line change, `docker build -t <image>:v2`, `docker rm -f` of the v1 container, \
             `docker run` of v2 on the same port. `docker build` runs with `DOCKER_BUILDKIT=0`: \
             the classic builder, which the engine's build API runs for paas's builder too, so \
             both build alike (paas labels its images the same way). The baseline has no \
             registry, no router and no hand-over: it stops v1 before v2 starts.\n"
        );
        let _ = writeln!(
            out,
            "Each of {runs} rounds deploys, in this order, paas with the Dockerfile (cold, warm), \
             paas with buildpacks (cold, warm), docker (cold, warm), so that noise on the machine \
             hits all alike; after its warm deploy each round's app is deleted (not timed), so one \
             app runs at a time. A round 0 before them is a warm-up and not counted: it puts the \
             stack image's layer into the fresh registry, as on any platform that has deployed \
             once (else the first cold push alone would upload it), and tells whether buildpack \
             builds work. Median, min and max are over the {runs} counted rounds (the median of \
             an even count is the mean of the middle two); paas/docker is the ratio of the \
             medians of time to live, same kind.\n"
        );
        let _ = writeln!(
            out,
            "Where the time goes: git shows the builder's `remote:` lines as they arrive, and the \
             time each of these lines reached it splits a push into stages: **receive** (to \
             `-----> Building`: the pack sent and indexed), **build** (to `-----> Build \
             finished`), **registry push** (to `-----> Pushed`), **release** (to `-----> \
             Released`), **rollout** (to `-----> vN is up`: the scheduler starts the new \
             release's processes and finds them up), **git exits** (to `git push` returning), \
             **first 200** (to the first 200 of the new release; 0 when it came before git \
             exited). A stage whose line is missing shows n/a, and so does the next one. The \
             baseline's stages are its commands and, after them, **start** (to the first 200). \
             Each is the median over the runs, so they need not add up to the median total.\n"
        );

        let _ = writeln!(out, "### Results\n");
        let _ = writeln!(
            out,
            "Seconds (lower is better). paas/docker above 1 means paas took longer to go live.\n"
        );
        let _ = writeln!(
            out,
            "| Deploy | Kind | Runs | Commands (median) | To live: median | min | max | Unavailable \
             (median) | Failed polls (all runs) | paas/docker |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---|---:|");
        for row in &rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.setup.label(),
                row.kind.name(),
                row.runs,
                secs(row.commands),
                secs(row.median),
                secs(row.min),
                secs(row.max),
                opt_secs(row.unavailable).replace("n/a", "–"),
                row.gap.as_ref().map_or_else(|| "–".to_owned(), |(gap, longest)| gap_list(gap, *longest)),
                ratio(row.ratio),
            );
        }
        let paas: Vec<&Row> = rows.iter().filter(|row| row.setup != Setup::Docker).collect();
        let docker: Vec<&Row> = rows.iter().filter(|row| row.setup == Setup::Docker).collect();
        for (rows, setup) in [(paas, Setup::Dockerfile), (docker, Setup::Docker)] {
            if rows.is_empty() {
                continue;
            }
            let names = setup.stage_names();
            let whose = if setup == Setup::Docker { "the baseline's" } else { "paas's" };
            let _ = writeln!(out, "\nWhere {whose} time goes (median seconds of each stage):\n");
            let _ = writeln!(out, "| Deploy | Kind | {} |", names.join(" | "));
            let _ = writeln!(out, "|---|---|{}", "---:|".repeat(names.len()));
            for row in rows {
                let stages: Vec<String> = row.stages.iter().map(|s| opt_secs(*s)).collect();
                let _ =
                    writeln!(out, "| {} | {} | {} |", row.setup.label(), row.kind.name(), stages.join(" | "));
            }
        }
        let _ = writeln!(out);
        if let Some(failure) = &self.buildpack_failure {
            let _ = writeln!(
                out,
                "Buildpack builds are left out: the warm-up round's push of the buildpack app failed \
                 ({}).\n",
                failure.replace('|', "\\|")
            );
        }
        let _ = writeln!(out, "{}", Self::goal(&rows));
        out
    }
}

/// `502 ×3, 502 slow ×1 (longest 5.01 s)`, or `none`.
fn gap_list(gap: &BTreeMap<String, usize>, longest: Duration) -> String {
    if gap.is_empty() {
        return "none".to_owned();
    }
    let parts: Vec<String> = gap.iter().map(|(what, n)| format!("{what} ×{n}")).collect();
    format!("{} (longest {})", parts.join(", "), secs(longest))
}

/// `receive 0.05 s, build 1.20 s, ...`.
fn stage_list(names: &[&str], lengths: &[Option<Duration>]) -> String {
    let parts: Vec<String> =
        names.iter().zip(lengths).map(|(name, length)| format!("{name} {}", opt_secs(*length))).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_options() {
        assert_eq!(Options::parse(&[]).unwrap().runs, DEFAULT_RUNS);
        assert_eq!(Options::parse(&args("--runs 3")).unwrap().runs, 3);
        assert!(Options::parse(&args("--runs 0")).is_err());
        assert!(Options::parse(&args("--runs")).is_err());
        assert!(Options::parse(&args("--apps 3")).is_err());
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(median(vec![ms(4), ms(1), ms(2), ms(3)]), Duration::from_micros(2500));
        assert_eq!(median(vec![]), Duration::ZERO);
    }

    #[test]
    fn stage_lines_are_timed_when_they_first_arrive() {
        let lines: Vec<(Duration, String)> = [
            (10, "remote: -----> Building 1234567"),
            (20, "remote: -----> Building with the Dockerfile"),
            (900, "remote: -----> Build finished in 0.9s"),
            (950, "remote: -----> Pushing to 127.0.0.1:5050/paas/app"),
            (1200, "remote: -----> Pushed 127.0.0.1:5050/paas/app@sha256:00"),
            (1220, "remote: -----> Launching v2..."),
            (1900, "remote: -----> v2 is up"),
            (1950, "To http://127.0.0.1:7702/app.git"),
        ]
        .into_iter()
        .map(|(t, l)| (ms(t), l.to_owned()))
        .collect();
        assert_eq!(
            stage_times(&lines),
            vec![Some(ms(10)), Some(ms(900)), Some(ms(1200)), None, Some(ms(1900))]
        );
    }

    #[test]
    fn stages_split_a_deploy_and_a_missing_line_leaves_a_gap() {
        let deploy = Deploy {
            commands: ms(1300),
            live: ms(2000),
            unavailable: Duration::ZERO,
            gap: BTreeMap::new(),
            longest_failure: Duration::ZERO,
            stages: vec![Some(ms(10)), Some(ms(900)), Some(ms(1200)), Some(ms(1250)), Some(ms(1280))],
        };
        let lengths = deploy.stage_lengths();
        assert_eq!(lengths, [10, 890, 300, 50, 30, 20, 700].map(|n| Some(ms(n))).to_vec());
        // Live before git exited: the last stage is zero.
        let early = Deploy { live: ms(1290), stages: deploy.stages.clone(), ..deploy };
        assert_eq!(early.stage_lengths()[6], Some(Duration::ZERO));
        let gap = Deploy { stages: vec![Some(ms(10)), None, Some(ms(1200)), Some(ms(1250)), None], ..early };
        assert_eq!(gap.stage_lengths()[1..3], [None, None]);
        assert_eq!(gap.stage_lengths()[4..6], [None, None]);
    }

    #[test]
    fn a_rejection_is_the_builders_reason() {
        let err = "round 0 failed: `git push` failed (exit status: 1):\nremote: -----> Building 1234567\n\
                   remote:  !     No buildpack applies\nerror: failed to push some refs";
        assert_eq!(rejection(err), "No buildpack applies");
        assert_eq!(rejection("timed out\nmore"), "timed out");
    }

    #[test]
    fn the_app_answers_its_version_first() {
        let app = app_py("v2", "dockerfile-abc123-1");
        assert!(app.contains("VERSION = \"v2\"\nRUN = \"dockerfile-abc123-1\"\n"), "{app}");
        assert!(app.contains("\"%s %s\\n\" % (VERSION, RUN)"), "{app}");
        let files = Setup::Buildpack.files("v1", "x");
        assert_eq!(files.iter().map(|(name, _)| *name).collect::<Vec<_>>(), ["app.py", "Procfile"]);
    }

    #[test]
    fn the_section_shows_every_row_and_the_goal() {
        let paas = |commands, live, unavailable| Deploy {
            commands: ms(commands),
            live: ms(live),
            unavailable: ms(unavailable),
            gap: BTreeMap::new(),
            longest_failure: Duration::ZERO,
            stages: vec![Some(ms(10)), Some(ms(100)), Some(ms(200)), Some(ms(250)), Some(ms(1900))],
        };
        let docker = |commands, live, unavailable| Deploy {
            commands: ms(commands),
            live: ms(live),
            unavailable: ms(unavailable),
            gap: BTreeMap::new(),
            longest_failure: Duration::ZERO,
            stages: vec![Some(ms(600))],
        };
        let mut results = BTreeMap::new();
        results.insert((Setup::Dockerfile, Kind::Cold), vec![paas(3000, 4000, 0)]);
        let mut gapped = paas(2000, 3200, 400);
        gapped.gap = BTreeMap::from([("502".to_owned(), 3), ("502 slow".to_owned(), 1)]);
        gapped.longest_failure = ms(5010);
        results.insert((Setup::Dockerfile, Kind::Warm), vec![paas(2000, 3000, 0), gapped]);
        results.insert((Setup::Docker, Kind::Cold), vec![docker(1000, 2000, 0)]);
        results.insert((Setup::Docker, Kind::Warm), vec![docker(1000, 1500, 900), docker(1000, 1700, 1100)]);
        let machine = Machine {
            date: "2026-01-01 00:00 UTC".into(),
            cpus: "2".into(),
            cpu_model: "CPU".into(),
            memory: "1.0 GiB".into(),
            kernel: "6".into(),
            commit: "abc".into(),
            load: "0, 0, 0".into(),
        };
        let report = Report {
            runs: 2,
            machine,
            tools: "Docker engine 1".into(),
            results,
            buildpack_failure: Some("No buildpack applies".into()),
        };
        let doc = report.doc_section();
        assert!(doc.starts_with(
            "## Deploy\n\nMeasured on 2026-01-01 00:00 UTC with `cargo xtask bench deploy --runs 2`"
        ));
        let has = |line: &str| assert!(doc.contains(line), "{line:?} is missing from:\n{doc}");
        has("| paas, Dockerfile | cold | 1 | 3.00 s | 4.00 s | 4.00 s | 4.00 s | – | – | 2.00 |\n");
        has("| paas, Dockerfile | warm | 2 | 2.00 s | 3.10 s | 3.00 s | 3.20 s | 0.20 s | 502 ×3, 502 slow ×1 (longest 5.01 s) | 1.94 |\n");
        has("| docker build + docker run | warm | 2 | 1.00 s | 1.60 s | 1.50 s | 1.70 s | 1.00 s | none | – |\n");
        has("| Deploy | Kind | receive | build | registry push | release | rollout | git exits | first 200 |\n");
        has("| paas, Dockerfile | cold | 0.01 s | 0.09 s | 0.10 s | 0.05 s | 1.65 s | 1.10 s | 1.00 s |\n");
        has("| Deploy | Kind | build | (rm -f +) run | start |\n");
        has("| docker build + docker run | cold | 0.60 s | 0.40 s | 1.00 s |\n");
        has("(No buildpack applies)");
        has("**Goal, warm push-to-live under 5 s:** met by `paas, Dockerfile` (median 3.10 s, slowest of 2 runs 3.20 s).");
        let table = report.terminal_table();
        assert!(table.contains("Goal, warm push-to-live under 5 s: met by paas, Dockerfile"), "{table}");
    }

    /// Serves `phases` (status, body, for how long), each to every connection accepted
    /// while it lasts, from now on; the last one forever. Phases by time rather than one
    /// answer per connection: polls run on threads of their own, and on a busy machine
    /// the order in which they connect, or note their answers, is not the order they
    /// were sent in.
    fn scripted_server(phases: Vec<(u16, &'static str, u64)>) -> String {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let start = Instant::now();
        std::thread::spawn(move || loop {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let mut ends = 0;
            let (status, body, _) = *phases
                .iter()
                .find(|(_, _, ms)| {
                    ends += ms;
                    start.elapsed() < Duration::from_millis(ends)
                })
                .unwrap_or_else(|| phases.last().unwrap());
            let mut request = Vec::new();
            let mut byte = [0];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                request.push(byte[0]);
            }
            let head =
                format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
        });
        url
    }

    #[test]
    fn polls_until_the_new_version_and_count_the_gap_after_the_old_one() {
        let url =
            scripted_server(vec![(200, "v1 x", 300), (502, "", 300), (503, "down", 300), (200, "v2 x", 0)]);
        let target = Target { url, host: Some("app.localhost".to_owned()) };
        let stop = AtomicBool::new(false);
        let polled = wait_for(&target, "v2", Instant::now(), &stop).unwrap();
        assert!(polled.unavailable > Duration::ZERO && polled.unavailable <= polled.live, "{polled:?}");
        let kinds: Vec<_> = polled.gap.keys().map(String::as_str).collect();
        assert_eq!(kinds, ["502", "503"], "{polled:?}");

        // Without an earlier 200 nothing counts as unavailable.
        let url = scripted_server(vec![(404, "", 200), (503, "", 200), (200, "v1 x", 0)]);
        let polled = wait_for(&Target { url, host: None }, "v1", Instant::now(), &stop).unwrap();
        assert_eq!((polled.unavailable, polled.gap.len()), (Duration::ZERO, 0));

        // A stopped poll gives up.
        let stop = AtomicBool::new(true);
        let target = Target { url: "http://127.0.0.1:9/".to_owned(), host: None };
        assert!(
            format!("{:#}", wait_for(&target, "v1", Instant::now(), &stop).unwrap_err()).contains("stopped")
        );
    }

    #[test]
    fn the_gap_runs_from_the_old_versions_last_answer_to_the_new_ones_first() {
        let ok =
            |sent, at, word: &str| Poll { sent: ms(sent), at: ms(at), answer: Answer::Ok(word.to_owned()) };
        let failed = |sent, at, kind: &str| Poll {
            sent: ms(sent),
            at: ms(at),
            answer: Answer::Failed { kind: kind.to_owned(), shown: String::new() },
        };
        // Out of order, as threads push them; a hung poll ends after the new version.
        let polls = vec![
            failed(38, 40, "502"),
            ok(18, 20, "v1"),
            failed(0, 10, "404"),
            ok(28, 30, "v1"),
            failed(50, 5050, "502"),
            failed(58, 60, "502"),
            ok(98, 100, "v2"),
            failed(110, 112, "502"),
            ok(118, 120, "v2"),
        ];
        let polled = Polled::from_polls(polls, "v2").unwrap();
        assert_eq!((polled.live, polled.unavailable), (ms(100), ms(70)));
        let gap = BTreeMap::from([("502".to_owned(), 2), ("502 slow".to_owned(), 1)]);
        assert_eq!((polled.gap, polled.longest_failure), (gap, ms(5000)));
        assert!(Polled::from_polls(vec![ok(18, 20, "v1")], "v2").is_none());
    }
}
