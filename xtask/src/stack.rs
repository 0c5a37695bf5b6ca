//! `cargo xtask stack`: the stack image, the Debian base that buildpack builds run in
//! and that their output runs on.
//!
//! The recipe is `stack/` (`build.sh` and `packages.txt`, see `stack/README.md`); this
//! module decides whether to run it, hands it the machine's own Debian mirror (read from
//! the apt sources, both the one-line `.list` and the deb822 `.sources` format), and
//! checks the image it made or found.
//!
//! The image is tagged by content: `paas/stack:<suite>-<12 hex>`, the hex being the start
//! of the SHA-256 of the suite and the recipe files. An unchanged recipe finds its image
//! and builds nothing; a changed one gets a new tag and a build. `paas/stack:<suite>` is
//! moved to the image of the current recipe.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use sha2::{Digest, Sha256};

use crate::{apt, process};

/// The Debian package that makes the root file system; probed by path, since `/usr/sbin`
/// is not on every user's `PATH`.
pub const PACKAGES: &[(&str, &str)] = &[("/usr/sbin/debootstrap", "debootstrap")];

/// The Docker repository of the stack images.
const REPOSITORY: &str = "paas/stack";

/// The Debian release the stack is made of.
const SUITE: &str = "bookworm";

/// The files under `stack/` that make the image; their content names it.
const RECIPE_FILES: &[&str] = &["build.sh", "packages.txt"];

/// Hex digits of the recipe's SHA-256 in the tag.
const TAG_HEX_DIGITS: usize = 12;

/// Where apt reads its sources: the one-line file, then the directory's `*.list` and
/// `*.sources` files in name order.
const APT_SOURCES_LIST: &str = "/etc/apt/sources.list";
const APT_SOURCES_DIR: &str = "/etc/apt/sources.list.d";

/// Debian's release names and aliases: an apt source with one of these suites (and no
/// `-updates`-style suffix) is a Debian archive, which serves every release.
const DEBIAN_SUITES: &[&str] = &[
    "buster",
    "bullseye",
    "bookworm",
    "trixie",
    "forky",
    "duke",
    "sid",
    "oldoldstable",
    "oldstable",
    "stable",
    "testing",
    "unstable",
];

/// The flags of `cargo xtask stack`.
#[derive(Debug, Default)]
pub struct Options {
    /// `--rebuild`: build even when the image exists.
    rebuild: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self::default();
        for arg in args {
            match arg.as_str() {
                "--rebuild" => options.rebuild = true,
                other => bail!("unknown option `{other}` for `stack`; see `cargo xtask help`"),
            }
        }
        Ok(options)
    }
}

/// `cargo xtask stack`: makes the image when missing, checks it, prints its tag.
pub fn run(options: &Options) -> anyhow::Result<()> {
    apt::ensure_packages(PACKAGES)?;
    println!("{}", ensure(options.rebuild)?);
    Ok(())
}

/// Makes sure the stack image of the current recipe exists and works; returns its
/// content tag. Builds it when missing (or when `rebuild`), which needs [`PACKAGES`].
pub fn ensure(rebuild: bool) -> anyhow::Result<String> {
    let dir = process::repo_root().join("stack");
    let tag = content_tag(&dir)?;
    let moving = format!("{REPOSITORY}:{SUITE}");
    docker_answers()?;

    let existing = image_id(&tag)?;
    if existing.is_some() && !rebuild {
        eprintln!("xtask: stack image {tag} exists, not building it");
        process::read(Command::new("docker").args(["tag", &tag, &moving]))?;
    } else {
        let source = mirror(SUITE)?;
        eprintln!("xtask: building stack image {tag} from {} (a minute or so)", source.uri);
        let start = Instant::now();
        if existing.is_some() {
            // build.sh builds nothing when its first tag exists.
            process::read(Command::new("docker").args(["image", "rm", "--no-prune", &tag]))?;
        }
        let mut build = as_root("bash");
        build.arg(dir.join("build.sh"));
        if let Some(keyring) = source.keyring() {
            build.arg("--keyring").arg(keyring);
        }
        process::run(build.args([SUITE, &source.uri, &tag, &moving]))?;
        eprintln!("xtask: built {tag} in {:.0}s", start.elapsed().as_secs_f64());
        if let Some(old) = existing {
            // The image rebuilt over; refused, harmlessly, while a tag or a container
            // still uses it.
            let _ = process::output(Command::new("docker").args(["image", "rm", &old]));
        }
    }

    check(&tag)?;
    Ok(tag)
}

