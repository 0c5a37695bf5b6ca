//! Disk hygiene: the images of each app's last N releases (`PAAS_KEEP_RELEASES`,
//! default 10) stay in the registry and on the node; the rest go.
//!
//! [`to_collect`] is the pure decision: given an app's releases, its builds, N and the
//! images containers use, which builds to collect. The [`Collector`] runs it for every
//! app on a timer and when nudged (`State::collection`, poked with the scheduler's
//! nudge after releases, scales and destroys): it marks each collected build in the
//! store (`builds.collected_at`, with a `build.collected` event; a rollback to its
//! release is then refused), removes the image from the node (every tag of the app's
//! repository, then the digest reference; never an image any container on the engine
//! uses, whatever its platform), and asks the [`Storage`] (paasd: the registry) to
//! delete its manifest; after deletions it asks for the registry's garbage collection,
//! at most once per interval. A removal that failed is retried on the next runs.
//!
//! [`clean_destroyed`] is what an app's destroy leaves to do once its rows are gone:
//! remove its containers (one-off processes too), its images, its manifests and its
//! git repository.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use bollard::Docker;
use paas_core::ErrorChain;

use super::docker::{is_status, LABEL_APP, LABEL_PLATFORM};
use super::{Engine, Nudge};
use crate::db::{self, Db};
use crate::State;

/// How many releases' images are kept by default.
pub const DEFAULT_KEEP_RELEASES: usize = 10;
/// How often the collector runs when nobody nudges it, and the least time between two
/// garbage collections of the registry.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// How much to keep, and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcConfig {
    /// The images of this many of an app's newest releases are kept (at least 1).
    pub keep_releases: usize,
    /// How often to collect without a nudge; also the least time between two
    /// garbage collections of the registry.
    pub interval: Duration,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self { keep_releases: DEFAULT_KEEP_RELEASES, interval: DEFAULT_INTERVAL }
    }
}

/// A future of a [`Storage`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the storage could not let go of something.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The registry refused or failed to delete an image's manifest.
    #[error("cannot delete {image} from the registry: {reason}")]
    Delete {
        /// The image reference.
        image: String,
        /// What the registry said.
        reason: String,
    },
    /// The registry's garbage collection failed.
    #[error("the registry's garbage collection failed: {0}")]
    Collect(String),
    /// The app's git repository could not be removed.
    #[error("cannot remove the git repository of {app}")]
    Repository {
        /// The app.
        app: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Where an app's things live beyond the store and the engine: the registry and the
/// git repository. paasd implements it; the controller sees neither the data dir nor
/// the registry.
pub trait Storage: Send + Sync + 'static {
    /// Deletes the manifest of `image` (`<host>/paas/<app>@sha256:...`) from the
    /// registry; an image of another host, or one already gone, is fine.
    fn delete_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<(), StorageError>>;
    /// Runs the registry's garbage collection, freeing the blobs no manifest names.
    fn collect_garbage(&self) -> BoxFuture<'_, Result<(), StorageError>>;
    /// Removes the app's git repository; one that does not exist is fine.
    fn remove_repository<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<(), StorageError>>;
}

/// A release as the decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseBuild {
    /// `N` of `vN`.
    pub version: i64,
    /// The build it runs.
    pub build_id: i64,
    /// Whether its rollout failed.
    pub failed: bool,
}

/// A build as the decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildImage {
    /// The build's id.
    pub id: i64,
    /// Its image reference.
    pub image: String,
    /// Whether its image was collected already.
    pub collected: bool,
}

/// The builds whose images go, oldest first: those not run by any of the `keep` newest
/// releases nor by the newest release that did not fail (the one that serves), not
/// collected yet, whose image is neither a kept build's nor one a container uses.
pub fn to_collect(
    releases: &[ReleaseBuild],
    builds: &[BuildImage],
    keep: usize,
    in_use: &BTreeSet<String>,
) -> Vec<i64> {
    let mut newest: Vec<&ReleaseBuild> = releases.iter().collect();
    newest.sort_by_key(|r| std::cmp::Reverse(r.version));
    let mut kept: BTreeSet<i64> = newest.iter().take(keep.max(1)).map(|r| r.build_id).collect();
    if let Some(serving) = newest.iter().find(|r| !r.failed) {
        kept.insert(serving.build_id);
    }
    let kept_images: BTreeSet<&str> =
        builds.iter().filter(|b| kept.contains(&b.id)).map(|b| b.image.as_str()).collect();
    let mut out: Vec<i64> = builds
        .iter()
        .filter(|b| !b.collected && !kept.contains(&b.id))
        .filter(|b| !kept_images.contains(b.image.as_str()) && !in_use.contains(&b.image))
        .map(|b| b.id)
        .collect();
    out.sort_unstable();
    out
}

