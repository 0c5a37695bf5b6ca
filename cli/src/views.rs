//! Human renderings of the API's wire types: pure functions from data to text, so the
//! tables a user reads are pinned by tests.

use std::collections::BTreeMap;

use paas_core::api::{
    App, AppInfo, Build, Certificate, Collaborator, Domain, Healthcheck, Process, ProcessFormation, Release,
    Token, User,
};

use crate::table::{key_values, Table};

/// `v3`.
pub fn version(n: u32) -> String {
    format!("v{n}")
}

/// `paas apps`.
pub fn apps(apps: &[App]) -> String {
    let mut t = Table::new(["NAME", "OWNER", "RELEASE", "URL"]);
    for a in apps {
        t.row([a.name.clone(), a.owner.clone(), version(a.release), a.url.clone()]);
    }
    t.render()
}

/// `paas ps`: one process a row.
pub fn processes(processes: &[Process]) -> String {
    let mut t = Table::new(["PROCESS", "RELEASE", "STATE", "RESTARTS", "UPTIME", "ADDRESS"]);
    for p in processes {
        t.row([
            p.name.clone(),
            version(p.release),
            p.state.clone(),
            p.restarts.to_string(),
            p.uptime_secs.map(duration).unwrap_or_default(),
            p.address.clone().unwrap_or_default(),
        ]);
    }
    t.render()
}

/// `42s`, `5m3s`, `2h1m`, `3d4h`: a duration in its two largest units.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// `paas healthchecks`: one line per process type with a check.
pub fn healthchecks(checks: &[Healthcheck]) -> String {
    let mut t = Table::new(["TYPE", "PATH", "TIMEOUT", "INTERVAL", "ATTEMPTS"]);
    for c in checks {
        t.row([
            c.process_type.clone(),
            c.path.clone(),
            format!("{}ms", c.timeout_ms),
            format!("{}ms", c.interval_ms),
            c.attempts.to_string(),
        ]);
    }
    t.render()
}

/// `paas apps:info`.
pub fn app_info(info: &AppInfo) -> String {
    let collaborators: Vec<&str> =
        info.collaborators.iter().filter(|c| c.role != "owner").map(|c| c.username.as_str()).collect();
    let domains: Vec<&str> = info.domains.iter().map(|d| d.hostname.as_str()).collect();
    key_values([
        ("Name", info.app.name.clone()),
        ("Owner", info.app.owner.clone()),
        ("Web URL", info.app.url.clone()),
        ("Git URL", info.git_url.clone()),
        ("Release", version(info.app.release)),
        ("Created", info.app.created_at.clone()),
        ("Collaborators", collaborators.join(", ")),
        ("Domains", domains.join(", ")),
        ("Processes", formation(&info.formation)),
    ])
}

/// `web=2 worker=0`: a formation on one line.
pub fn formation(formation: &[ProcessFormation]) -> String {
    formation.iter().map(|p| format!("{}={}", p.process_type, p.quantity)).collect::<Vec<_>>().join(" ")
}

/// `paas config` and the config part of `paas releases:info`.
pub fn config(values: &BTreeMap<String, String>) -> String {
    key_values(values)
}

/// `paas releases`: newest first, as the API sends them.
pub fn releases(releases: &[Release]) -> String {
    let mut t = Table::new(["VERSION", "STATUS", "SUMMARY", "BY", "CREATED"]);
    for r in releases {
        t.row([
            release_version(r),
            r.status.clone(),
            r.summary.clone(),
            r.created_by.clone(),
            r.created_at.clone(),
        ]);
    }
    let mut out = t.render();
    for r in releases.iter().filter(|r| r.failure.is_some()) {
        out.push_str(&format!("v{} failed: {}\n", r.version, r.failure.as_deref().unwrap_or_default()));
    }
    out
}

/// `v3`, or `v3 (current)` for the release that runs now.
fn release_version(r: &Release) -> String {
    if r.current {
        format!("v{} (current)", r.version)
    } else {
        version(r.version)
    }
}

/// `paas releases:info`, without the config.
pub fn release_info(r: &Release) -> String {
    key_values([
        ("Version", release_version(r)),
        ("Summary", r.summary.clone()),
        ("By", r.created_by.clone()),
        ("Created", r.created_at.clone()),
        ("Image", r.image.clone().unwrap_or_default()),
        ("Status", r.status.clone()),
        ("Failure", r.failure.clone().unwrap_or_default()),
    ])
}

