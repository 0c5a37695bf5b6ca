//! A load generator for rollout tests: keep-alive connections plus one that opens a new
//! connection per request, all to the router on 127.0.0.1, until told to stop; it
//! counts answers, non-2xx answers and connection errors.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::TestPlatform;

/// What the load generator saw.
#[derive(Debug, Default)]
pub struct Counts {
    /// 200s with the expected body.
    pub ok: AtomicU64,
    /// Other answers.
    pub bad_status: AtomicU64,
    /// Requests that got no answer.
    pub errors: AtomicU64,
    first_failures: Mutex<Vec<String>>,
    started: Mutex<Option<std::time::Instant>>,
}

impl Counts {
    fn failure(&self, what: String) {
        let at = self.started.lock().expect("not poisoned").map(|s| s.elapsed()).unwrap_or_default();
        let mut first = self.first_failures.lock().expect("not poisoned");
        if first.len() < 10 {
            first.push(format!("at {:.1} s: {what}", at.as_secs_f64()));
        }
    }
}

/// Load on `app` through the router until `stop` turns true (or 20 minutes pass).
pub struct Load {
    /// What it saw so far.
    pub counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `keep_alive` keep-alive connections and one that opens a new connection
    /// per request, wanting 200 and, when given, a body starting with `body_prefix`.
    pub fn start(platform: &TestPlatform, app: &str, keep_alive: usize, body_prefix: Option<String>) -> Load {
        let counts = Arc::new(Counts::default());
        *counts.started.lock().expect("not poisoned") = Some(std::time::Instant::now());
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("http://{}/", platform.router_addr());
        assert!(url.starts_with("http://127.0.0.1:"), "load only to the loopback router");
        let host = format!("{app}.{}", platform.config.domain);
        let mut tasks = Vec::new();
        for n in 0..=keep_alive {
            // The last one opens a new connection for every request.
            let fresh = n == keep_alive;
            let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(20));
            builder =
                if fresh { builder.pool_max_idle_per_host(0) } else { builder.pool_max_idle_per_host(1) };
            let client = builder.build().expect("a client");
            let (counts, stop, url, host, prefix) =
                (counts.clone(), stop.clone(), url.clone(), host.clone(), body_prefix.clone());
            tasks.push(tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(1200);
                while !stop.load(Ordering::Relaxed) && tokio::time::Instant::now() < deadline {
                    match client.get(&url).header("Host", &host).send().await {
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            let body = resp.text().await;
                            match body {
                                Ok(body)
                                    if status == 200
                                        && prefix.as_deref().is_none_or(|p| body.starts_with(p)) =>
                                {
                                    counts.ok.fetch_add(1, Ordering::Relaxed);
                                }
                                Ok(body) => {
                                    counts.bad_status.fetch_add(1, Ordering::Relaxed);
                                    counts.failure(format!("{status}: {body}"));
                                }
                                Err(e) => {
                                    counts.errors.fetch_add(1, Ordering::Relaxed);
                                    counts.failure(format!("body: {e:?}"));
                                }
                            }
                        }
                        Err(e) => {
                            counts.errors.fetch_add(1, Ordering::Relaxed);
                            counts.failure(format!("request: {e:?}"));
                        }
                    }
                    // Keep the two cores usable by the platform under test.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        Load { counts, stop, tasks }
    }

    /// Seconds since the load started, to relate its failures to what a test did.
    pub fn elapsed(&self) -> f64 {
        self.counts.started.lock().expect("not poisoned").map_or(0.0, |s| s.elapsed().as_secs_f64())
    }

    /// Stops the load, prints the counts, asserts that nothing failed and returns
    /// (requests, non-2xx, connection errors).
    pub async fn finish(self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("a load task ended");
        }
        let c = &self.counts;
        let (ok, bad, errors) = (
            c.ok.load(Ordering::Relaxed),
            c.bad_status.load(Ordering::Relaxed),
            c.errors.load(Ordering::Relaxed),
        );
        let failures = c.first_failures.lock().expect("not poisoned").clone();
        println!("load: {} requests, {bad} non-2xx, {errors} connection errors", ok + bad + errors);
        assert!(bad == 0 && errors == 0, "failures under load (first ones): {failures:#?}");
        (ok + bad + errors, bad, errors)
    }
}
