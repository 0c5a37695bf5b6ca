//! `cargo xtask bench rollout`: seconds for a zero-downtime deploy of an already-built
//! image (a config change, and a rollback) and for `scale web=10` from 1, until every
//! process is healthy and routed, side by side with what a user on one machine would do
//! by hand with the docker CLI.
//!
//! It prepares and starts one platform as `bench deploy` does (`platform.rs`), with a
//! short drain ([`DRAIN_SECONDS`]), pushes a small Dockerfile app once (not timed) that
//! answers `<GREETING> <host name>`, builds the same files with `docker build` for the
//! baseline (not timed), and then runs N rounds, each in turn:
//!
//! - **config**: `PATCH /v1/apps/{app}/config` with a new `GREETING` (a release of the
//!   same image); **rollback**: `POST /v1/apps/{app}/rollback`. The clock stops when
//!   both the router and the process list say the new release alone serves: from some
//!   poll on, every answer through the router carries the new value, and `GET
//!   /v1/apps/{app}/processes` shows the new release's `web` process `up` and none of
//!   an older release `up` or starting (they drain). Watching goes on until the old
//!   containers are gone from the list, which is reported apart.
//! - **docker blue-green**: `docker run` of a second container with the new value on a
//!   port of its own until that port answers it, then `docker rm -f` of the old one.
//! - **scale up**: `PATCH /v1/apps/{app}/formation` web=10; the clock stops when 10
//!   `web` processes are `up` and the router's answers have come from 10 distinct host
//!   names. **scale down** to 1: until the list shows one `web` process.
//! - **docker scale**: 9 more `docker run`s, one after the other as a script would,
//!   each on its own port, until every port answers; then one `docker rm -f` of the 9.
//!
//! Throughout each paas measurement the router is polled (`probe.rs`); every poll that
//! is not a 200 counts as a failure and is reported (a zero-downtime rollout has none).
//! Round 0 is a warm-up, not counted. The results are printed and written to the
//! `## Rollout` section of `docs/benchmarks.md`; other sections are kept.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use reqwest::Method;
use serde_json::json;

use super::git::{write_files, Checkout};
use super::platform::{self, docker, Platform, BENCH_LABEL, CONTAINER_PORT, DOCKERFILE, STACK_IMAGE};
use super::probe::{Answer, Poll, Target, POLL_INTERVAL, PROBE_TIMEOUT};
use super::report::{self, median, ratio, secs, Machine};
use super::server;
use crate::{env, process};

/// Counted rounds, by default.
const DEFAULT_RUNS: usize = 5;
/// The heading of the section of `docs/benchmarks.md` the results replace.
const HEADING: &str = "## Rollout";
/// paasd's drain (`PAAS_DRAIN_SECONDS`): short, so that a round does not wait long for
/// the old containers to go; it does not count in "until routed".
const DRAIN_SECONDS: u64 = 2;
/// How many `web` processes the scale goes to, from 1.
const SCALE_TO: usize = 10;
/// A measurement not done this long after its clock started fails the benchmark.
const TIMEOUT: Duration = Duration::from_secs(180);
/// The value of `GREETING` while no config change is in force: the app's default, and
/// what a rollback goes back to.
const FIRST_GREETING: &str = "hello";

/// The app: answers every GET with 200 and `<GREETING> <host name>` (the container's),
/// and exits on SIGTERM (as PID 1 it would otherwise ignore it until SIGKILL).
const APP_PY: &str = r#"import http.server, os, signal, socket, sys
GREETING = os.environ.get("GREETING", "hello")
HOST = socket.gethostname()
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s %s\n" % (GREETING, HOST)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, format, *args):
        pass
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), App).serve_forever()
"#;

/// The flags of `cargo xtask bench rollout`.
#[derive(Debug)]
pub struct Options {
    /// `--runs N`: counted rounds.
    runs: usize,
}