/// `paas builds`: newest first, as the API sends them, with the commit's short form.
pub fn builds(builds: &[Build]) -> String {
    let mut t = Table::new(["ID", "COMMIT", "RELEASES", "BY", "CREATED"]);
    for b in builds {
        let commit = b.commit.get(..7).unwrap_or(&b.commit);
        let releases: Vec<String> = b.releases.iter().map(|v| version(*v)).collect();
        t.row([
            b.id.to_string(),
            commit.to_owned(),
            releases.join(", "),
            b.created_by.clone(),
            b.created_at.clone(),
        ]);
    }
    t.render()
}

/// `paas domains`.
pub fn domains(domains: &[Domain]) -> String {
    let mut t = Table::new(["HOSTNAME", "KIND", "CREATED"]);
    for d in domains {
        t.row([d.hostname.clone(), d.kind.clone(), d.created_at.clone()]);
    }
    t.render()
}

/// `paas certs`: the date part of the expiry, and the days left.
pub fn certs(certs: &[Certificate]) -> String {
    let mut t = Table::new(["ID", "HOSTNAMES", "EXPIRES", "DAYS LEFT", "SOURCE", "ISSUER"]);
    for c in certs {
        let expires = c.not_after.split('T').next().unwrap_or_default().to_owned();
        let source = if c.auto { "certs:auto" } else { "upload" };
        t.row([
            c.id.to_string(),
            c.hostnames.join(", "),
            expires,
            c.days_left.to_string(),
            source.to_owned(),
            c.issuer.clone(),
        ]);
    }
    t.render()
}

/// `paas perms`.
pub fn collaborators(collaborators: &[Collaborator]) -> String {
    let mut t = Table::new(["USERNAME", "ROLE"]);
    for c in collaborators {
        t.row([c.username.clone(), c.role.clone()]);
    }
    t.render()
}

/// `paas users`.
pub fn users(users: &[User]) -> String {
    let mut t = Table::new(["USERNAME", "ROLE", "STATUS", "CREATED"]);
    for u in users {
        t.row([
            u.username.as_str(),
            if u.admin { "admin" } else { "user" },
            if u.disabled { "disabled" } else { "active" },
            u.created_at.as_str(),
        ]);
    }
    t.render()
}