/// The repository part of an image reference: `host/paas/app` of
/// `host/paas/app@sha256:...` or `host/paas/app:tag`.
pub fn repository_of(image: &str) -> &str {
    if let Some((repo, _)) = image.split_once('@') {
        return repo;
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    }
}

/// Whether `image` is one the builder made for `app` (`paas/<app>`, on the engine or
/// in the registry): the only images collection and destroy ever remove. A build row
/// may name any image (a base image that other apps and the platform itself use), and
/// that is never the app's to remove.
pub fn owned_by(image: &str, app: &str) -> bool {
    let repository = repository_of(image);
    let own = format!("paas/{app}");
    repository == own || repository.strip_suffix(own.as_str()).is_some_and(|host| host.ends_with('/'))
}

/// Why a collection stopped short.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The store could not be read or written.
    #[error("cannot read or mark builds in the store")]
    Store(#[from] sqlx::Error),
    /// The Docker engine failed a request.
    #[error("the Docker engine failed")]
    Docker(#[from] bollard::errors::Error),
    /// A container uses the image.
    #[error("a container uses {0}")]
    InUse(String),
    /// The registry or the repositories failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What one collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Builds whose images were collected (or retried) and are gone.
    pub collected: usize,
    /// Removals that failed (retried on the next run).
    pub failed: usize,
    /// Whether the registry's garbage collection ran.
    pub garbage_collected: bool,
}

/// What every container on the engine runs: image references and image ids.
async fn images_in_use(docker: &Docker) -> Result<BTreeSet<String>, bollard::errors::Error> {
    let options = ListContainersOptionsBuilder::new().all(true).build();
    let mut in_use = BTreeSet::new();
    for c in docker.list_containers(Some(options)).await? {
        in_use.extend(c.image);
        in_use.extend(c.image_id);
    }
    Ok(in_use)
}

/// How a local removal went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Local {
    /// Gone (or never here).
    Removed,
    /// A container uses it: left alone.
    InUse,
}

