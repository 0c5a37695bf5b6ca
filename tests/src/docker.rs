//! The Docker engine as a test sees it, through the `docker` CLI: the containers of one
//! platform, and a guard that removes them and the platform network however the test
//! ends.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// One container of a platform, as `docker inspect` reports it.
#[derive(Debug, Clone)]
pub struct Container {
    /// The engine's id.
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its environment, `KEY=value`.
    pub env: Vec<String>,
    /// Whether it runs.
    pub running: bool,
    /// Its address on the platform network.
    pub ip: Option<IpAddr>,
}

impl Container {
    /// `type.index`, from the labels.
    pub fn process(&self) -> String {
        format!("{}.{}", self.labels["paas.type"], self.labels["paas.index"])
    }
}

/// Every container labelled with `platform`, ordered by app, release and process.
pub async fn containers(platform: &str) -> Vec<Container> {
    let ids = docker(&["ps", "-aq", "--filter", &format!("label=paas.platform={platform}")]).await;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["inspect"];
    args.extend(&ids);
    let inspected: serde_json::Value = serde_json::from_str(&docker(&args).await).expect("inspect JSON");
    let network = format!("paas-{platform}");
    let mut out: Vec<Container> = inspected
        .as_array()
        .expect("an array")
        .iter()
        .map(|c| Container {
            id: c["Id"].as_str().unwrap_or_default().to_owned(),
            labels: serde_json::from_value(c["Config"]["Labels"].clone()).unwrap_or_default(),
            env: serde_json::from_value(c["Config"]["Env"].clone()).unwrap_or_default(),
            running: c["State"]["Running"].as_bool().unwrap_or(false),
            ip: c["NetworkSettings"]["Networks"][&network]["IPAddress"].as_str().and_then(|s| s.parse().ok()),
        })
        .collect();
    out.sort_by_key(|c| {
        (c.labels.get("paas.app").cloned(), c.labels.get("paas.release").cloned(), c.process())
    });
    out
}

async fn docker(args: &[&str]) -> String {
    let output = tokio::process::Command::new("docker").args(args).output().await.expect("docker runs");
    // A container removed between `ps` and `inspect` makes inspect fail for it only.
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Removes every container and the network of a platform when dropped, so a failing
/// test leaves nothing behind.
pub struct DockerCleanup {
    platform: String,
}

impl DockerCleanup {
    /// Guards the platform `platform`.
    pub fn new(platform: &str) -> Self {
        Self { platform: platform.to_owned() }
    }
}

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        // A failing test's containers are shown before they go: the guard is usually
        // dropped before the platform, whose own report would find none left.
        if std::thread::panicking() {
            eprintln!("--- containers, before their removal:\n{}", describe_platform(&self.platform));
        }
        remove_platform(&self.platform);
    }
}

/// What the docker CLI prints for `args`, now; nothing when it cannot run.
fn docker_now(args: &[&str]) -> String {
    std::process::Command::new("docker")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Every container of the platform `platform`, running or not, for a failing test's
/// report: name, status, image and how it ended (exit code, OOM kill, when), then the
/// last lines of its output.
pub fn describe_platform(platform: &str) -> String {
    let filter = format!("label=paas.platform={platform}");
    let ids = docker_now(&["ps", "-aq", "--filter", &filter]);
    let format = "{{.Name}} {{.State.Status}} {{.Config.Image}} exit={{.State.ExitCode}} \
                  oom={{.State.OOMKilled}} started={{.State.StartedAt}} finished={{.State.FinishedAt}}";
    let mut out = String::new();
    for id in ids.split_whitespace() {
        out += &docker_now(&["inspect", "--format", format, id]);
        let logs = std::process::Command::new("docker")
            .args(["logs", "--timestamps", "--tail", "15", id])
            .output()
            .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
            .unwrap_or_default();
        for line in logs.lines() {
            out += &format!("    {line}\n");
        }
    }
    out
}

/// Removes every container of the platform `platform` and its network, now.
pub fn remove_platform(platform: &str) {
    let ids = docker_now(&["ps", "-aq", "--filter", &format!("label=paas.platform={platform}")]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(&ids);
        docker_now(&args);
    }
    docker_now(&["network", "rm", &format!("paas-{platform}")]);
}