/// `paas/stack:<suite>-<hex>`: the hex starts the SHA-256 of the suite and each recipe
/// file (name, length, bytes).
fn content_tag(dir: &Path) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(SUITE.as_bytes());
    hasher.update([0]);
    for name in RECIPE_FILES {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).with_context(|| format!("could not read {}", path.display()))?;
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(u64::try_from(bytes.len())?.to_le_bytes());
        hasher.update(&bytes);
    }
    let mut hex = String::new();
    for byte in hasher.finalize() {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(format!("{REPOSITORY}:{SUITE}-{}", &hex[..TAG_HEX_DIGITS]))
}

/// Fails with a hint unless a Docker engine answers the `docker` CLI.
fn docker_answers() -> anyhow::Result<()> {
    let version =
        process::output(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]))
            .context("the stack image needs the docker CLI\nhint: apt-get install docker.io")?;
    if !version.status.success() {
        bail!(
            "no Docker engine answers:\n{}\nhint: start it (`systemctl start docker`, or `dockerd &`)",
            String::from_utf8_lossy(&version.stderr).trim()
        );
    }
    Ok(())
}

/// The id of the image named `tag`, if there is one.
fn image_id(tag: &str) -> anyhow::Result<Option<String>> {
    let inspect =
        process::output(Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", tag]))?;
    let id = String::from_utf8_lossy(&inspect.stdout).trim().to_owned();
    Ok((inspect.status.success() && !id.is_empty()).then_some(id))
}

/// `program` as root: itself when xtask runs as root, through `sudo` otherwise.
fn as_root(program: &str) -> Command {
    if process::is_root() {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg(program);
        sudo
    }
}

/// The image is real: Python with venv and TLS runs offline as the unprivileged default
/// user, and that user can make a virtualenv with pip. Prints the Python version and the
/// image's size. Containers are removed when they exit (`--rm`).
fn check(tag: &str) -> anyhow::Result<()> {
    let python = "\
import os, ssl, sys, venv
assert os.getuid() == 1000, f'runs as uid {os.getuid()}, not 1000'
cafile = ssl.get_default_verify_paths().cafile
assert cafile and os.path.isfile(cafile), 'no CA bundle'
print(sys.version.split()[0])
";
    let version = process::read(&mut docker_run(&[], tag, &["python3", "-c", python]))
        .context("the stack image does not run Python as user 1000 with venv and a CA bundle")?;
    let venv = "python3 -m venv /tmp/v && /tmp/v/bin/python -c 'print(42)' && /tmp/v/bin/pip --version";
    let out = process::read(&mut docker_run(&["--user", "1000"], tag, &["sh", "-c", venv]))
        .context("user 1000 cannot make a virtualenv in the stack image")?;
    ensure!(out.lines().next() == Some("42"), "the virtualenv's python printed {out:?}, not 42");

    let size =
        process::read(Command::new("docker").args(["image", "inspect", "--format", "{{.Size}}", tag]))?;
    let size: u64 = size.trim().parse().with_context(|| format!("docker gave the image size {size:?}"))?;
    eprintln!(
        "xtask: stack image {tag} works: python {}, virtualenv with pip, {:.1} MB",
        version.trim(),
        size as f64 / 1e6
    );
    Ok(())
}

/// `docker run --rm --network none <options> <tag> <command>`.
fn docker_run(options: &[&str], tag: &str, command: &[&str]) -> Command {
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--network", "none"]).args(options).arg(tag).args(command);
    cmd
}

/// One `deb` entry of the apt sources.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    uri: String,
    suite: String,
    components: Vec<String>,
    /// `signed-by`: a keyring file, a fingerprint, or an inline key.
    signed_by: Option<String>,
}

