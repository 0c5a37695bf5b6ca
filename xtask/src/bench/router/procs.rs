//! The processes `bench router` starts: each in a process group of its own, pinned to
//! one CPU with `taskset`, its output in a log file, and the whole group ended when
//! dropped (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]), so that an nginx master's
//! workers go with it and nothing outlives the benchmark, whether it ends or fails.
//!
//! Also here: the CPU time a group has used (from `/proc`), which tells whether a proxy
//! was the bottleneck of a measurement.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::process;

/// How long a group may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running program (and whatever it forks), killed when dropped.
pub struct Group {
    name: String,
    child: Child,
    log: PathBuf,
    /// Whether the leader has been waited for.
    reaped: bool,
    /// Whether the group has been killed after its leader was reaped: its id may
    /// belong to another process by now, so it gets no more signals.
    ended: bool,
}

impl Group {
    /// Starts `program args` on `cpu` (through `taskset -c`), in a new process group,
    /// with stdin from `/dev/null` and stdout and stderr appended to `log`; `configure`
    /// adds environment and the like.
    pub fn spawn(
        name: &str,
        cpu: usize,
        program: &str,
        args: &[String],
        log: &Path,
        configure: impl FnOnce(&mut Command),
    ) -> anyhow::Result<Self> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("could not open {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(cpu.to_string()).arg(program).args(args);
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        configure(&mut cmd);
        let child = cmd.spawn().with_context(|| format!("could not start {program} (through taskset)"))?;
        Ok(Self { name: name.to_owned(), child, log: log.to_owned(), reaped: false, ended: false })
    }