impl Options {
    /// Parses the arguments after `bench rollout`.
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self { runs: DEFAULT_RUNS };
        super::parse_counts("rollout", args, &mut [("--runs", &mut options.runs)])?;
        Ok(options)
    }

    /// The arguments of `cargo xtask bench` that give these options.
    pub fn args(&self) -> Vec<String> {
        vec!["rollout".to_owned(), "--runs".to_owned(), self.runs.to_string()]
    }
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let stack_tag = platform::prepare()?;
    let load = report::load_average();
    let tools = format!("{}; stack image {STACK_IMAGE} = {stack_tag}", platform::engine());
    let program = process::repo_root().join("target/release/paasd");
    let mut p = Platform::start(&program, "bench rollout", |cmd| {
        cmd.env(env::DRAIN_SECONDS, DRAIN_SECONDS.to_string());
    })?;
    let mut results: BTreeMap<Measure, Vec<Timing>> = BTreeMap::new();
    let measured = (|| {
        let bench = Bench::set_up(&mut p)?;
        for round in 0..=options.runs {
            let counted = round > 0;
            let note = if counted { "" } else { " (warm-up, not counted)" };
            eprintln!("\nxtask: ==> round {round} of {}{note}", options.runs);
            for (measure, timing) in bench.round(&p, round)? {
                eprintln!("xtask: {}: {}{note}", measure.label(), timing.summary());
                if counted {
                    results.entry(measure).or_default().push(timing);
                }
            }
        }
        anyhow::Ok(())
    })();
    let finished = p.finish();
    measured?;
    finished?;

    let report = Report { runs: options.runs, machine: Machine::read(load), tools, results };
    println!();
    print!("{}", report.terminal_table());
    report::write_section(HEADING, &report.doc_section())
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Measure {
    /// paas: `PATCH config`, a release of the same image.
    Config,
    /// The baseline of [`Measure::Config`]: a second container by hand.
    BlueGreen,
    /// paas: `POST rollback`.
    Rollback,
    /// paas: `PATCH formation` web=10 from 1.
    ScaleUp,
    /// The baseline of [`Measure::ScaleUp`]: 9 more `docker run`s.
    DockerScaleUp,
}

impl Measure {
    fn label(self) -> &'static str {
        match self {
            Self::Config => "paas: config change (same image)",
            Self::BlueGreen => "docker: blue-green by hand",
            Self::Rollback => "paas: rollback (same image)",
            Self::ScaleUp => "paas: scale web=1 -> 10",
            Self::DockerScaleUp => "docker: 9 more `docker run`",
        }
    }

    /// The docker baseline it is compared with.
    fn baseline(self) -> Option<Self> {
        match self {
            Self::Config | Self::Rollback => Some(Self::BlueGreen),
            Self::ScaleUp => Some(Self::DockerScaleUp),
            Self::BlueGreen | Self::DockerScaleUp => None,
        }
    }

    fn is_paas(self) -> bool {
        !matches!(self, Self::BlueGreen | Self::DockerScaleUp)
    }

    /// What its headline time runs to, and what its afterwards time runs to.
    fn clock(self) -> (&'static str, &'static str) {
        match self {
            Self::Config | Self::Rollback => ("new release alone routed", "old container gone"),
            Self::BlueGreen => ("new container answers", "old container removed"),
            Self::ScaleUp => ("10 up and routed", "back to 1: 9 gone"),
            Self::DockerScaleUp => ("all 10 answer", "back to 1: `docker rm -f` of 9"),
        }
    }
}

/// One measurement: the headline time, the time until what it replaced was gone, the
/// moments on the way, and what the router's polls got.
#[derive(Debug, Clone, Default)]
struct Timing {
    /// The headline: until routed ([`Measure::clock`]).
    done: Duration,
    /// Until the old containers were gone (or, for a scale, the way back to 1).
    after: Duration,
    /// paas only: the first answer through the router with the new value (or from the
    /// last new host name).
    first_answer: Option<Duration>,
    /// paas only: the process list first showed the wanted state.
    processes: Option<Duration>,
    /// Polls through the router during the measurement (scale down included).
    polls: usize,
    /// What the failed ones got, and how often.
    failures: BTreeMap<String, usize>,
}

impl Timing {
    fn summary(&self) -> String {
        let mut out = format!("{}, afterwards {}", secs(self.done), secs(self.after));
        if let (Some(first), Some(processes)) = (self.first_answer, self.processes) {
            let _ = write!(out, " (first new answer {}, processes {})", secs(first), secs(processes));
        }
        if self.polls > 0 {
            let _ = write!(out, "; {} polls, failed: {}", self.polls, failure_list(&self.failures));
        }
        out
    }
}

/// The app on paas and the baseline's image, ready for rounds.
struct Bench {
    app: String,
    /// The router's address for the app.
    router: Target,
    /// The baseline's image and its running container (name, port).
    image: String,
    blue: Mutex<(String, u16)>,
}

impl Bench {
    /// Pushes the app and waits for it; builds the baseline's image and runs one
    /// container of it. Nothing of this is timed.
    fn set_up(p: &mut Platform) -> anyhow::Result<Self> {
        let app = format!("rollout-{}", p.suffix);
        p.cleanup.apps.push(app.clone());
        p.api
            .send(&p.client, Method::POST, "/v1/apps", Some(json!({ "name": app })))
            .with_context(|| format!("could not create the app {app}"))?;
        let files = [("app.py", APP_PY.to_owned()), ("Dockerfile", DOCKERFILE.to_owned())];
        let checkout = Checkout::create(&p.dir.path.join(&app), &p.home, &files)?;
        let url = format!("http://{}:{}@{}/{app}.git", server::USERNAME, p.token, p.paasd.builder_addr);
        eprintln!("xtask: pushing {app} (not timed)");
        checkout.push(&url, Instant::now(), &p.token)?;
        let router = Target {
            url: format!("http://{}/", p.paasd.router_addr),
            host: Some(format!("{app}.{}", server::DOMAIN)),
        };
        answers(&router, FIRST_GREETING)?;

        let image = format!("rollout-{}:bench", p.suffix);
        let dir = p.dir.path.join("docker");
        write_files(&dir, &files)?;
        let label = format!("{BENCH_LABEL}={}", p.suffix);
        eprintln!("xtask: docker build of the baseline's image (not timed)");
        docker(Command::new("docker").args(["build", "--label", &label, "-t", &image]).arg(&dir))?;
        let name = format!("rollout-{}-blue", p.suffix);
        let port = super::free_port()?;
        docker(&mut docker_run(&p.suffix, &name, port, &image, FIRST_GREETING))?;
        answers(&local(port), FIRST_GREETING)?;
        Ok(Self { app, router, image, blue: Mutex::new((name, port)) })
    }

