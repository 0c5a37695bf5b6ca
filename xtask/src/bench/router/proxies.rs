//! The programs `bench router` compares, and the backend behind them: their
//! configuration files, how each starts, and how each is told that the app moved to
//! another backend.
//!
//! - **backend**: a second nginx (1 worker) on the load generator's CPU, answering
//!   every request with a fixed 2-byte body, `a\n` on one port and `b\n` on the other,
//!   so that an answer says which backend served it; no access log; keep-alive up to
//!   a million requests and 120 s idle.
//! - **paas router**: `target/release/paas-router` as paasd starts it (`PAAS_LOG=info`;
//!   its access lines are posted to the feed, and its own log has them only at debug),
//!   following [`Feed`]; the certificate is the per-host file
//!   `<state dir>/certs/bench.localhost.pem`. A route change is a `changes` message.
//! - **nginx**: one worker, `proxy_pass` to an `upstream` with pooled keep-alive
//!   connections; a route change rewrites the `upstream` file and runs
//!   `nginx -s reload`.
//! - **HAProxy**: one thread, `http-reuse always`; a route change is
//!   `set server app/web1 addr 127.0.0.1 port <port>` on the admin socket (runtime API).
//!
//! The same settings everywhere: an access line per request (to a file, or for the
//! router to the feed), client
//! keep-alive idle timeout 30 s and no limit of requests per connection, pooled
//! keep-alive connections to the backend kept 90 s, TLS 1.2 and 1.3 with Mozilla's
//! "intermediate" cipher suites, ALPN `h2` and `http/1.1`, the same ECDSA P-256
//! certificate, and the forwarding headers the router sets (`X-Forwarded-For`,
//! `-Proto`, `-Port`, `X-Request-Id`). Connection limits are left as they are, far
//! above the benchmark's hundred-odd connections (HAProxy sizes its own to the file
//! descriptor limit).

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use super::feed::Feed;
use super::procs::Group;
use crate::process;

/// nginx, where Debian puts it (not on a normal user's `PATH`).
pub const NGINX: &str = "/usr/sbin/nginx";
/// HAProxy, likewise.
pub const HAPROXY: &str = "/usr/sbin/haproxy";

/// The TLS 1.2 suites of Mozilla's "intermediate" profile (v5.7), less the DHE ones
/// that the router does not offer; TLS 1.3 has its three suites.
const TLS12_CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:\
ECDHE-RSA-CHACHA20-POLY1305";
const TLS13_SUITES: &str = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

/// The environment the paas router reads (`paas_core::settings`), beyond `env.rs`'s.
const ROUTER_STATE_DIR: &str = "PAAS_ROUTER_STATE_DIR";
const ROUTER_FEED_URL: &str = "PAAS_ROUTER_FEED_URL";
const ROUTER_TOKEN: &str = "PAAS_ROUTER_TOKEN";

/// Which proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Router,
    Nginx,
    Haproxy,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Router => "paas router",
            Self::Nginx => "nginx",
            Self::Haproxy => "HAProxy",
        }
    }
}

/// Where a benchmark's files are, and the two backend ports.
pub struct Layout {
    pub dir: PathBuf,
    /// The certificate (PEM), its key, and both in one file (HAProxy, the router).
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_and_key: PathBuf,
    pub backend_a: SocketAddr,
    pub backend_b: SocketAddr,
}

impl Layout {
    /// Makes the ECDSA P-256 certificate all three present: self-signed, for
    /// [`super::HOST`], with `openssl`.
    pub fn create(dir: &Path, backend_a: SocketAddr, backend_b: SocketAddr) -> anyhow::Result<Self> {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let host = super::HOST;
        process::read(Command::new("openssl").args(["req", "-x509", "-newkey", "ec", "-pkeyopt"]).args([
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &format!("/CN={host}"),
            "-addext",
            &format!("subjectAltName=DNS:{host}"),
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            &key.to_string_lossy(),
            "-out",
            &cert.to_string_lossy(),
        ]))
        .context("could not make the benchmark's certificate with openssl")?;
        let cert_and_key = dir.join("cert-and-key.pem");
        let both = std::fs::read_to_string(&cert)? + &std::fs::read_to_string(&key)?;
        std::fs::write(&cert_and_key, both)?;
        Ok(Self { dir: dir.to_owned(), cert, key, cert_and_key, backend_a, backend_b })
    }

    fn sub(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(name);
        std::fs::create_dir_all(&path).with_context(|| format!("could not create {}", path.display()))?;
        Ok(path)
    }
}

/// Starts the backend nginx on `cpu`.
pub fn start_backend(layout: &Layout, cpu: usize) -> anyhow::Result<Group> {
    let dir = layout.sub("backend")?;
    let http = format!(
        "http {{\n\
         \x20 access_log off;\n\
         \x20 keepalive_timeout 120s;\n\
         \x20 keepalive_requests 1000000;\n\
         \x20 server {{ listen {a}; location / {{ return 200 \"a\\n\"; }} }}\n\
         \x20 server {{ listen {b}; location / {{ return 200 \"b\\n\"; }} }}\n\
         }}\n",
        a = layout.backend_a,
        b = layout.backend_b,
    );
    nginx_group("backend nginx", &dir, &http, cpu)
}

