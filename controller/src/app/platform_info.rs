//! The platform page's facts (admins only): the Docker engine (version, containers,
//! images, and its disk use by images, containers, volumes and build cache), what the
//! registry keeps (from the store: the repositories and images of builds not
//! collected; its size measured on disk in its storage directory), and the routers: the
//! route table they follow, when it last changed, and the requests per second they
//! reported over the last minute.
//!
//! Every call to the engine, and the walk of the registry's directory, is bounded by
//! [`ENGINE_TIMEOUT`]: a slow engine or disk costs its facts, never the page. The
//! engine's disk use, the slowest, is measured in the background and kept
//! ([`super::engine_disk`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::query_parameters::ListImagesOptionsBuilder;

use super::engine_disk::{DiskMeter, EngineDisk};
use super::timestamp;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiResult;
use crate::router_log::RATE_WINDOW_SECS;
use crate::scheduler::gc::repository_of;
use crate::State;

/// How long the page waits for the engine's facts, a first measurement of its disk use,
/// and the registry's size, each.
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(2);

/// The Docker engine, as it answered.
#[derive(Debug, Clone, Default)]
pub struct EngineInfo {
    /// The engine's version, e.g. `20.10.24`.
    pub version: String,
    /// The API version agreed on.
    pub api_version: String,
    /// Every container on the engine.
    pub containers: i64,
    /// Those that run.
    pub containers_running: i64,
    /// This platform's containers (processes, not one-offs).
    pub platform_containers: usize,
    /// Images on the engine.
    pub images: usize,
    /// Their size on disk, in bytes (layers shared between images counted once per
    /// image, as `docker images` does).
    pub images_bytes: i64,
    /// Where the engine keeps its data.
    pub root_dir: String,
    /// Its disk use, when it has been measured ([`super::engine_disk`]).
    pub disk: Option<EngineDisk>,
    /// How many seconds ago the disk use shown (or its failure) was measured.
    pub disk_measured_secs_ago: Option<u64>,
    /// Why the disk use is not shown, when it is not.
    pub disk_error: Option<String>,
}

/// What the registry keeps, as the store knows it.
#[derive(Debug, Clone, Default)]
pub struct RegistryInfo {
    /// Repositories with at least one kept image.
    pub repositories: Vec<String>,
    /// Builds whose image is kept.
    pub images: usize,
    /// Builds whose image disk hygiene removed.
    pub collected: usize,
    /// The registry's storage directory, when one runs on this machine.
    pub storage_dir: Option<PathBuf>,
    /// The size of its files, in bytes, when measured in time.
    pub disk_bytes: Option<u64>,
    /// Why the size is not shown, when it is not.
    pub disk_error: Option<String>,
}

/// The route table the routers follow, and what they reported.
#[derive(Debug, Clone, Default)]
pub struct RouterInfo {
    /// Its version; it goes up by one with every change.
    pub version: u64,
    /// When the version last went up (RFC 3339).
    pub changed_at: String,
    /// How long ago, in seconds.
    pub changed_secs_ago: u64,
    /// Host names routed.
    pub hosts: usize,
    /// Backends across all of them.
    pub backends: usize,
    /// Requests the routers reported over the last [`RATE_WINDOW_SECS`] seconds.
    pub recent_requests: u64,
    /// The same per second.
    pub requests_per_second: f64,
    /// [`RATE_WINDOW_SECS`].
    pub window_secs: usize,
}

/// The platform's parts.
#[derive(Debug, Clone, Default)]
pub struct PlatformInfo {
    /// The engine, when the platform runs one and it answered.
    pub engine: Option<EngineInfo>,
    /// Why the engine is not shown, when it is not.
    pub engine_error: Option<String>,
    /// The registry's contents.
    pub registry: RegistryInfo,
    /// The route table.
    pub router: RouterInfo,
}

/// The platform's parts (admins only).
pub async fn platform(state: &State, caller: &Caller) -> ApiResult<PlatformInfo> {
    caller.require_admin()?;
    let engine = async {
        match state.engine.get() {
            None => (None, Some("this platform runs without a Docker engine".to_owned())),
            Some(engine) => match engine_info(engine, &state.engine_disk).await {
                Ok(info) => (Some(info), None),
                Err(why) => (None, Some(why)),
            },
        }
    };
    let storage_dir = state.config.registry_storage.clone();
    let registry_size = async {
        match &storage_dir {
            None => (None, Some("no registry runs on this machine".to_owned())),
            Some(dir) => measure(dir.clone()).await,
        }
    };
    let ((engine, engine_error), (disk_bytes, disk_error)) = tokio::join!(engine, registry_size);

    let mut conn = state.db.pool.acquire().await?;
    let builds = db::overview::build_image_list_all(&mut conn).await?;
    drop(conn);
    let kept: Vec<&db::builds::BuildImageRow> = builds.iter().filter(|b| b.collected_at.is_none()).collect();
    let repositories: BTreeSet<String> = kept.iter().map(|b| repository_of(&b.image).to_owned()).collect();
    let registry = RegistryInfo {
        repositories: repositories.into_iter().collect(),
        images: kept.len(),
        collected: builds.len() - kept.len(),
        storage_dir,
        disk_bytes,
        disk_error,
    };

    let table = state.routes.current();
    let now = db::now_ms();
    let changed = state.routes.changed_at();
    let (recent_requests, requests_per_second) = state.router_log.request_rate(now);
    let router = RouterInfo {
        version: table.version,
        changed_at: timestamp(changed),
        changed_secs_ago: secs_since(changed, now),
        hosts: table.routes.len(),
        backends: table.routes.values().map(|r| r.backends.len()).sum(),
        recent_requests,
        requests_per_second,
        window_secs: RATE_WINDOW_SECS,
    };
    Ok(PlatformInfo { engine, engine_error, registry, router })
}