    /// One round: config change, blue-green by hand, rollback, scale up and down, the
    /// same by hand.
    fn round(&self, p: &Platform, round: usize) -> anyhow::Result<Vec<(Measure, Timing)>> {
        let greeting = format!("round{round}");
        let config = format!("/v1/apps/{}/config", self.app);
        let body = json!({ "values": { "GREETING": greeting } });
        let changed = self
            .change(p, &greeting, || {
                release_of(&p.api.send(&p.client, Method::PATCH, &config, Some(body)), "release")
            })
            .context("the config change")?;
        let blue_green = self.blue_green(p, round, &greeting).context("the blue-green by hand")?;
        let rollback = format!("/v1/apps/{}/rollback", self.app);
        let rolled_back = self
            .change(p, FIRST_GREETING, || {
                release_of(&p.api.send(&p.client, Method::POST, &rollback, Some(json!({}))), "version")
            })
            .context("the rollback")?;
        let scaled = self.scale(p).context("the scale")?;
        let docker_scaled = self.docker_scale(p, round).context("the scale by hand")?;
        Ok(vec![
            (Measure::Config, changed),
            (Measure::BlueGreen, blue_green),
            (Measure::Rollback, rolled_back),
            (Measure::ScaleUp, scaled),
            (Measure::DockerScaleUp, docker_scaled),
        ])
    }

    /// A new release of the same image (`act` makes it and gives its number), until
    /// the new release alone is routed and then until the old containers are gone.
    fn change(
        &self,
        p: &Platform,
        value: &str,
        act: impl FnOnce() -> anyhow::Result<u32>,
    ) -> anyhow::Result<Timing> {
        let seen =
            self.watch(p, act, 0, |procs, release| procs.iter().all(|proc| proc.release == release))?;
        let release = seen.release.context("no release")?;
        let answers: Vec<&Poll> = seen.polls.iter().collect();
        let first_answer = answers
            .iter()
            .filter(|poll| poll.answer.first_word() == Some(value))
            .map(|poll| poll.at)
            .min()
            .context("no answer through the router carried the new value")?;
        // Every poll sent after the last one that did not get the new value got it.
        let last_other =
            answers.iter().filter(|poll| poll.answer.first_word() != Some(value)).map(|poll| poll.sent).max();
        let all_new = answers
            .iter()
            .filter(|poll| last_other.is_none_or(|last| poll.sent > last))
            .map(|poll| poll.at)
            .min()
            .context("the router's answers never carried only the new value")?;
        let processes = seen
            .first(|procs| {
                let new = procs.iter().filter(|proc| proc.release == release && proc.is_web());
                let old_serving = procs
                    .iter()
                    .any(|proc| proc.release != release && matches!(proc.state.as_str(), "up" | "starting"));
                new.clone().count() == 1 && new.clone().all(|proc| proc.state == "up") && !old_serving
            })
            .context("the process list never showed the new release alone up")?;
        let gone = seen
            .first(|procs| procs.iter().all(|proc| proc.release == release))
            .context("the old release's processes never went")?;
        Ok(Timing {
            done: all_new.max(processes),
            after: gone,
            first_answer: Some(first_answer),
            processes: Some(processes),
            polls: seen.polls.len(),
            failures: failures(&seen.polls),
        })
    }