/// A running proxy, stopped when dropped.
pub struct Proxy {
    pub kind: Kind,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub group: Group,
    change: Change,
}

/// How a proxy is told that the app moved.
enum Change {
    Feed(Feed),
    Nginx { dir: PathBuf, upstream: PathBuf },
    Haproxy { socket: PathBuf },
}

impl Proxy {
    /// Starts `kind` on `cpu`, on free loopback ports, routing to backend a.
    pub fn start(kind: Kind, layout: &Layout, cpu: usize, router: &Path) -> anyhow::Result<Self> {
        let ports = super::super::free_ports(2)?;
        let http = SocketAddr::from(([127, 0, 0, 1], ports[0]));
        let https = SocketAddr::from(([127, 0, 0, 1], ports[1]));
        let (group, change) = match kind {
            Kind::Router => start_router(layout, cpu, router, http, https)?,
            Kind::Nginx => start_nginx(layout, cpu, http, https)?,
            Kind::Haproxy => start_haproxy(layout, cpu, http, https)?,
        };
        Ok(Self { kind, http, https, group, change })
    }

    /// One route change: the app is served by `backend` from now on (once the proxy
    /// has taken the change in).
    pub fn point_to(&self, backend: SocketAddr) -> anyhow::Result<()> {
        match &self.change {
            Change::Feed(feed) => {
                feed.point_to(backend);
                Ok(())
            }
            Change::Nginx { dir, upstream } => {
                write_atomically(upstream, &nginx_upstream(backend))?;
                let conf = dir.join("nginx.conf");
                let args = nginx_args(dir, &conf);
                process::read(Command::new(NGINX).args(&args).args(["-s", "reload"]))?;
                Ok(())
            }
            Change::Haproxy { socket } => {
                let command = format!("set server app/web1 addr {} port {}\n", backend.ip(), backend.port());
                let answer = haproxy_command(socket, &command)?;
                // A success reads "IP changed from ..., port changed from ... by 'stats socket command'";
                // "no need to change the addr" is one too.
                let ok = answer.contains("changed") || answer.contains("no need");
                if !ok {
                    bail!("HAProxy refused `{}`: {}", command.trim(), answer.trim());
                }
                Ok(())
            }
        }
    }
}

fn start_router(
    layout: &Layout,
    cpu: usize,
    program: &Path,
    http: SocketAddr,
    https: SocketAddr,
) -> anyhow::Result<(Group, Change)> {
    let dir = layout.sub("router")?;
    let state = dir.join("state");
    let certs = state.join("certs");
    std::fs::create_dir_all(&certs)?;
    std::fs::copy(&layout.cert_and_key, certs.join(format!("{}.pem", super::HOST)))?;
    let feed = Feed::start(layout.backend_a)?;
    let url = feed.url();
    let group =
        Group::spawn("paas-router", cpu, &program.to_string_lossy(), &[], &dir.join("router.log"), |cmd| {
            cmd.env_clear()
                .env(crate::env::HTTP_ADDR, http.to_string())
                .env(crate::env::HTTPS_ADDR, https.to_string())
                .env(crate::env::DOMAIN, "localhost")
                .env(crate::env::LOG, "info")
                .env(ROUTER_STATE_DIR, &state)
                .env(ROUTER_FEED_URL, url)
                .env(ROUTER_TOKEN, "bench-router-token")
                .env("NO_COLOR", "1");
        })?;
    Ok((group, Change::Feed(feed)))
}

fn start_nginx(
    layout: &Layout,
    cpu: usize,
    http: SocketAddr,
    https: SocketAddr,
) -> anyhow::Result<(Group, Change)> {
    let dir = layout.sub("nginx")?;
    let upstream = dir.join("upstream.conf");
    write_atomically(&upstream, &nginx_upstream(layout.backend_a))?;
    let http = format!(
        "http {{\n\
         \x20 access_log {dir}/access.log;\n\
         \x20 keepalive_timeout 30s;\n\
         \x20 keepalive_requests 1000000;\n\
         \x20 include {upstream};\n\
         \x20 server {{\n\
         \x20   listen {http};\n\
         \x20   listen {https} ssl http2;\n\
         \x20   server_name {host};\n\
         \x20   ssl_certificate {cert};\n\
         \x20   ssl_certificate_key {key};\n\
         \x20   ssl_protocols TLSv1.2 TLSv1.3;\n\
         \x20   ssl_ciphers {TLS12_CIPHERS};\n\
         \x20   ssl_conf_command Ciphersuites {TLS13_SUITES};\n\
         \x20   ssl_prefer_server_ciphers off;\n\
         \x20   ssl_session_cache shared:bench:10m;\n\
         \x20   ssl_session_tickets off;\n\
         \x20   location / {{\n\
         \x20     proxy_pass http://app;\n\
         \x20     proxy_http_version 1.1;\n\
         \x20     proxy_set_header Connection \"\";\n\
         \x20     proxy_set_header Host $host;\n\
         \x20     proxy_set_header X-Forwarded-For $remote_addr;\n\
         \x20     proxy_set_header X-Forwarded-Proto $scheme;\n\
         \x20     proxy_set_header X-Forwarded-Port $server_port;\n\
         \x20     proxy_set_header X-Request-Id $request_id;\n\
         \x20     proxy_connect_timeout 5s;\n\
         \x20     proxy_read_timeout 60s;\n\
         \x20   }}\n\
         \x20 }}\n\
         }}\n",
        dir = dir.display(),
        upstream = upstream.display(),
        host = super::HOST,
        cert = layout.cert.display(),
        key = layout.key.display(),
    );
    let group = nginx_group("nginx", &dir, &http, cpu)?;
    Ok((group, Change::Nginx { dir, upstream }))
}

