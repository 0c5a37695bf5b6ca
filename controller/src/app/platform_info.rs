//! The platform page's facts (admins only): the Docker engine (version, containers,
//! images and their disk use), what the registry keeps (from the store: the
//! repositories and images of builds not collected), and the route table the routers
//! follow.

use std::collections::BTreeSet;

use bollard::query_parameters::ListImagesOptionsBuilder;

use crate::auth::Caller;
use crate::db;
use crate::error::ApiResult;
use crate::scheduler::gc::repository_of;
use crate::State;

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
}

/// The route table the routers follow.
#[derive(Debug, Clone, Default)]
pub struct RouterInfo {
    /// Its version; it goes up by one with every change.
    pub version: u64,
    /// Host names routed.
    pub hosts: usize,
    /// Backends across all of them.
    pub backends: usize,
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
    let (engine, engine_error) = match state.engine.get() {
        None => (None, Some("this platform runs without a Docker engine".to_owned())),
        Some(engine) => match engine_info(engine).await {
            Ok(info) => (Some(info), None),
            Err(e) => {
                tracing::warn!(error = %e, "the Docker engine did not answer the platform page");
                (None, Some("the Docker engine did not answer".to_owned()))
            }
        },
    };
    let mut conn = state.db.pool.acquire().await?;
    let builds = db::overview::build_image_list_all(&mut conn).await?;
    drop(conn);
    let kept: Vec<&db::builds::BuildImageRow> = builds.iter().filter(|b| b.collected_at.is_none()).collect();
    let repositories: BTreeSet<String> = kept.iter().map(|b| repository_of(&b.image).to_owned()).collect();
    let registry = RegistryInfo {
        repositories: repositories.into_iter().collect(),
        images: kept.len(),
        collected: builds.len() - kept.len(),
    };
    let table = state.routes.current();
    let router = RouterInfo {
        version: table.version,
        hosts: table.routes.len(),
        backends: table.routes.values().map(|r| r.backends.len()).sum(),
    };
    Ok(PlatformInfo { engine, engine_error, registry, router })
}

async fn engine_info(engine: &crate::scheduler::Engine) -> Result<EngineInfo, bollard::errors::Error> {
    let docker = engine.docker();
    let version = docker.version().await?;
    let info = docker.info().await?;
    let images = docker.list_images(Some(ListImagesOptionsBuilder::new().all(false).build())).await?;
    let platform_containers = engine.list().await?.len();
    Ok(EngineInfo {
        version: version.version.unwrap_or_default(),
        api_version: version.api_version.unwrap_or_default(),
        containers: info.containers.unwrap_or_default(),
        containers_running: info.containers_running.unwrap_or_default(),
        platform_containers,
        images: images.len(),
        images_bytes: images.iter().map(|i| i.size).sum(),
        root_dir: info.docker_root_dir.unwrap_or_default(),
    })
}