impl Source {
    /// The keyring file the entry names, when it names one that exists.
    fn keyring(&self) -> Option<PathBuf> {
        let value = self.signed_by.as_deref()?.trim();
        let path = Path::new(value);
        (path.is_absolute() && !value.contains(char::is_whitespace) && path.is_file())
            .then(|| path.to_path_buf())
    }
}

/// The machine's Debian mirror for `suite`, read from its apt sources.
fn mirror(suite: &str) -> anyhow::Result<Source> {
    let mut files = vec![PathBuf::from(APT_SOURCES_LIST)];
    let mut more: Vec<PathBuf> = std::fs::read_dir(APT_SOURCES_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "list" || ext == "sources"))
        .collect();
    more.sort();
    files.extend(more);

    let mut sources = Vec::new();
    for file in files.iter().filter(|file| file.is_file()) {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("could not read {}", file.display()))?;
        if file.extension().is_some_and(|ext| ext == "sources") {
            sources.extend(parse_deb822(&text));
        } else {
            sources.extend(parse_one_line(&text));
        }
    }
    match choose_mirror(&sources, suite) {
        Some(source) => Ok(source.clone()),
        None => bail!(
            "no Debian archive with `main` in the apt sources ({APT_SOURCES_LIST}, {APT_SOURCES_DIR}/*.list, \
             {APT_SOURCES_DIR}/*.sources); found {}\n\
             hint: the stack image is made with debootstrap from the machine's own Debian mirror; \
             configure one for apt",
            if sources.is_empty() {
                "no `deb` entries".to_owned()
            } else {
                sources.iter().map(|s| format!("{} {}", s.uri, s.suite)).collect::<Vec<_>>().join(", ")
            }
        ),
    }
}

/// The entry for `suite` with component `main`; failing that, one for another Debian
/// release (`trixie`, `stable`, ...), whose archive serves `suite` too.
fn choose_mirror<'a>(sources: &'a [Source], suite: &str) -> Option<&'a Source> {
    let with_main = || sources.iter().filter(|s| s.components.iter().any(|c| c == "main"));
    with_main()
        .find(|s| s.suite == suite)
        .or_else(|| with_main().find(|s| DEBIAN_SUITES.contains(&s.suite.as_str())))
}

/// The `deb` entries of a one-line-format file (`sources.list`, `*.list`):
/// `deb [ key=value ... ] uri suite [component ...]`, `#` to the end of a line a comment.
fn parse_one_line(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some(rest) = line.strip_prefix("deb").filter(|rest| rest.starts_with(char::is_whitespace)) else {
            continue;
        };
        let rest = rest.trim_start();
        let (options, rest) = match rest.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((options, rest)) => (options, rest),
                None => continue,
            },
            None => ("", rest),
        };
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        let signed_by = options
            .split_whitespace()
            .find_map(|option| option.strip_prefix("signed-by="))
            .map(str::to_owned);
        sources.push(Source {
            uri: uri.to_owned(),
            suite: suite.to_owned(),
            components: words.map(str::to_owned).collect(),
            signed_by,
        });
    }
    sources
}

/// The `deb` entries of a deb822 file (`*.sources`): paragraphs of `Field: value`,
/// separated by blank lines, continued by indented lines, `#` lines comments; field
/// names are case-insensitive. One entry per URI and suite; `Enabled: no` paragraphs are
/// skipped.
fn parse_deb822(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            sources.extend(deb822_entries(&fields));
            fields.clear();
        } else if line.starts_with(char::is_whitespace) {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    sources
}

