//! Publishing a build: the image goes to the platform's registry through the node's
//! registry gateway, and the build is handed on with the image named by digest.
//!
//! [`PublishingSink`] is a [`BuildSink`] in front of another: it tags the built image
//! `<gateway>/paas/<app>:<short sha>`, pushes it with the registry's `builder`
//! credentials (the engine fetches a push token from the gateway's `/token`), reads the
//! digest the registry gave it back from the engine, and passes the result on with
//! `image = <gateway>/paas/<app>@sha256:...`. A failed push rejects the push, and the
//! running release stays as it is.
//!
//! A [`PushGate`] given with [`PublishingSink::with_gate`] is held shared for the
//! push alone (tag, upload, digest), not for what `inner` does after: whoever holds it
//! exclusively, the registry's garbage collection, keeps uploads out without waiting on
//! a release's rollout.

use std::fmt;
use std::sync::Arc;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{PushImageOptionsBuilder, RemoveImageOptionsBuilder, TagImageOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;

use super::{BuildResult, BuildSink};
use crate::handler::{BoxFuture, Progress, Rejection};

/// Where built images are pushed, and as whom.
#[derive(Clone)]
pub struct RegistryTarget {
    /// The gateway's `host:port` (loopback, so the engine speaks plain HTTP to it).
    pub host: String,
    /// The registry user that may push (`builder`).
    pub username: String,
    /// Its secret; never shown by `Debug`.
    pub password: String,
}

impl fmt::Debug for RegistryTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryTarget")
            .field("host", &self.host)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl RegistryTarget {
    /// The repository of an app's images in the registry: `<host>/paas/<app>`.
    pub fn repository(&self, app: &str) -> String {
        format!("{}/paas/{app}", self.host)
    }

    fn credentials(&self) -> DockerCredentials {
        DockerCredentials {
            username: Some(self.username.clone()),
            password: Some(self.password.clone()),
            serveraddress: Some(self.host.clone()),
            ..Default::default()
        }
    }
}

/// Why an image could not be published; the message is for the user.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The engine refused to tag the image.
    #[error("cannot tag the image for the registry: {0}")]
    Tag(String),
    /// The push failed (the registry or its token endpoint refused, or is away).
    #[error("cannot push the image to the registry: {0}")]
    Push(String),
    /// The engine knows no digest for the pushed image.
    #[error("the registry gave no digest for {0}")]
    NoDigest(String),
}

/// Held shared by every push while it uploads, and exclusively by whoever must not see
/// an upload half done (the registry's garbage collection, which deletes the blobs no
/// manifest names yet). Cheap to clone: clones are one gate.
#[derive(Debug, Clone, Default)]
pub struct PushGate(Arc<tokio::sync::RwLock<()>>);

impl PushGate {
    /// Waits until no push uploads and keeps new ones waiting while the guard lives.
    pub async fn exclusive(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.0.write().await
    }

    async fn uploading(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.0.read().await
    }
}

/// Pushes each build's image to the registry, then hands the build, named by digest,
/// to `inner`.
pub struct PublishingSink {
    docker: Docker,
    target: RegistryTarget,
    gate: PushGate,
    inner: Arc<dyn BuildSink>,
}

impl fmt::Debug for PublishingSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishingSink").field("target", &self.target).finish_non_exhaustive()
    }
}

impl PublishingSink {
    /// A sink that publishes to `target` through `docker`, then calls `inner`.
    pub fn new(docker: Docker, target: RegistryTarget, inner: Arc<dyn BuildSink>) -> Self {
        Self { docker, target, gate: PushGate::default(), inner }
    }

    /// The same sink, holding `gate` while it pushes.
    pub fn with_gate(mut self, gate: PushGate) -> Self {
        self.gate = gate;
        self
    }

    /// A sink on the local engine (`DOCKER_HOST` or the default socket), with an agreed
    /// API version.
    pub async fn connect(
        target: RegistryTarget,
        inner: Arc<dyn BuildSink>,
    ) -> Result<Self, bollard::errors::Error> {
        let docker = Docker::connect_with_local_defaults()?.negotiate_version().await?;
        Ok(Self::new(docker, target, inner))
    }

    /// Pushes `image` (a local tag `paas/<app>:<tag>`) and returns its reference by
    /// digest, `<host>/paas/<app>@sha256:...`.
    pub async fn publish(&self, app: &str, image: &str, progress: &Progress) -> Result<String, PublishError> {
        let _uploading = self.gate.uploading().await;
        let repository = self.target.repository(app);
        let tag = image.rsplit_once(':').map(|(_, tag)| tag).unwrap_or("latest");
        let options = TagImageOptionsBuilder::new().repo(&repository).tag(tag).build();
        self.docker.tag_image(image, Some(options)).await.map_err(|e| PublishError::Tag(e.to_string()))?;

        progress.line(&format!("-----> Pushing to {repository}")).await;
        let options = PushImageOptionsBuilder::new().tag(tag).build();
        let mut stream = self.docker.push_image(&repository, Some(options), Some(self.target.credentials()));
        while let Some(step) = stream.next().await {
            let info = step.map_err(|e| PublishError::Push(engine_message(e)))?;
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(PublishError::Push(message));
            }
        }
        let pushed = format!("{repository}:{tag}");
        let inspected =
            self.docker.inspect_image(&pushed).await.map_err(|e| PublishError::Push(engine_message(e)))?;
        let reference = inspected
            .repo_digests
            .unwrap_or_default()
            .into_iter()
            .find(|r| r.strip_prefix(repository.as_str()).is_some_and(|rest| rest.starts_with("@sha256:")))
            .ok_or_else(|| PublishError::NoDigest(pushed.clone()))?;
        // The local build tag is no longer needed: the image stays, under the registry's
        // names, so the first process starts without a pull.
        let untag = RemoveImageOptionsBuilder::new().noprune(true).build();
        if let Err(e) = self.docker.remove_image(image, Some(untag), None).await {
            tracing::warn!(%image, error = %e, "cannot remove the build's local tag");
        }
        Ok(reference)
    }
}

/// The engine's own message, without bollard's wrapping.
fn engine_message(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        bollard::errors::Error::DockerStreamError { error } => error,
        other => other.to_string(),
    }
}

impl BuildSink for PublishingSink {
    fn built<'a>(
        &'a self,
        mut result: BuildResult,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            let reference = self
                .publish(result.app.as_str(), &result.image, progress)
                .await
                .map_err(|e| Rejection(e.to_string()))?;
            progress.line(&format!("-----> Pushed {reference}")).await;
            result.image = reference;
            self.inner.built(result, progress).await
        })
    }
}