    /// `scale web=10` until 10 are up and the router has answered from each, then
    /// `scale web=1` until one is left.
    fn scale(&self, p: &Platform) -> anyhow::Result<Timing> {
        let formation = format!("/v1/apps/{}/formation", self.app);
        let to = |n: usize| json!({ "updates": [{ "type": "web", "quantity": n }] });
        let up = self.watch(
            p,
            || p.api.send(&p.client, Method::PATCH, &formation, Some(to(SCALE_TO))).map(|_| 0),
            SCALE_TO,
            |procs, _| web_up(procs) == SCALE_TO,
        )?;
        let processes =
            up.first(|procs| web_up(procs) == SCALE_TO).context("the process list never showed 10 up")?;
        let mut polls: Vec<&Poll> = up.polls.iter().collect();
        polls.sort_by_key(|poll| poll.at);
        let mut hosts = BTreeSet::new();
        let last_host = polls
            .iter()
            .find_map(|poll| {
                if let Answer::Ok(body) = &poll.answer {
                    hosts.insert(body.split_whitespace().nth(1).unwrap_or_default().to_owned());
                }
                (hosts.len() >= SCALE_TO).then_some(poll.at)
            })
            .with_context(|| {
                format!("the router answered from {} host names, not {SCALE_TO}", hosts.len())
            })?;
        let down = self.watch(
            p,
            || p.api.send(&p.client, Method::PATCH, &formation, Some(to(1))).map(|_| 0),
            0,
            |procs, _| procs.iter().filter(|proc| proc.is_web()).count() == 1,
        )?;
        let gone = down
            .first(|procs| procs.iter().filter(|proc| proc.is_web()).count() == 1)
            .context("the process list never showed one web process")?;
        let mut all_failures = failures(&up.polls);
        for (kind, n) in failures(&down.polls) {
            *all_failures.entry(kind).or_default() += n;
        }
        Ok(Timing {
            done: last_host.max(processes),
            after: gone,
            first_answer: Some(last_host),
            processes: Some(processes),
            polls: up.polls.len() + down.polls.len(),
            failures: all_failures,
        })
    }

    /// Starts the clock and runs `act` (which gives the new release's number, or 0),
    /// while the router and the app's process list are polled, until the list
    /// satisfies `settled` and the router has answered from `hosts` distinct host
    /// names (0: no need), or [`TIMEOUT`].
    fn watch(
        &self,
        p: &Platform,
        act: impl FnOnce() -> anyhow::Result<u32>,
        hosts: usize,
        settled: impl Fn(&[Proc], u32) -> bool + Sync,
    ) -> anyhow::Result<Seen> {
        let start = Instant::now();
        let release = AtomicU32::new(0);
        let listed = AtomicBool::new(false);
        let stop = AtomicBool::new(false);
        let names = Mutex::new(BTreeSet::new());
        let snapshots = Mutex::new(Vec::new());
        let path = format!("/v1/apps/{}/processes", self.app);
        let (polls, acted) = std::thread::scope(|scope| {
            let router = scope.spawn(|| {
                self.router.record(start, TIMEOUT, &stop, |poll| {
                    let mut names = names.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if let Answer::Ok(body) = &poll.answer {
                        names.insert(body.split_whitespace().nth(1).unwrap_or_default().to_owned());
                    }
                    listed.load(Ordering::Relaxed) && names.len() >= hosts
                })
            });
            let lister = scope.spawn(|| {
                let mut tick = Instant::now();
                while !stop.load(Ordering::Relaxed) && start.elapsed() < TIMEOUT {
                    let wanted = release.load(Ordering::Relaxed);
                    if let Ok(procs) =
                        p.api.send(&p.client, Method::GET, &path, None).and_then(|b| parse_procs(&b))
                    {
                        let at = start.elapsed();
                        if wanted > 0 && settled(&procs, wanted) {
                            listed.store(true, Ordering::Relaxed);
                        }
                        snapshots.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((at, procs));
                    }
                    tick += POLL_INTERVAL;
                    std::thread::sleep(tick.saturating_duration_since(Instant::now()));
                }
            });
            let acted = act();
            match &acted {
                // A scale makes no release: any will do.
                Ok(n) => release.store((*n).max(1), Ordering::Relaxed),
                Err(_) => stop.store(true, Ordering::Relaxed),
            }
            let polls = router.join().map_err(|_| anyhow!("the polling thread panicked"));
            stop.store(true, Ordering::Relaxed);
            let listed = lister.join().map_err(|_| anyhow!("the listing thread panicked"));
            (polls.and_then(|polls| listed.and(polls)), acted)
        });
        let acted = acted?;
        let polls = polls?;
        if !listed.load(Ordering::Relaxed) {
            bail!("not settled within {}s", TIMEOUT.as_secs());
        }
        let snapshots = snapshots.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(Seen { release: (acted > 0).then_some(acted), polls, snapshots })
    }

    /// By hand: `docker run` of a new container with the new value on a port of its
    /// own until it answers it, then `docker rm -f` of the old one.
    fn blue_green(&self, p: &Platform, round: usize, value: &str) -> anyhow::Result<Timing> {
        let name = format!("rollout-{}-round{round}", p.suffix);
        let port = super::free_port()?;
        let target = local(port);
        let stop = AtomicBool::new(false);
        let start = Instant::now();
        let (polls, ran) = std::thread::scope(|scope| {
            let poller = scope.spawn(|| {
                target.record(start, TIMEOUT, &stop, |poll| poll.answer.first_word() == Some(value))
            });
            let ran = docker(&mut docker_run(&p.suffix, &name, port, &self.image, value));
            if ran.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            (poller.join().map_err(|_| anyhow!("the polling thread panicked")), ran)
        });
        ran?;
        let answered =
            first_with(&polls??, value).with_context(|| format!("{} never answered", target.shown()))?;
        let mut blue = self.blue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        docker(Command::new("docker").args(["rm", "-f", &blue.0]))?;
        let removed = start.elapsed();
        *blue = (name, port);
        Ok(Timing { done: answered, after: removed, ..Timing::default() })
    }