/// Removes `image` from the node unless a container uses it: every tag of its
/// repository that names the same image, then the reference itself (the engine keeps
/// an image while a tag names it).
async fn remove_local(docker: &Docker, image: &str, in_use: &BTreeSet<String>) -> Result<Local, GcError> {
    let info = match docker.inspect_image(image).await {
        Ok(info) => info,
        Err(e) if is_status(&e, 404) => return Ok(Local::Removed),
        Err(e) => return Err(e.into()),
    };
    if info.id.as_ref().is_some_and(|id| in_use.contains(id)) || in_use.contains(image) {
        return Ok(Local::InUse);
    }
    let prefix = format!("{}:", repository_of(image));
    let mut refs: Vec<String> =
        info.repo_tags.unwrap_or_default().into_iter().filter(|t| t.starts_with(&prefix)).collect();
    refs.push(image.to_owned());
    for reference in refs {
        // Never forced: the engine refuses to remove an image a container uses.
        let options = RemoveImageOptionsBuilder::new().force(false).noprune(false).build();
        match docker.remove_image(&reference, Some(options), None).await {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {}
            Err(e) if is_status(&e, 409) => return Ok(Local::InUse),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Local::Removed)
}

/// Collects the images of old builds; see the module docs.
pub struct Collector {
    db: Db,
    engine: Engine,
    storage: Option<Arc<dyn Storage>>,
    nudge: Nudge,
    config: GcConfig,
    /// Collected builds whose removal failed: build id -> image.
    retry: BTreeMap<i64, String>,
    /// Whether manifests were deleted since the registry last collected garbage.
    garbage: bool,
    last_garbage_collection: Option<Instant>,
}

impl State {
    /// The collector of this controller's store on `engine`, with the storage set in
    /// `State::storage` (if any) and woken by `State::collection`. The caller runs it.
    pub fn collector(&self, engine: Engine, config: GcConfig) -> Collector {
        Collector {
            db: self.db.clone(),
            engine,
            storage: self.storage.get().cloned(),
            nudge: self.collection.clone(),
            config,
            retry: BTreeMap::new(),
            garbage: false,
            last_garbage_collection: None,
        }
    }
}

impl Collector {
    /// Collects on a timer and when nudged until `shutdown` resolves; errors are
    /// logged and the next run is the retry.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            match self.collect().await {
                Ok(report) if report != GcReport::default() => tracing::info!(?report, "disk hygiene"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %ErrorChain(&e), "disk hygiene failed; retrying later"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.config.interval) => {}
                () = self.nudge.nudged() => {}
            }
        }
    }

    /// One pass over every app.
    pub async fn collect(&mut self) -> Result<GcReport, GcError> {
        let mut report = GcReport::default();
        let docker = self.engine.docker().clone();
        let in_use = images_in_use(&docker).await?;
        let mut todo: Vec<(i64, String, String)> = Vec::new();
        {
            let mut conn = self.db.pool.acquire().await?;
            for app in db::apps::app_list_all(&mut conn).await? {
                let releases: Vec<ReleaseBuild> = db::builds::build_release_status_for_app(&mut conn, app.id)
                    .await?
                    .into_iter()
                    .map(|(version, build_id, status)| ReleaseBuild {
                        version,
                        build_id,
                        failed: status == db::releases::STATUS_FAILED,
                    })
                    .collect();
                let builds: Vec<BuildImage> = db::builds::build_image_list_for_app(&mut conn, app.id)
                    .await?
                    .into_iter()
                    .filter(|b| owned_by(&b.image, &app.name))
                    .map(|b| BuildImage { id: b.id, image: b.image, collected: b.collected_at.is_some() })
                    .collect();
                let images: HashMap<i64, &str> = builds.iter().map(|b| (b.id, b.image.as_str())).collect();
                for id in to_collect(&releases, &builds, self.config.keep_releases, &in_use) {
                    let image = images.get(&id).copied().unwrap_or_default().to_owned();
                    todo.push((id, app.name.clone(), image));
                }
            }
        }
        for (id, app, image) in todo {
            if remove_local(&docker, &image, &in_use).await? == Local::InUse {
                continue;
            }
            let mut tx = self.db.begin_write().await?;
            if db::builds::build_mark_collected(&mut tx, id, db::now_ms()).await? {
                db::events::event_insert(&mut tx, "scheduler", "build.collected", Some(&app), &image).await?;
            }
            tx.commit().await?;
            self.retry.insert(id, image);
        }
        let retry = std::mem::take(&mut self.retry);
        for (id, image) in retry {
            match self.remove(&docker, &image, &in_use).await {
                Ok(()) => report.collected += 1,
                Err(e) => {
                    tracing::warn!(%image, error = %ErrorChain(&e), "cannot remove an old image; retrying later");
                    report.failed += 1;
                    self.retry.insert(id, image);
                }
            }
        }
        if report.collected > 0 {
            self.garbage = true;
        }
        let due = self.last_garbage_collection.is_none_or(|at| at.elapsed() >= self.config.interval);
        if let (true, true, Some(storage)) = (self.garbage, due, &self.storage) {
            self.last_garbage_collection = Some(Instant::now());
            match storage.collect_garbage().await {
                Ok(()) => {
                    self.garbage = false;
                    report.garbage_collected = true;
                }
                Err(e) => tracing::warn!(error = %ErrorChain(&e), "the registry's garbage collection failed"),
            }
        }
        Ok(report)
    }

    /// Removes a collected build's image from the node and the registry.
    async fn remove(&self, docker: &Docker, image: &str, in_use: &BTreeSet<String>) -> Result<(), GcError> {
        if remove_local(docker, image, in_use).await? == Local::InUse {
            return Err(GcError::InUse(image.to_owned()));
        }
        if let Some(storage) = &self.storage {
            storage.delete_image(image).await?;
        }
        Ok(())
    }
}

/// Removes what a destroyed app leaves behind once its rows are gone: its containers
/// on this platform (one-off processes too), the `images` of its builds on the node
/// and in the registry, its git repository, then the registry's garbage. Failures are
/// logged: the app is gone either way.
pub async fn clean_destroyed(state: &State, app: &str, images: &[String]) {
    let images: Vec<String> = images.iter().filter(|image| owned_by(image, app)).cloned().collect();
    let images = images.as_slice();
    if let Some(engine) = state.engine.get() {
        if let Err(e) = remove_app_from_engine(engine, app, images).await {
            tracing::warn!(%app, error = %ErrorChain(&e), "cannot remove a destroyed app's containers or images");
        }
    }
    let Some(storage) = state.storage.get() else { return };
    for image in images {
        if let Err(e) = storage.delete_image(image).await {
            tracing::warn!(%app, error = %ErrorChain(&e), "cannot delete a destroyed app's image");
        }
    }
    if let Err(e) = storage.remove_repository(app).await {
        tracing::warn!(%app, error = %ErrorChain(&e), "cannot remove a destroyed app's repository");
    }
    if !images.is_empty() {
        if let Err(e) = storage.collect_garbage().await {
            tracing::warn!(error = %ErrorChain(&e), "the registry's garbage collection failed");
        }
    }
}

/// How many times a destroyed app's containers are looked for again: a start the
/// scheduler had under way when the app went may still make one.
const DESTROY_ROUNDS: usize = 20;
/// The wait between those rounds.
const DESTROY_PAUSE: Duration = Duration::from_millis(250);

