//! testssl.sh (Debian's `testssl.sh`, `/usr/bin/testssl`) against the router's HTTPS
//! port, as paasd starts it: the handshake a client gets for the platform domain
//! (`localhost`, the router's default certificate) offers no deprecated protocol and
//! no weak cipher, and no check finds anything of medium severity or worse.
//!
//! The scan covers protocols (`-p`), the standard cipher categories (`-s`), forward
//! secrecy (`-f`) and the vulnerabilities (`-U`: Heartbleed, ROBOT, renegotiation,
//! CRIME, BREACH, POODLE, SWEET32, FREAK, DROWN, Logjam, BEAST, Lucky13, RC4, ...), in
//! about a minute; not the server's defaults (`-S`, certificate details) nor its
//! cipher order (`-P`). Apps are not needed: the platform runs without Docker. The
//! test prints every finding it judged, and fails on:
//!
//! - a finding of severity MEDIUM, HIGH or CRITICAL, or a FATAL scan problem;
//! - SSLv2, SSLv3, TLS 1.0 or TLS 1.1 offered, or TLS 1.2 or 1.3 not;
//! - a NULL, anonymous, EXPORT, LOW (DES, RC2, RC4, 64-bit) or 3DES/IDEA cipher
//!   offered, or RC4 found by the vulnerability scan;
//! - any of those checks missing from the report (a scan that did not run passes
//!   nothing).

use std::io::{Read as _, Seek as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paas_tests::{eventually, spawn_platform_with};

/// Where Debian's package puts testssl.sh.
const TESTSSL: &str = "/usr/bin/testssl";
/// Severities that fail the test (FATAL: the scan itself broke).
const FAILING: &[&str] = &["MEDIUM", "HIGH", "CRITICAL", "FATAL"];
/// Protocols that must not be offered.
const DEPRECATED: &[&str] = &["SSLv2", "SSLv3", "TLS1", "TLS1_1"];
/// Protocols that must be.
const CURRENT: &[&str] = &["TLS1_2", "TLS1_3"];
/// Cipher categories (`-s`) that must not be offered: NULL, anonymous, EXPORT, LOW
/// (DES, RC2, RC4, 64-bit) and 3DES/IDEA.
const WEAK_CIPHERS: &[&str] =
    &["cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA"];
/// A few of `-U`'s checks, whose presence shows that the vulnerability scan ran.
const VULNERABILITIES: &[&str] = &["heartbleed", "ROBOT", "secure_renego", "POODLE_SSL", "SWEET32", "RC4"];
/// The longest the scan may take: it takes about a minute, more on a loaded machine.
const SCAN_TIMEOUT: Duration = Duration::from_secs(600);

/// One line of testssl's flat JSON report.
#[derive(Debug, serde::Deserialize)]
struct Finding {
    id: String,
    severity: String,
    finding: String,
}

impl Finding {
    /// testssl writes `offered`, `offered with final`, `not offered`, ...
    fn offered(&self) -> bool {
        self.finding.starts_with("offered")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn testssl_finds_no_deprecated_protocol_weak_cipher_or_vulnerability() {
    assert!(
        Path::new(TESTSSL).exists(),
        "{TESTSSL} is missing: `cargo xtask test` installs it (Debian package testssl.sh)"
    );
    let platform = spawn_platform_with(|c| c.docker = false).await;
    let https = platform.config.router.as_ref().and_then(|r| r.https_addr).expect("an HTTPS listener");
    eventually("the router listens for HTTPS", || async { tokio::net::TcpStream::connect(https).await.ok() })
        .await;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let json = dir.path().join("testssl.json");
    let target = format!("https://{}:{}", platform.config.domain, https.port());
    let mut scan = Command::new(TESTSSL);
    scan.args(["--quiet", "--warnings", "off", "--color", "0", "--ip", "127.0.0.1"])
        .args(["--connect-timeout", "10", "--openssl-timeout", "10"])
        .args(["-p", "-s", "-f", "-U", "--jsonfile"])
        .arg(&json)
        .arg(&target)
        .current_dir(dir.path())
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || run(scan)).await.expect("the scan's thread");
    let report = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("testssl wrote no JSON report ({e}); its output:\n{output}"));
    let findings: Vec<Finding> = serde_json::from_str(&report)
        .unwrap_or_else(|e| panic!("testssl's JSON report does not parse ({e}):\n{report}"));

    println!("testssl.sh against {target} (127.0.0.1), {} findings:", findings.len());
    for f in &findings {
        println!("{:>8} {}: {}", f.severity, f.id, f.finding);
    }
    let find = |id: &str| findings.iter().find(|f| f.id == id);
    let mut problems = Vec::new();
    for f in findings.iter().filter(|f| FAILING.contains(&f.severity.as_str())) {
        problems.push(format!("{} {}: {}", f.severity, f.id, f.finding));
    }
    for id in DEPRECATED.iter().chain(WEAK_CIPHERS) {
        match find(id) {
            Some(f) if f.offered() => problems.push(format!("{id} is offered: {}", f.finding)),
            Some(_) => {}
            None => problems.push(format!("the report has no `{id}`")),
        }
    }
    for id in CURRENT {
        match find(id) {
            Some(f) if f.offered() => {}
            Some(f) => problems.push(format!("{id} is not offered: {}", f.finding)),
            None => problems.push(format!("the report has no `{id}`")),
        }
    }
    for id in VULNERABILITIES {
        match find(id) {
            Some(f) if f.severity == "OK" => {}
            Some(f) => problems.push(format!("{id} is {}: {}", f.severity, f.finding)),
            None => problems.push(format!("the report has no `{id}`: did the vulnerability scan run?")),
        }
    }
    assert!(problems.is_empty(), "testssl.sh found:\n{}\n\nits output:\n{output}", problems.join("\n"));
}

/// Runs the scan to its end (killed after [`SCAN_TIMEOUT`]); its stdout and stderr.
fn run(mut scan: Command) -> String {
    let mut out = tempfile::tempfile().expect("a file for testssl's output");
    let stdout = out.try_clone().expect("the file again");
    let stderr = out.try_clone().expect("the file again");
    let mut child = scan.stdout(stdout).stderr(stderr).spawn().expect("testssl runs");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("testssl's status") {
            break status;
        }
        if started.elapsed() > SCAN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("testssl did not finish within {}s", SCAN_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut text = String::new();
    out.rewind().expect("the output from the start");
    out.read_to_string(&mut text).expect("testssl's output");
    assert!(status.success(), "testssl failed ({status}):\n{text}");
    text
}