/// nginx's `upstream app`, pointing at `backend`, with pooled keep-alive connections.
fn nginx_upstream(backend: SocketAddr) -> String {
    format!(
        "upstream app {{\n  server {backend};\n  keepalive 1024;\n  keepalive_timeout 90s;\n  \
         keepalive_requests 1000000;\n}}\n"
    )
}

fn nginx_args(dir: &Path, conf: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy();
    vec![
        "-p".into(),
        format!("{dir}/"),
        "-e".into(),
        format!("{dir}/error.log"),
        "-c".into(),
        conf.to_string_lossy().into_owned(),
    ]
}

/// Writes `<dir>/nginx.conf`, one worker process in the foreground with its files in
/// `dir` and the `http` block `http`, checks it (`nginx -t`) and starts nginx.
fn nginx_group(name: &str, dir: &Path, http: &str, cpu: usize) -> anyhow::Result<Group> {
    let path = dir.join("nginx.conf");
    let conf = format!(
        "worker_processes 1;\n\
         daemon off;\n\
         pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log warn;\n\
         events {{ worker_connections 10000; }}\n\
         {http}",
        dir = dir.display(),
    );
    std::fs::write(&path, conf)?;
    let args = nginx_args(dir, &path);
    process::read(Command::new(NGINX).args(&args).arg("-t"))
        .with_context(|| format!("{name}'s configuration"))?;
    Group::spawn(name, cpu, NGINX, &args, &dir.join("nginx.out"), |_| {})
}

fn start_haproxy(
    layout: &Layout,
    cpu: usize,
    http: SocketAddr,
    https: SocketAddr,
) -> anyhow::Result<(Group, Change)> {
    let dir = layout.sub("haproxy")?;
    let socket = dir.join("admin.sock");
    let conf = format!(
        "global\n\
         \x20 nbthread 1\n\
         \x20 stats socket {socket} mode 600 level admin\n\
         \x20 log stdout format raw local0\n\
         \x20 ssl-default-bind-ciphers {TLS12_CIPHERS}\n\
         \x20 ssl-default-bind-ciphersuites {TLS13_SUITES}\n\
         \x20 ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets\n\
         defaults\n\
         \x20 mode http\n\
         \x20 log global\n\
         \x20 option httplog\n\
         \x20 timeout connect 5s\n\
         \x20 timeout client 30s\n\
         \x20 timeout http-request 30s\n\
         \x20 timeout http-keep-alive 30s\n\
         \x20 timeout server 60s\n\
         frontend web\n\
         \x20 bind {http}\n\
         \x20 bind {https} ssl crt {cert} alpn h2,http/1.1\n\
         \x20 http-request del-header X-Forwarded-For\n\
         \x20 option forwardfor\n\
         \x20 http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}\n\
         \x20 http-request set-header X-Forwarded-Proto http unless {{ ssl_fc }}\n\
         \x20 http-request set-header X-Forwarded-Port %[dst_port]\n\
         \x20 http-request set-header X-Request-Id %[uuid]\n\
         \x20 default_backend app\n\
         backend app\n\
         \x20 http-reuse always\n\
         \x20 server web1 {backend} pool-purge-delay 90s\n",
        socket = socket.display(),
        cert = layout.cert_and_key.display(),
        backend = layout.backend_a,
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, conf)?;
    let path = path.to_string_lossy().into_owned();
    process::read(Command::new(HAPROXY).args(["-c", "-q", "-f", &path]))
        .context("HAProxy's configuration")?;
    let args = ["-db".to_owned(), "-f".to_owned(), path];
    let group = Group::spawn("HAProxy", cpu, HAPROXY, &args, &dir.join("haproxy.log"), |_| {})?;
    Ok((group, Change::Haproxy { socket }))
}

/// Sends one command to HAProxy's admin socket and reads its answer.
fn haproxy_command(socket: &Path, command: &str) -> anyhow::Result<String> {
    let mut conn = UnixStream::connect(socket)
        .with_context(|| format!("could not connect to HAProxy's socket {}", socket.display()))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.write_all(command.as_bytes())?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    Ok(answer)
}

/// Replaces `path` with `text` in one rename, so nginx never reads half a file.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text)?;
    std::fs::rename(&temp, path).with_context(|| format!("could not replace {}", path.display()))
}