/// `paas tokens`: never a secret, only its first characters.
pub fn tokens(tokens: &[Token]) -> String {
    let mut t = Table::new(["ID", "DESCRIPTION", "PREFIX", "CREATED"]);
    for k in tokens {
        t.row([k.id.to_string(), k.description.clone(), format!("{}...", k.prefix), k.created_at.clone()]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2025-01-02T03:04:05Z";

    fn release(version: u32, summary: &str, current: bool) -> Release {
        Release {
            version,
            summary: summary.into(),
            created_by: "alice".into(),
            created_at: T.into(),
            image: None,
            current,
            status: "succeeded".into(),
            failure: None,
        }
    }

    #[test]
    fn releases_mark_the_current_one() {
        let mut failed = release(4, "Deploy 9f8e7d6", false);
        failed.status = "failed".into();
        failed.failure = Some("web.1 exited (Exited (1))".into());
        let text = releases(&[
            failed,
            release(3, "Set A, B config vars", true),
            release(2, "Deploy 1a2b3c4", false),
            release(1, "Initial release", false),
        ]);
        assert_eq!(
            text,
            "VERSION       STATUS     SUMMARY               BY     CREATED\n\
             v4            failed     Deploy 9f8e7d6        alice  2025-01-02T03:04:05Z\n\
             v3 (current)  succeeded  Set A, B config vars  alice  2025-01-02T03:04:05Z\n\
             v2            succeeded  Deploy 1a2b3c4        alice  2025-01-02T03:04:05Z\n\
             v1            succeeded  Initial release       alice  2025-01-02T03:04:05Z\n\
             v4 failed: web.1 exited (Exited (1))\n"
        );
    }

    #[test]
    fn release_info_lists_fields() {
        let mut r = release(2, "Deploy 1a2b3c4", false);
        r.image = Some("registry/hello:2".into());
        assert_eq!(
            release_info(&r),
            "Version: v2\n\
             Summary: Deploy 1a2b3c4\n\
             By:      alice\n\
             Created: 2025-01-02T03:04:05Z\n\
             Image:   registry/hello:2\n\
             Status:  succeeded\n\
             Failure:\n"
        );
    }

    #[test]
    fn app_info_shows_everything() {
        let app = App {
            name: "hello".into(),
            owner: "alice".into(),
            url: "http://hello.localhost".into(),
            release: 4,
            created_at: T.into(),
        };
        let info = AppInfo {
            app: app.clone(),
            git_url: "http://git.localhost/hello.git".into(),
            collaborators: vec![
                Collaborator { username: "alice".into(), role: "owner".into() },
                Collaborator { username: "bob".into(), role: "collaborator".into() },
            ],
            domains: vec![Domain {
                hostname: "hello.localhost".into(),
                kind: "default".into(),
                created_at: T.into(),
            }],
            formation: vec![
                ProcessFormation { process_type: "web".into(), quantity: 2 },
                ProcessFormation { process_type: "worker".into(), quantity: 0 },
            ],
        };
        assert_eq!(
            app_info(&info),
            "Name:          hello\n\
             Owner:         alice\n\
             Web URL:       http://hello.localhost\n\
             Git URL:       http://git.localhost/hello.git\n\
             Release:       v4\n\
             Created:       2025-01-02T03:04:05Z\n\
             Collaborators: bob\n\
             Domains:       hello.localhost\n\
             Processes:     web=2 worker=0\n"
        );
        assert_eq!(
            apps(&[app]),
            "NAME   OWNER  RELEASE  URL\n\
             hello  alice  v4       http://hello.localhost\n"
        );
    }

    #[test]
    fn processes_table() {
        let p = |name: &str, release, state: &str, address: Option<&str>| Process {
            name: name.into(),
            process_type: name.split('.').next().unwrap().into(),
            release,
            state: state.into(),
            address: address.map(Into::into),
            restarts: 0,
            uptime_secs: address.map(|_| 3725),
        };
        let mut crashed = p("worker.1", 3, "crashed", None);
        crashed.restarts = 4;
        assert_eq!(
            processes(&[p("web.1", 3, "up", Some("172.18.0.2:5000")), crashed]),
            "PROCESS   RELEASE  STATE    RESTARTS  UPTIME  ADDRESS\n\
             web.1     v3       up       0         1h2m    172.18.0.2:5000\n\
             worker.1  v3       crashed  4\n"
        );
        assert_eq!([5, 65, 3600, 90_000].map(duration), ["5s", "1m5s", "1h0m", "1d1h"]);
    }

    #[test]
    fn builds_table() {
        let b = |id, commit: &str, releases: Vec<u32>| Build {
            id,
            commit: commit.into(),
            image: "paas/hello:1a2b3c4".into(),
            process_types: BTreeMap::from([("web".to_owned(), "serve".to_owned())]),
            created_by: "alice".into(),
            created_at: T.into(),
            releases,
        };
        assert_eq!(
            builds(&[b(2, "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", vec![3, 5]), b(1, "abc", vec![])]),
            "ID  COMMIT   RELEASES  BY     CREATED\n\
             2   1a2b3c4  v3, v5    alice  2025-01-02T03:04:05Z\n\
             1   abc                alice  2025-01-02T03:04:05Z\n"
        );
    }

    #[test]
    fn users_and_tokens() {
        let u = User { username: "root".into(), admin: true, disabled: false, created_at: T.into() };
        assert_eq!(
            users(&[u]),
            "USERNAME  ROLE   STATUS  CREATED\n\
             root      admin  active  2025-01-02T03:04:05Z\n"
        );
        let k = Token { id: 7, description: "".into(), prefix: "paas_ab12".into(), created_at: T.into() };
        assert_eq!(
            tokens(&[k]),
            "ID  DESCRIPTION  PREFIX        CREATED\n\
             7                paas_ab12...  2025-01-02T03:04:05Z\n"
        );
    }

    #[test]
    fn config_is_aligned() {
        let values: BTreeMap<String, String> = [("A", "1"), ("DATABASE_URL", "postgres://x")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(
            config(&values),
            "A:            1\n\
             DATABASE_URL: postgres://x\n"
        );
    }
}
