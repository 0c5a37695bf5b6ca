//! The Docker engine's disk use, measured in the background and kept for the platform
//! page.
//!
//! Measuring is slow on a busy engine (it sizes every container's writable layer), and
//! an engine refuses a second `system df` while one runs ("a disk usage operation is
//! already running"). A page view that asked the engine itself would, on a busy
//! machine, give up after its timeout while the engine kept working, and the next view
//! would start another measurement on top. So [`DiskMeter`] runs at most one
//! measurement at a time, keeps the last result with its time, and starts a new one
//! only when that is older than [`FRESH_FOR`]; a view waits a little for a first
//! measurement and otherwise shows the last one, saying how old it is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bollard::query_parameters::{ListContainersOptionsBuilder, ListImagesOptionsBuilder};

use crate::db;

/// How long a measurement is shown before a view starts the next one.
pub const FRESH_FOR: Duration = Duration::from_secs(60);

/// How long one measurement may take before it counts as failed.
pub const MEASURE_LIMIT: Duration = Duration::from_secs(300);

/// The first engine API version whose `system df` answer bollard reads.
const DF_READABLE_FROM: (usize, usize) = (1, 52);

/// The engine's disk use by kind, in bytes; `None` where the engine does not tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineDisk {
    /// Images.
    pub images: Option<i64>,
    /// Containers' writable layers.
    pub containers: Option<i64>,
    /// Volumes.
    pub volumes: Option<i64>,
    /// The build cache.
    pub build_cache: Option<i64>,
    /// Where the numbers come from: the engine's system data usage (`docker system
    /// df`), or, from an engine older than API 1.52 whose answer has another shape,
    /// the image and container lists.
    pub source: &'static str,
}

/// One finished measurement.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// When it finished, in milliseconds since the epoch.
    pub at_ms: i64,
    /// The disk use, or why the engine did not tell it (said to an admin; the
    /// engine's own error goes to the log).
    pub disk: Result<EngineDisk, String>,
}

/// Measures one engine's disk use, one measurement at a time, and keeps the last.
#[derive(Debug, Clone)]
pub struct DiskMeter {
    last: tokio::sync::watch::Sender<Option<Measurement>>,
    measuring: Arc<AtomicBool>,
}

impl Default for DiskMeter {
    fn default() -> Self {
        DiskMeter { last: tokio::sync::watch::Sender::new(None), measuring: Arc::new(AtomicBool::new(false)) }
    }
}

impl DiskMeter {
    /// The last measurement of `docker`'s disk use, starting a new one in the
    /// background when there is none or it is older than [`FRESH_FOR`] and none runs.
    /// With no measurement yet, waits up to `wait` for the first; `None` when it has
    /// not come by then.
    pub async fn read(&self, docker: &bollard::Docker, wait: Duration) -> Option<Measurement> {
        let last = self.last.borrow().clone();
        if last.as_ref().is_none_or(|m| is_stale(m.at_ms, db::now_ms())) {
            self.start(docker.clone());
        }
        if last.is_some() {
            return last;
        }
        let mut first = self.last.subscribe();
        let measured = tokio::time::timeout(wait, first.wait_for(Option::is_some)).await;
        measured.ok().and_then(|came| came.ok()).and_then(|m| m.clone())
    }

    /// Starts a measurement unless one runs.
    fn start(&self, docker: bollard::Docker) {
        if self.measuring.swap(true, Ordering::AcqRel) {
            return;
        }
        let last = self.last.clone();
        let measuring = self.measuring.clone();
        tokio::spawn(async move {
            let disk = match tokio::time::timeout(MEASURE_LIMIT, measure(&docker)).await {
                Ok(Ok(disk)) => Ok(disk),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the Docker engine did not tell its disk use");
                    Err("the engine did not tell its disk use".to_owned())
                }
                Err(_) => {
                    Err(format!("the engine did not tell its disk use within {}s", MEASURE_LIMIT.as_secs()))
                }
            };
            last.send_replace(Some(Measurement { at_ms: db::now_ms(), disk }));
            measuring.store(false, Ordering::Release);
        });
    }
}