    /// By hand: 9 more `docker run`s, one after the other, each on its own port, until
    /// every port answers; then `docker rm -f` of the 9.
    fn docker_scale(&self, p: &Platform, round: usize) -> anyhow::Result<Timing> {
        let more: Vec<(String, u16)> = super::free_ports(SCALE_TO - 1)?
            .into_iter()
            .enumerate()
            .map(|(i, port)| (format!("rollout-{}-round{round}-{}", p.suffix, i + 2), port))
            .collect();
        let targets: Vec<Target> = more.iter().map(|(_, port)| local(*port)).collect();
        let stop = AtomicBool::new(false);
        let start = Instant::now();
        let (answered, ran) = std::thread::scope(|scope| {
            let pollers: Vec<_> = targets
                .iter()
                .map(|target| {
                    scope.spawn(|| {
                        target.record(start, TIMEOUT, &stop, |poll| matches!(poll.answer, Answer::Ok(_)))
                    })
                })
                .collect();
            let ran = more.iter().try_for_each(|(name, port)| {
                docker(&mut docker_run(&p.suffix, name, *port, &self.image, FIRST_GREETING))
            });
            if ran.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            let answered: anyhow::Result<Vec<Duration>> = pollers
                .into_iter()
                .zip(&targets)
                .map(|(poller, target)| {
                    let polls = poller.join().map_err(|_| anyhow!("a polling thread panicked"))??;
                    polls
                        .iter()
                        .filter(|poll| matches!(poll.answer, Answer::Ok(_)))
                        .map(|poll| poll.at)
                        .min()
                        .with_context(|| format!("{} never answered", target.shown()))
                })
                .collect();
            (answered, ran)
        });
        ran?;
        let done = answered?.into_iter().max().unwrap_or_default();
        let down = Instant::now();
        docker(Command::new("docker").args(["rm", "-f"]).args(more.iter().map(|(name, _)| name)))?;
        Ok(Timing { done, after: down.elapsed(), ..Timing::default() })
    }
}

/// What a paas measurement saw.
struct Seen {
    /// The release it made, when it made one.
    release: Option<u32>,
    polls: Vec<Poll>,
    /// The process list, each time it was read, in order.
    snapshots: Vec<(Duration, Vec<Proc>)>,
}

impl Seen {
    /// When the process list first satisfied `test`.
    fn first(&self, test: impl Fn(&[Proc]) -> bool) -> Option<Duration> {
        self.snapshots.iter().find(|(_, procs)| test(procs)).map(|(at, _)| *at)
    }
}

/// One entry of `GET /v1/apps/{app}/processes`.
#[derive(Debug)]
struct Proc {
    process_type: String,
    release: u32,
    state: String,
}

impl Proc {
    fn is_web(&self) -> bool {
        self.process_type == "web"
    }
}