async fn remove_app_from_engine(engine: &Engine, app: &str, images: &[String]) -> Result<(), GcError> {
    let docker = engine.docker();
    let labels = vec![format!("{LABEL_PLATFORM}={}", engine.platform()), format!("{LABEL_APP}={app}")];
    let filters = HashMap::from([("label", labels)]);
    let mut left: Vec<&String> = images.iter().collect();
    for round in 0..DESTROY_ROUNDS {
        if round > 0 {
            tokio::time::sleep(DESTROY_PAUSE).await;
        }
        let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        for container in docker.list_containers(Some(options)).await? {
            let Some(id) = container.id else { continue };
            let options = RemoveContainerOptionsBuilder::new().force(true).build();
            match docker.remove_container(&id, Some(options)).await {
                Err(e) if !is_status(&e, 404) && !is_status(&e, 409) => return Err(e.into()),
                _ => {}
            }
        }
        let in_use = images_in_use(docker).await?;
        let mut still = Vec::new();
        for image in left {
            if remove_local(docker, image, &in_use).await? == Local::InUse {
                still.push(image);
            }
        }
        left = still;
        if left.is_empty() {
            return Ok(());
        }
    }
    for image in left {
        tracing::warn!(%app, %image, "a container still uses a destroyed app's image; left");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn releases(list: &[(i64, i64, bool)]) -> Vec<ReleaseBuild> {
        list.iter().map(|&(version, build_id, failed)| ReleaseBuild { version, build_id, failed }).collect()
    }

    fn builds(n: i64) -> Vec<BuildImage> {
        (1..=n)
            .map(|id| BuildImage { id, image: format!("r/paas/a@sha256:{id}"), collected: false })
            .collect()
    }

    #[test]
    fn keeps_the_builds_of_the_newest_releases() {
        // v1 has no build; v2..v6 run builds 1..5.
        let r = releases(&[(2, 1, false), (3, 2, false), (4, 3, false), (5, 4, false), (6, 5, false)]);
        assert_eq!(to_collect(&r, &builds(5), 3, &BTreeSet::new()), [1, 2]);
        assert_eq!(to_collect(&r, &builds(5), 10, &BTreeSet::new()), Vec::<i64>::new());
        // Zero keeps the newest anyway.
        assert_eq!(to_collect(&r, &builds(5), 0, &BTreeSet::new()), [1, 2, 3, 4]);
    }

    #[test]
    fn config_releases_count_and_rollbacks_bring_a_build_back() {
        // v4 and v5 are config changes of build 3; v6 rolls back to build 1.
        let r = releases(&[(2, 1, false), (3, 2, false), (4, 3, false), (5, 3, false), (6, 1, false)]);
        assert_eq!(to_collect(&r, &builds(3), 3, &BTreeSet::new()), [2]);
    }

    #[test]
    fn the_serving_release_stays_behind_failures() {
        let r = releases(&[(2, 1, false), (3, 2, true), (4, 3, true)]);
        assert_eq!(to_collect(&r, &builds(3), 1, &BTreeSet::new()), [2]);
    }

    #[test]
    fn images_in_use_shared_or_collected_stay() {
        let r = releases(&[(2, 1, false), (3, 2, false), (4, 3, false), (5, 4, false)]);
        let mut b = builds(4);
        b[1].collected = true;
        // Build 3 made the same image as build 4 (a push of the same tree).
        b[2].image = b[3].image.clone();
        let in_use = BTreeSet::from([b[0].image.clone()]);
        assert_eq!(to_collect(&r, &b, 1, &in_use), Vec::<i64>::new());
        assert_eq!(to_collect(&r, &b, 1, &BTreeSet::new()), [1]);
    }

    #[test]
    fn repositories_of_references() {
        assert_eq!(repository_of("127.0.0.1:5000/paas/a@sha256:ab"), "127.0.0.1:5000/paas/a");
        assert_eq!(repository_of("127.0.0.1:5000/paas/a:1234abc"), "127.0.0.1:5000/paas/a");
        assert_eq!(repository_of("127.0.0.1:5000/paas/a"), "127.0.0.1:5000/paas/a");
        assert_eq!(repository_of("paas/a:1"), "paas/a");
    }

    #[test]
    fn only_the_apps_own_images_are_ever_removed() {
        assert!(owned_by("127.0.0.1:5000/paas/a@sha256:ab", "a"));
        assert!(owned_by("paas/a:1234abc", "a"));
        assert!(!owned_by("paas/stack:bookworm", "a"));
        assert!(!owned_by("127.0.0.1:5000/paas/ab@sha256:ab", "a"));
        assert!(!owned_by("127.0.0.1:5000/xpaas/a@sha256:ab", "a"));
        assert!(!owned_by("debian:bookworm", "a"));
    }
}
