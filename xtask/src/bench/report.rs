//! Where the numbers were taken, and the document they go to: the machine's
//! description every benchmark's section starts with, and the rewrite of one `## `
//! section of `docs/benchmarks.md` that keeps the others as they are.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::process;

/// The document whose sections the benchmarks replace.
pub const DOC: &str = "docs/benchmarks.md";

/// The start of a new `docs/benchmarks.md`.
const DOC_INTRO: &str = "\
# Benchmarks

Numbers measured on one machine, to compare paas with what it replaces or runs on and
to notice regressions. They are only as good as their method: each section says what
was measured, how, and where. `cargo xtask` regenerates each section; see
`cargo xtask help`.
";

/// Where the numbers were taken.
pub struct Machine {
    pub date: String,
    pub cpus: String,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
    pub commit: String,
    /// The 1-, 5- and 15-minute load averages before the first measurement.
    pub load: String,
}

impl Machine {
    /// Reads the machine now; `load` is [`load_average`] as it was before measuring.
    pub fn read(load: String) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = proc_field(&cpuinfo, "model name").unwrap_or("unknown").to_owned();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        #[allow(clippy::cast_precision_loss)]
        let memory = proc_field(&meminfo, "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or_else(|| "unknown".to_owned(), |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0));
        let root = process::repo_root();
        let root = root.to_string_lossy();
        let mut commit = command("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
        if !command("git", &["-C", &root, "status", "--porcelain"]).is_empty() {
            commit.push_str(" (with uncommitted changes)");
        }
        Self {
            date: command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            cpus: command("nproc", &[]),
            cpu_model,
            memory,
            kernel: command("uname", &["-r"]),
            commit,
            load,
        }
    }

    /// The section's first line, `Measured on <date> with <command> at commit <commit>.`,
    /// and the start of its `### Machine` list (the caller adds its own items).
    pub fn markdown(&self, command: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Measured on {} with `{command}` at commit {}.\n", self.date, self.commit);
        let _ = writeln!(out, "### Machine\n");
        let _ = writeln!(out, "- CPU: {} ({} CPUs as `nproc` counts them)", self.cpu_model, self.cpus);
        let _ = writeln!(out, "- Memory: {}", self.memory);
        let _ = writeln!(out, "- Kernel: Linux {}", self.kernel);
        let _ = writeln!(
            out,
            "- Load average before measuring (1, 5, 15 min): {} (other work on the machine skews \
             the numbers)",
            self.load
        );
        out
    }
}

/// The trimmed stdout of a command, or `unknown` when it fails.
pub fn command(program: &str, args: &[&str]) -> String {
    process::read(Command::new(program).args(args))
        .map(|out| out.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The 1-, 5- and 15-minute load averages: other work on the machine skews the numbers.
pub fn load_average() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = loadavg.split_whitespace().take(3).collect();
    if fields.len() == 3 {
        fields.join(", ")
    } else {
        "unknown".to_owned()
    }
}

/// The value of the first `name: value` line of a `/proc` file.
fn proc_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

/// Replaces the section under `heading` of [`DOC`] with `section` (which starts with
/// that heading), adds it at the end when there is none, or makes the document.
pub fn write_section(heading: &str, section: &str) -> anyhow::Result<()> {
    let path = process::repo_root().join(DOC);
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("could not read {}", path.display())),
    };
    let text = match existing {
        Some(text) => replace_section(&text, heading, section),
        None => format!("{DOC_INTRO}\n{section}"),
    };
    std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?;
    eprintln!("\nxtask: wrote the `{heading}` section of {DOC}");
    Ok(())
}

/// `doc` with its `heading` section (to the next `## ` heading or the end) replaced by
/// `section`, or `section` appended when there is none.
fn replace_section(doc: &str, heading: &str, section: &str) -> String {
    let lines: Vec<&str> = doc.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|line| line.trim_end() == heading) else {
        let mut out = doc.trim_end().to_owned();
        out.push_str("\n\n");
        out.push_str(section);
        return out;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|line| line.starts_with("## "))
        .map_or(lines.len(), |offset| start + 1 + offset);
    let mut out: String = lines[..start].concat();
    out.push_str(section);
    if end < lines.len() {
        out.push('\n');
        out.push_str(&lines[end..].concat());
    }
    out
}

/// The median: the middle value, or the mean of the middle two.
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => Duration::ZERO,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2,
    }
}

/// `2.31 s`.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `2.31 s`, or `n/a`.
pub fn opt_secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "n/a".to_owned(), secs)
}

/// `0.97`, or `–`.
pub fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_named_section() {
        let doc = "# B\n\nintro\n\n## Build\n\nfast\n\n## API\n\nold\n### Sub\nold\n\n## Git\n\npush\n";
        let new = replace_section(doc, "## API", "## API\n\nnew\n");
        assert_eq!(new, "# B\n\nintro\n\n## Build\n\nfast\n\n## API\n\nnew\n\n## Git\n\npush\n");
        let at_end = replace_section("# B\n\n## API\n\nold\n", "## API", "## API\n\nnew\n");
        assert_eq!(at_end, "# B\n\n## API\n\nnew\n");
        let appended = replace_section("# B\n\nintro\n", "## API", "## API\n\nnew\n");
        assert_eq!(appended, "# B\n\nintro\n\n## API\n\nnew\n");
        // `## API history` is another section, not `## API`.
        let doc = "# B\n\n## API\n\nold\n\n## API history\n\nkept\n";
        let new = replace_section(doc, "## API history", "## API history\n\nnew\n");
        assert_eq!(new, "# B\n\n## API\n\nold\n\n## API history\n\nnew\n");
        let deploy = replace_section(doc, "## Deploy", "## Deploy\n\nnew\n");
        assert_eq!(deploy, "# B\n\n## API\n\nold\n\n## API history\n\nkept\n\n## Deploy\n\nnew\n");
    }

    #[test]
    fn reads_proc_fields() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC\nMemTotal:  1024 kB\n";
        assert_eq!(proc_field(text, "model name"), Some("AMD EPYC"));
        assert_eq!(proc_field(text, "MemTotal"), Some("1024 kB"));
        assert_eq!(proc_field(text, "flags"), None);
    }
}