    /// The process id of the leader, which is also the process group's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails, with the end of its log, when the leader has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            self.reaped = true;
            bail!("{} exited ({status}); the end of its log:\n{}", self.name, self.log_tail());
        }
        Ok(())
    }

    /// Waits for the leader to exit, at most `timeout`; then ends the group.
    pub fn wait(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                self.signal("KILL");
                self.ended = true;
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not finish within {}s; the end of its log:\n{}",
                    self.name,
                    timeout.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last 20 lines of the log.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Clock ticks of CPU (user and system, with reaped children's) used so far by the
    /// processes of the group.
    pub fn cpu_ticks(&self) -> u64 {
        group_cpu_ticks(self.pid())
    }

    /// Sends `signal` to every process of the group; a group that is gone is fine.
    fn signal(&self, signal: &str) {
        let group = format!("-{}", self.pid());
        let _ = process::output(Command::new("kill").args(["-s", signal, "--", &group]));
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        self.signal("TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !self.reaped && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => self.reaped = true,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        // Whatever is left of the group (workers of a master that went first).
        self.signal("KILL");
        if !self.reaped {
            let _ = self.child.wait();
        }
    }
}

/// What was running, at one moment: a proxy's CPU time and each CPU's busy time.
#[derive(Debug, Clone)]
pub struct Usage {
    group_ticks: u64,
    /// `(busy, total)` clock ticks of each CPU asked for, from `/proc/stat`.
    cpus: Vec<(u64, u64)>,
}

/// Shares of a CPU between two [`Usage`]s: 1.0 is one whole CPU.
#[derive(Debug, Clone, Default)]
pub struct Shares {
    /// The proxy's processes.
    pub proxy: f64,
    /// Each CPU asked for, busy with anything (the proxy, the load, other work on the
    /// machine).
    pub cpus: Vec<f64>,
}

impl Usage {
    /// `group`'s CPU time and the busy time of `cpus`, now.
    pub fn now(group: &Group, cpus: &[usize]) -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpus = cpus.iter().map(|cpu| cpu_busy(&stat, *cpu)).collect();
        Self { group_ticks: group.cpu_ticks(), cpus }
    }

    /// The shares used from `earlier` to `self`, `seconds` apart.
    pub fn since(&self, earlier: &Self, seconds: f64, ticks_per_second: f64) -> Shares {
        let proxy = self.group_ticks.saturating_sub(earlier.group_ticks) as f64 / ticks_per_second / seconds;
        let cpus = self
            .cpus
            .iter()
            .zip(&earlier.cpus)
            .map(|((busy, total), (busy0, total0))| {
                let total = total.saturating_sub(*total0);
                if total == 0 {
                    0.0
                } else {
                    busy.saturating_sub(*busy0) as f64 / total as f64
                }
            })
            .collect();
        Shares { proxy, cpus }
    }
}

/// `(busy, total)` clock ticks of `cpu` in a `/proc/stat` text: everything but idle
/// and iowait is busy.
fn cpu_busy(stat: &str, cpu: usize) -> (u64, u64) {
    let name = format!("cpu{cpu}");
    let Some(line) = stat.lines().find(|l| l.split_whitespace().next() == Some(name.as_str())) else {
        return (0, 0);
    };
    // user nice system idle iowait irq softirq steal (guest time is within user).
    let fields: Vec<u64> = line.split_whitespace().skip(1).take(8).map(|f| f.parse().unwrap_or(0)).collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The CPU clock ticks of every process whose process group is `pgid`.
fn group_cpu_ticks(pgid: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let mut ticks = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        if let Some((group, used)) = parse_stat(&stat) {
            if group == pgid {
                ticks += used;
            }
        }
    }
    ticks
}

/// From a `/proc/<pid>/stat` line: the process group, and utime + stime + cutime +
/// cstime.
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    // The command name is in parentheses and may hold anything: fields start after the
    // last `)`. Counted from there: state 0, ppid 1, pgrp 2, ..., utime 11 .. cstime 14.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let pgrp = fields.get(2)?.parse().ok()?;
    let used = fields.get(11..15)?.iter().map(|f| f.parse::<u64>().unwrap_or(0)).sum();
    Some((pgrp, used))
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 when unknown.
pub fn ticks_per_second() -> u64 {
    process::read(Command::new("getconf").arg("CLK_TCK"))
        .ok()
        .and_then(|out| out.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(100)
}

/// The CPUs this process may run on (`Cpus_allowed_list` of `/proc/self/status`).
pub fn allowed_cpus() -> anyhow::Result<Vec<usize>> {
    let status = std::fs::read_to_string("/proc/self/status").context("could not read /proc/self/status")?;
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .context("/proc/self/status has no Cpus_allowed_list")?;
    parse_cpu_list(list.trim())
}

/// `0-2,5` -> `[0, 1, 2, 5]`.
fn parse_cpu_list(list: &str) -> anyhow::Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("unexpected CPU list `{list}`");
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to): (usize, usize) =
                    (from.parse().with_context(bad)?, to.parse().with_context(bad)?);
                cpus.extend(from..=to);
            }
            None => cpus.push(part.parse().with_context(bad)?),
        }
    }
    Ok(cpus)
}

/// Pins every thread of this process (and so every program it starts afterwards,
/// unless started through `taskset` elsewhere) to `cpu`.
pub fn pin_self(cpu: usize) -> anyhow::Result<()> {
    let pid = std::process::id().to_string();
    process::read(Command::new("taskset").args(["-a", "-p", "-c", &cpu.to_string(), &pid]))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_lists_and_stat_lines() {
        assert_eq!(parse_cpu_list("0-1").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpu_list("0,2-3,7").unwrap(), vec![0, 2, 3, 7]);
        assert!(parse_cpu_list("a-b").is_err());
        let stat = "4242 (nginx: worker (x)) S 4240 4240 4240 0 -1 4194624 1 0 0 0 17 3 2 1 20 0 1 0";
        assert_eq!(parse_stat(stat), Some((4240, 17 + 3 + 2 + 1)));
        let proc_stat = "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 10 0 5 80 5 0 0 0 0 0\ncpu1 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(cpu_busy(proc_stat, 0), (15, 100));
        assert_eq!(cpu_busy(proc_stat, 1), (27, 36));
        assert_eq!(cpu_busy(proc_stat, 7), (0, 0));
    }
}