/// Whether a measurement taken at `at_ms` is too old to show without measuring anew.
fn is_stale(at_ms: i64, now_ms: i64) -> bool {
    now_ms.saturating_sub(at_ms) >= i64::try_from(FRESH_FOR.as_millis()).unwrap_or(i64::MAX)
}

/// The engine's system data usage. An engine older than API 1.52 answers in a shape
/// bollard does not read; then images and containers come from their lists, and
/// volumes and build cache stay unknown.
async fn measure(docker: &bollard::Docker) -> Result<EngineDisk, bollard::errors::Error> {
    let version = docker.client_version();
    if (version.major_version, version.minor_version) >= DF_READABLE_FROM {
        let usage = docker.df(None).await?;
        return Ok(EngineDisk {
            images: usage.image_usage.and_then(|u| u.total_size),
            containers: usage.container_usage.and_then(|u| u.total_size),
            volumes: usage.volume_usage.and_then(|u| u.total_size),
            build_cache: usage.build_cache_usage.and_then(|u| u.total_size),
            source: "the engine's disk use report (docker system df)",
        });
    }
    let images = docker.list_images(Some(ListImagesOptionsBuilder::new().all(false).build())).await?;
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).size(true).build()))
        .await?;
    Ok(EngineDisk {
        images: Some(images.iter().map(|i| i.size).sum()),
        containers: Some(containers.iter().filter_map(|c| c.size_rw).sum()),
        volumes: None,
        build_cache: None,
        source: "the engine's image and container lists: an engine older than API 1.52 reports its \
             disk use in an older form, so volumes and build cache are not shown, and layers shared \
             between images count once per image",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measurement_is_shown_for_a_minute() {
        let fresh_ms = i64::try_from(FRESH_FOR.as_millis()).unwrap();
        assert!(!is_stale(1_000, 1_000));
        assert!(!is_stale(1_000, 1_000 + fresh_ms - 1));
        assert!(is_stale(1_000, 1_000 + fresh_ms));
        assert!(!is_stale(5_000, 1_000), "a clock that stepped back keeps the measurement");
    }

    /// An engine that is not there: every measurement fails at once, with a new time.
    /// (The client wants its socket file to exist when made; it is gone by the first
    /// request.)
    fn absent_engine() -> bollard::Docker {
        static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let socket = std::env::temp_dir().join(format!("paas-absent-engine-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
        let docker =
            bollard::Docker::connect_with_unix(socket.to_str().unwrap(), 5, bollard::API_DEFAULT_VERSION)
                .unwrap();
        std::fs::remove_file(&socket).unwrap();
        docker
    }

    #[tokio::test]
    async fn views_within_a_minute_share_one_measurement() {
        let meter = DiskMeter::default();
        let docker = absent_engine();
        let first =
            meter.read(&docker, Duration::from_secs(10)).await.expect("the first measurement, waited for");
        assert_eq!(first.disk.as_ref().unwrap_err(), "the engine did not tell its disk use");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let again = meter.read(&docker, Duration::from_secs(10)).await.unwrap();
        assert_eq!(again.at_ms, first.at_ms, "measured once");
    }

    #[tokio::test]
    async fn an_old_measurement_is_shown_at_once_and_measured_anew_behind() {
        let meter = DiskMeter::default();
        let old = EngineDisk { images: Some(1), source: "old", ..EngineDisk::default() };
        meter.last.send_replace(Some(Measurement { at_ms: 1, disk: Ok(old.clone()) }));
        let mut updates = meter.last.subscribe();
        let shown = meter.read(&absent_engine(), Duration::from_secs(10)).await.unwrap();
        assert_eq!((shown.at_ms, shown.disk), (1, Ok(old)));
        let renewed = tokio::time::timeout(
            Duration::from_secs(10),
            updates.wait_for(|m| m.as_ref().unwrap().at_ms > 1),
        )
        .await
        .expect("a new measurement")
        .unwrap()
        .clone()
        .unwrap();
        assert!(renewed.disk.is_err());
    }
}