/// The engine's facts, or why the page shows none. The disk use, the slow part, comes
/// from `meter`'s last measurement, waited for beside the rest only when there is none.
async fn engine_info(engine: &crate::scheduler::Engine, meter: &DiskMeter) -> Result<EngineInfo, String> {
    let docker = engine.docker();
    let disk = meter.read(docker, ENGINE_TIMEOUT);
    let facts = tokio::time::timeout(ENGINE_TIMEOUT, async {
        let version = docker.version().await?;
        let info = docker.info().await?;
        let images = docker.list_images(Some(ListImagesOptionsBuilder::new().all(false).build())).await?;
        let platform_containers = engine.list().await?.len();
        Ok::<_, bollard::errors::Error>((version, info, images, platform_containers))
    });
    let (facts, disk) = tokio::join!(facts, disk);
    let (version, info, images, platform_containers) = match facts {
        Ok(Ok(facts)) => facts,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the Docker engine did not answer the platform page");
            return Err("the Docker engine did not answer".to_owned());
        }
        Err(_) => {
            return Err(format!("the Docker engine did not answer within {}s", ENGINE_TIMEOUT.as_secs()))
        }
    };
    let disk_measured_secs_ago = disk.as_ref().map(|m| secs_since(m.at_ms, db::now_ms()));
    let (disk, disk_error) = match disk.map(|m| m.disk) {
        Some(Ok(disk)) => (Some(disk), None),
        Some(Err(why)) => (None, Some(why)),
        None => (None, Some("the engine is measuring its disk use; look again in a moment".to_owned())),
    };
    Ok(EngineInfo {
        version: version.version.unwrap_or_default(),
        api_version: version.api_version.unwrap_or_default(),
        containers: info.containers.unwrap_or_default(),
        containers_running: info.containers_running.unwrap_or_default(),
        platform_containers,
        images: images.len(),
        images_bytes: images.iter().map(|i| i.size).sum(),
        root_dir: info.docker_root_dir.unwrap_or_default(),
        disk,
        disk_measured_secs_ago,
        disk_error,
    })
}

/// Whole seconds from `then_ms` to `now_ms` (0 when the clock stepped back).
fn secs_since(then_ms: i64, now_ms: i64) -> u64 {
    u64::try_from((now_ms - then_ms).max(0) / 1000).unwrap_or_default()
}

/// The size of the registry's files under `dir`, within [`ENGINE_TIMEOUT`].
async fn measure(dir: PathBuf) -> (Option<u64>, Option<String>) {
    let walk = tokio::task::spawn_blocking(move || dir_size(&dir));
    match tokio::time::timeout(ENGINE_TIMEOUT, walk).await {
        Ok(Ok(Ok(bytes))) => (Some(bytes), None),
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "cannot measure the registry's storage");
            (None, Some("its storage directory cannot be read".to_owned()))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "measuring the registry's storage failed");
            (None, Some("its storage directory cannot be read".to_owned()))
        }
        Err(_) => (None, Some(format!("measuring its storage took over {}s", ENGINE_TIMEOUT.as_secs()))),
    }
}

/// The bytes of the files under `root` (symbolic links not followed); a missing `root`
/// (nothing pushed yet) is 0.
pub fn dir_size(root: &Path) -> std::io::Result<u64> {
    let mut total = 0u64;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                dirs.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_measures_its_files_and_a_missing_one_nothing() {
        let root =
            std::env::temp_dir().join(format!("paas-dir-size-{}-{}", std::process::id(), db::now_ms()));
        std::fs::create_dir_all(root.join("blobs/sha256/ab")).unwrap();
        std::fs::write(root.join("blobs/sha256/ab/data"), vec![0u8; 1000]).unwrap();
        std::fs::write(root.join("top"), b"12345").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        assert_eq!(dir_size(&root).unwrap(), 1005);
        assert_eq!(dir_size(&root.join("missing")).unwrap(), 0);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