/// The entries of one deb822 paragraph.
fn deb822_entries(fields: &[(String, String)]) -> Vec<Source> {
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let words = |name: &str| field(name).unwrap_or_default().split_whitespace().collect::<Vec<_>>();
    if !words("types").contains(&"deb") || field("enabled").is_some_and(|v| v.eq_ignore_ascii_case("no")) {
        return Vec::new();
    }
    let components: Vec<String> = words("components").into_iter().map(str::to_owned).collect();
    let signed_by = field("signed-by").map(str::to_owned);
    let mut entries = Vec::new();
    for uri in words("uris") {
        for suite in words("suites") {
            entries.push(Source {
                uri: uri.to_owned(),
                suite: suite.to_owned(),
                components: components.clone(),
                signed_by: signed_by.clone(),
            });
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(uri: &str, suite: &str, components: &[&str]) -> Source {
        Source {
            uri: uri.to_owned(),
            suite: suite.to_owned(),
            components: components.iter().map(|c| (*c).to_owned()).collect(),
            signed_by: None,
        }
    }

    #[test]
    fn one_line_entries_with_options_and_comments() {
        let text = "\
# deb http://commented.example/debian bookworm main
deb-src http://deb.debian.org/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian/ bookworm main contrib # the mirror
deb http://security.debian.org/debian-security bookworm-security main
debx http://nope.example bookworm main
deb [broken http://nope.example bookworm main
deb http://only-a-uri.example
";
        let sources = parse_one_line(text);
        assert_eq!(
            sources,
            vec![
                Source {
                    signed_by: Some("/usr/share/keyrings/debian-archive-keyring.gpg".to_owned()),
                    ..source("http://mirror.example/debian/", "bookworm", &["main", "contrib"])
                },
                source("http://security.debian.org/debian-security", "bookworm-security", &["main"]),
            ]
        );
    }

    #[test]
    fn deb822_paragraphs_multiply_uris_and_suites() {
        let text = "\
Types: deb deb-src
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

types: deb
uris: http://a.example/debian http://b.example/debian
suites: trixie
components: main
enabled: no

Types: deb
URIs: http://inline.example/debian
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NdOOHwPIJlgPu6JDcKw/NZJPR8lsD9K7ZcZFQ2YB0b5bT7
 -----END PGP PUBLIC KEY BLOCK-----
";
        let sources = parse_deb822(text);
        let keyring = Some("/usr/share/keyrings/debian-archive-keyring.gpg".to_owned());
        assert_eq!(sources.len(), 3, "{sources:#?}");
        assert_eq!(
            sources[..2],
            [
                Source {
                    signed_by: keyring.clone(),
                    ..source("http://deb.debian.org/debian", "bookworm", &["main"])
                },
                Source {
                    signed_by: keyring,
                    ..source("http://deb.debian.org/debian", "bookworm-updates", &["main"])
                },
            ]
        );
        assert_eq!(sources[2].uri, "http://inline.example/debian");
        assert_eq!(sources[2].keyring(), None, "an inline key is not a keyring file");
    }

    #[test]
    fn mirror_prefers_the_suite_then_any_debian_release() {
        let security = source("http://security.example/debian-security", "bookworm-security", &["main"]);
        let vendor = source("https://deb.nodesource.com/node_20.x", "nodistro", &["main"]);
        let contrib = source("http://contrib.example/debian", "bookworm", &["contrib"]);
        let trixie = source("http://trixie.example/debian", "trixie", &["main"]);
        let bookworm = source("http://bookworm.example/debian", "bookworm", &["main", "non-free"]);

        let all = [security.clone(), vendor.clone(), contrib.clone(), trixie.clone(), bookworm.clone()];
        assert_eq!(choose_mirror(&all, "bookworm"), Some(&bookworm));
        let no_bookworm = [security.clone(), vendor.clone(), contrib.clone(), trixie.clone()];
        assert_eq!(choose_mirror(&no_bookworm, "bookworm"), Some(&trixie));
        assert_eq!(choose_mirror(&[security, vendor, contrib], "bookworm"), None);
    }

    #[test]
    fn content_tag_follows_the_recipe() {
        let dir = std::env::temp_dir().join(format!("xtask-stack-tag-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("build.sh"), "echo build\n").unwrap();
        std::fs::write(dir.join("packages.txt"), "python3\n").unwrap();
        let first = content_tag(&dir).unwrap();
        assert_eq!(content_tag(&dir).unwrap(), first);
        assert!(first.starts_with("paas/stack:bookworm-"), "{first}");
        assert_eq!(first.len(), "paas/stack:bookworm-".len() + TAG_HEX_DIGITS);

        std::fs::write(dir.join("packages.txt"), "python3\nnetbase\n").unwrap();
        let second = content_tag(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_ne!(second, first);
    }
}