fn parse_procs(body: &[u8]) -> anyhow::Result<Vec<Proc>> {
    let list: serde_json::Value = serde_json::from_slice(body).context("the process list is not JSON")?;
    let list = list.as_array().context("the process list is not a list")?;
    list.iter()
        .map(|proc| {
            let text = |field: &str| proc[field].as_str().map(str::to_owned);
            Some(Proc {
                process_type: text("type")?,
                release: u32::try_from(proc["release"].as_u64()?).ok()?,
                state: text("state")?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .context("a process without `type`, `release` or `state`")
}

/// How many `web` processes are `up`.
fn web_up(procs: &[Proc]) -> usize {
    procs.iter().filter(|proc| proc.is_web() && proc.state == "up").count()
}

/// The release number in a 2xx answer's `field`.
fn release_of(answer: &anyhow::Result<Vec<u8>>, field: &str) -> anyhow::Result<u32> {
    let body = answer.as_ref().map_err(|err| anyhow!("{err:#}"))?;
    let value: serde_json::Value = serde_json::from_slice(body)?;
    value[field]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .with_context(|| format!("the answer has no release number in `{field}`"))
}

/// `docker run -d` of the baseline's image as `name` on loopback `port`, with `GREETING`.
fn docker_run(suffix: &str, name: &str, port: u16, image: &str, greeting: &str) -> Command {
    let mut cmd = Command::new("docker");
    cmd.args(["run", "-d", "--name", name, "--label", &format!("{BENCH_LABEL}={suffix}")])
        .args(["-p", &format!("127.0.0.1:{port}:{CONTAINER_PORT}")])
        .args(["-e", &format!("PORT={CONTAINER_PORT}"), "-e", &format!("GREETING={greeting}"), image]);
    cmd
}

/// A baseline container's port.
fn local(port: u16) -> Target {
    Target { url: format!("http://127.0.0.1:{port}/"), host: None }
}

/// Waits (not timed) until `target` answers 200 starting with `value`.
fn answers(target: &Target, value: &str) -> anyhow::Result<()> {
    let stop = AtomicBool::new(false);
    let polls =
        target.record(Instant::now(), TIMEOUT, &stop, |poll| poll.answer.first_word() == Some(value))?;
    first_with(&polls, value).map(drop).with_context(|| {
        let last =
            polls.iter().max_by_key(|poll| poll.at).map_or_else(|| "none".to_owned(), |p| p.answer.shown());
        format!(
            "{} did not answer `{value}` within {}s; the last answer: {last}",
            target.shown(),
            TIMEOUT.as_secs()
        )
    })
}

/// When the first answer starting with `value` came.
fn first_with(polls: &[Poll], value: &str) -> Option<Duration> {
    polls.iter().filter(|poll| poll.answer.first_word() == Some(value)).map(|poll| poll.at).min()
}

/// What the failed polls got, and how often.
fn failures(polls: &[Poll]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for poll in polls {
        if let Answer::Failed { kind, .. } = &poll.answer {
            *out.entry(kind.clone()).or_default() += 1;
        }
    }
    out
}

/// `502 ×3, no connection ×1`, or `none`.
fn failure_list(failures: &BTreeMap<String, usize>) -> String {
    if failures.is_empty() {
        return "none".to_owned();
    }
    let parts: Vec<String> = failures.iter().map(|(what, n)| format!("{what} ×{n}")).collect();
    parts.join(", ")
}

/// Everything the table and the document show.
struct Report {
    runs: usize,
    machine: Machine,
    /// The engine and stack image, as one line.
    tools: String,
    results: BTreeMap<Measure, Vec<Timing>>,
}

/// One row: a measurement over the counted runs.
struct Row {
    measure: Measure,
    runs: usize,
    median: Duration,
    min: Duration,
    max: Duration,
    after: Duration,
    after_min: Duration,
    after_max: Duration,
    first_answer: Option<Duration>,
    processes: Option<Duration>,
    polls: usize,
    failures: BTreeMap<String, usize>,
    /// The median over the baseline's.
    ratio: Option<f64>,
}

impl Report {
    fn rows(&self) -> Vec<Row> {
        let done = |timings: &[Timing]| median(timings.iter().map(|t| t.done).collect());
        self.results
            .iter()
            .map(|(&measure, timings)| {
                let dones: Vec<Duration> = timings.iter().map(|t| t.done).collect();
                let afters: Vec<Duration> = timings.iter().map(|t| t.after).collect();
                let mut failures = BTreeMap::new();
                for (what, n) in timings.iter().flat_map(|t| &t.failures) {
                    *failures.entry(what.clone()).or_default() += n;
                }
                let optional = |pick: fn(&Timing) -> Option<Duration>| {
                    timings.iter().map(pick).collect::<Option<Vec<_>>>().map(median)
                };
                let baseline = measure.baseline().and_then(|b| self.results.get(&b));
                Row {
                    measure,
                    runs: timings.len(),
                    median: done(timings),
                    min: dones.iter().copied().min().unwrap_or_default(),
                    max: dones.iter().copied().max().unwrap_or_default(),
                    after: median(afters.clone()),
                    after_min: afters.iter().copied().min().unwrap_or_default(),
                    after_max: afters.iter().copied().max().unwrap_or_default(),
                    first_answer: optional(|t| t.first_answer),
                    processes: optional(|t| t.processes),
                    polls: timings.iter().map(|t| t.polls).sum(),
                    failures,
                    ratio: baseline.map(|b| done(timings).as_secs_f64() / done(b).as_secs_f64()),
                }
            })
            .collect()
    }

    fn terminal_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<36} {:>9} {:>9} {:>9} {:>12} {:>12}  failed polls",
            "measurement", "median", "min", "max", "afterwards", "paas/docker"
        );
        for row in self.rows() {
            let failed = if row.measure.is_paas() {
                format!("{} of {}", failure_list(&row.failures), row.polls)
            } else {
                "–".to_owned()
            };
            let _ = writeln!(
                out,
                "{:<36} {:>9} {:>9} {:>9} {:>12} {:>12}  {failed}",
                row.measure.label().replace('`', ""),
                secs(row.median),
                secs(row.min),
                secs(row.max),
                secs(row.after),
                ratio(row.ratio),
            );
        }
        out
    }

    fn doc_section(&self) -> String {
        let rows = self.rows();
        let runs = self.runs;
        let mut out = String::new();
        let _ = writeln!(out, "{HEADING}\n");
        out.push_str(&self.machine.markdown(&format!("cargo xtask bench rollout --runs {runs}")));
        let _ = writeln!(out, "- {}\n", self.tools);

        let _ = writeln!(out, "### Method\n");
        let _ = writeln!(
            out,
            "One `paasd` (release build) runs for the whole benchmark, as for `bench deploy`: \
             `PAAS_DOCKER=on`, SQLite in a fresh data directory, `PAAS_DOMAIN=localhost`, every \
             listener on a free loopback port, the router it starts. Its drain is short, \
             `PAAS_DRAIN_SECONDS={DRAIN_SECONDS}` (default 30): a replaced container leaves the \
             route table when the new release is promoted and is stopped {DRAIN_SECONDS} s \
             later, so the drain comes after the new containers are routed and does not count \
             in \"until routed\"; the time until the old containers are gone is reported apart \
             (**afterwards**). The health check is the default one (any HTTP answer to `GET /`). \
             The client (xtask, release build), paasd, the router, the Docker engine and the \
             containers share the machine's CPUs.\n"
        );
        let _ = writeln!(
            out,
            "The app, pushed once with `git push` before measuring (not timed), is a Python \
             HTTP server of the standard library with a Dockerfile (`FROM {STACK_IMAGE}`): every \
             `GET` is answered 200 with `<GREETING> <host name>`, the config value and the \
             container's host name, and it exits on SIGTERM. Then {runs} rounds (after a \
             warm-up round 0, not counted) each measure, in this order:\n"
        );
        let _ = writeln!(
            out,
            "1. **paas: config change**: `PATCH /v1/apps/{{app}}/config` with a new `GREETING`, \
             which makes a release of the same image (nothing is built or pulled). The clock \
             starts before the request is sent and stops at the later of two moments: (a) \
             **every answer new**: the end of the first poll through the router, among those \
             sent after the last poll that got anything but the new value, that is, from then \
             on every answer carried it; (b) **processes**: the first `GET \
             /v1/apps/{{app}}/processes` that shows the new release's `web.1` `up` and no \
             process of an older release `up` or `starting` (they are `draining`, out of the \
             route table). **Afterwards**: until the list shows only the new release's \
             processes (the old container drained, stopped and removed).\n\
             2. **docker: blue-green by hand**, the baseline: `docker run -d -p \
             127.0.0.1:<new port>:{CONTAINER_PORT} -e GREETING=<new> <image>` of a second \
             container (the same files, built beforehand with `docker build`, not timed), \
             until its port answers 200 with the new value (the clock's stop); then `docker rm \
             -f` of the old container (**afterwards**). There is no router: the user must still \
             send traffic to the new port.\n\
             3. **paas: rollback**: `POST /v1/apps/{{app}}/rollback` to the release before \
             (the previous `GREETING`), measured as 1.\n\
             4. **paas: scale web=1 -> 10**: `PATCH /v1/apps/{{app}}/formation` web={SCALE_TO}; the \
             clock stops at the later of: the process list shows {SCALE_TO} `web` processes \
             `up` (healthy, in the route table), and the router's answers have come from \
             {SCALE_TO} distinct host names (the end of the poll that brought the tenth). The \
             router takes turns over an app's containers, so with one poll every {} ms the \
             last host name can be seen up to {SCALE_TO} polls after it was routed. \
             **Afterwards**: `PATCH` web=1 until the list shows one `web` process (9 drained, \
             stopped and removed).\n\
             5. **docker: 9 more `docker run`**, the baseline: one `docker run -d` after \
             another (as a script would) of 9 more containers of the image, each published on \
             its own loopback port, until each port has answered 200 (no router, no health \
             check); **afterwards**: one `docker rm -f` of the 9.\n",
            POLL_INTERVAL.as_millis()
        );
        let _ = writeln!(
            out,
            "Polling: during each paas measurement (scale down included) a `GET /` with \
             `Host: <app>.localhost` goes to the router every {} ms, each on a new connection and \
             a thread of its own with a {} s timeout; **failed polls** counts those that were not \
             answered 200 (a status, `no connection`, `timeout`, `error`), out of all polls over \
             all runs: a zero-downtime rollout has none. The process list is read every {} ms \
             on one kept-alive connection; it is what the scheduler last published (it \
             reconciles every 250 ms while a rollout is under way), so it can lag the router by \
             that much. The baselines' ports are polled the same way. A measurement not \
             settled within {} s fails the benchmark. Median, min and max are over the {runs} \
             counted rounds (the median of an even count is the mean of the middle two); \
             paas/docker is the ratio of the medians of the headline times.\n",
            POLL_INTERVAL.as_millis(),
            PROBE_TIMEOUT.as_secs(),
            POLL_INTERVAL.as_millis(),
            TIMEOUT.as_secs(),
        );

        let _ = writeln!(out, "### Results\n");
        let _ = writeln!(out, "Seconds (lower is better). paas/docker above 1 means paas took longer.\n");
        let _ = writeln!(
            out,
            "| Measurement | Until | Runs | Median | min | max | paas/docker | Afterwards | median (min-max) | \
             Failed polls through the router (all runs) |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---|---:|---|");
        for row in &rows {
            let (until, after) = row.measure.clock();
            let failed = if row.measure.is_paas() {
                format!("{} of {}", failure_list(&row.failures), row.polls)
            } else {
                "– (no router)".to_owned()
            };
            let _ = writeln!(
                out,
                "| {} | {until} | {} | {} | {} | {} | {} | {after} | {} ({}-{}) | {failed} |",
                row.measure.label(),
                row.runs,
                secs(row.median),
                secs(row.min),
                secs(row.max),
                ratio(row.ratio),
                secs(row.after),
                secs(row.after_min).trim_end_matches(" s"),
                secs(row.after_max).trim_end_matches(" s"),
            );
        }
        let _ = writeln!(out, "\nWhere paas's clock stops (median seconds from the request):\n");
        let _ = writeln!(
            out,
            "| Measurement | First new answer (scale: tenth host name) | Process list settled | Headline (the later) |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for row in rows.iter().filter(|row| row.measure.is_paas()) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                row.measure.label(),
                report::opt_secs(row.first_answer),
                report::opt_secs(row.processes),
                secs(row.median),
            );
        }
        out
    }
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
        assert_eq!(Options::parse(&args("--runs 3")).unwrap().args(), args("rollout --runs 3"));
        assert!(Options::parse(&args("--runs 0")).is_err());
        assert!(Options::parse(&args("--apps 3")).is_err());
    }

    #[test]
    fn reads_the_process_list_and_release_numbers() {
        let body = br#"[{"name":"web.1","type":"web","release":4,"state":"up","address":null,"restarts":0},
                        {"name":"web.1","type":"web","release":3,"state":"draining","address":null}]"#;
        let procs = parse_procs(body).unwrap();
        assert_eq!((procs.len(), web_up(&procs), procs[1].release), (2, 1, 3));
        assert_eq!(release_of(&Ok(br#"{"release": 7, "vars": {}}"#.to_vec()), "release").unwrap(), 7);
        assert!(release_of(&Ok(b"{}".to_vec()), "version").is_err());
    }

    #[test]
    fn the_section_has_every_row_and_ratio() {
        let timing = |done, after| Timing {
            done: ms(done),
            after: ms(after),
            first_answer: Some(ms(done / 2)),
            processes: Some(ms(done)),
            polls: 10,
            failures: BTreeMap::new(),
        };
        let by_hand = |done, after| Timing { done: ms(done), after: ms(after), ..Timing::default() };
        let mut results = BTreeMap::new();
        results.insert(Measure::Config, vec![timing(1000, 3000)]);
        results.insert(Measure::BlueGreen, vec![by_hand(500, 800)]);
        let mut failed = timing(2000, 1000);
        failed.failures.insert("502".to_owned(), 2);
        results.insert(Measure::ScaleUp, vec![failed]);
        results.insert(Measure::DockerScaleUp, vec![by_hand(4000, 900)]);
        let machine = Machine {
            date: "2026-01-01 00:00 UTC".into(),
            cpus: "2".into(),
            cpu_model: "CPU".into(),
            memory: "1.0 GiB".into(),
            kernel: "6".into(),
            commit: "abc".into(),
            load: "0, 0, 0".into(),
        };
        let report = Report { runs: 1, machine, tools: "Docker engine 1".into(), results };
        let doc = report.doc_section();
        assert!(doc.starts_with(
            "## Rollout\n\nMeasured on 2026-01-01 00:00 UTC with `cargo xtask bench rollout --runs 1`"
        ));
        let has = |line: &str| assert!(doc.contains(line), "{line:?} is missing from:\n{doc}");
        has("| paas: config change (same image) | new release alone routed | 1 | 1.00 s | 1.00 s | 1.00 s | 2.00 | old container gone | 3.00 s (3.00-3.00) | none of 10 |\n");
        has("| docker: blue-green by hand | new container answers | 1 | 0.50 s | 0.50 s | 0.50 s | – | old container removed | 0.80 s (0.80-0.80) | – (no router) |\n");
        has("| paas: scale web=1 -> 10 | 10 up and routed | 1 | 2.00 s | 2.00 s | 2.00 s | 0.50 | back to 1: 9 gone | 1.00 s (1.00-1.00) | 502 ×2 of 10 |\n");
        has("| paas: config change (same image) | 0.50 s | 1.00 s | 1.00 s |\n");
        assert!(report.terminal_table().contains("paas: scale web=1 -> 10"));
    }
}
