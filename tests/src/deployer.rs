//! A developer at work on a whole platform: signed in as the admin, with a git token,
//! pushing checkouts and watching what runs. The end-to-end tests of deploys,
//! rollouts, the release phase and hygiene share it.

use serde_json::{json, Value};

use crate::checkout::{Checkout, PushOutput};
use crate::docker::containers;
use crate::{eventually, spawn_platform_with, ApiClient, TestPlatform};

/// The platform, its admin, and the admin's git token.
pub struct Deployer {
    /// The platform.
    pub platform: TestPlatform,
    /// The signed-in admin.
    pub admin: ApiClient,
    /// The admin's API token, git's password.
    pub token: String,
}

/// One running container of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// The engine's id.
    pub id: String,
    /// The release it runs, from its label.
    pub release: String,
    /// `type.index`.
    pub process: String,
}

impl Deployer {
    /// A whole platform (`spawn_platform_with`) after `adjust`, with a signed-in admin.
    pub async fn start_with(adjust: impl FnOnce(&mut paasd::PaasdConfig)) -> Deployer {
        let platform = spawn_platform_with(adjust).await;
        let admin = platform.admin().await;
        let token = admin.token("git").await;
        Deployer { platform, admin, token }
    }

    /// `git push` of the checkout's `main` to `app`, as the admin.
    pub fn push(&self, checkout: &Checkout, app: &str) -> PushOutput {
        tokio::task::block_in_place(|| checkout.push(&self.platform.git_url(app, "admin", &self.token)))
    }

    /// The app's releases, newest first.
    pub async fn releases(&self, app: &str) -> Vec<Value> {
        let list = self.admin.get(&format!("/v1/apps/{app}/releases")).await.expect(200);
        list.as_array().expect("a list").clone()
    }

    /// The app's answer through the router, once it starts with `want`.
    pub async fn answer_starting(&self, app: &str, want: &str) -> String {
        eventually(&format!("{app} answers {want:?} through the router"), || async {
            let (status, body) = self.platform.router_get(app, "/").await?;
            (status == 200 && body.starts_with(want)).then_some(body)
        })
        .await
    }

    /// Waits until the router answers `want` for the app.
    pub async fn status_becomes(&self, app: &str, want: u16) {
        eventually(&format!("{app} answers {want} through the router"), || async {
            let (status, _) = self.platform.router_get(app, "/").await?;
            (status == want).then_some(())
        })
        .await
    }

    /// Waits until release `version` of `app` has succeeded; panics if it failed.
    pub async fn succeeded(&self, app: &str, version: u64) {
        eventually(&format!("v{version} of {app} succeeds"), || async {
            let releases = self.releases(app).await;
            let release = releases.iter().find(|r| r["version"] == json!(version))?;
            assert_ne!(release["status"], "failed", "{release}");
            (release["status"] == "succeeded").then_some(())
        })
        .await;
    }

    /// Waits until `ps` shows exactly `n` web processes, all `up`.
    pub async fn web_up(&self, app: &str, n: usize) {
        eventually(&format!("{n} web processes of {app} up"), || async {
            let ps = self.admin.get(&format!("/v1/apps/{app}/processes")).await.expect(200);
            let web: Vec<&Value> = ps.as_array()?.iter().filter(|p| p["type"] == "web").collect();
            (web.len() == n && web.iter().all(|p| p["state"] == "up")).then_some(())
        })
        .await;
    }

    /// The running containers of `app`, ordered by release and process.
    pub async fn running(&self, app: &str) -> Vec<Running> {
        containers(&self.platform.platform_id())
            .await
            .into_iter()
            .filter(|c| c.running && c.labels.get("paas.app").map(String::as_str) == Some(app))
            .map(|c| Running { process: c.process(), release: c.labels["paas.release"].clone(), id: c.id })
            .collect()
    }

    /// The running processes of `app` as (release, `type.index`).
    pub async fn running_processes(&self, app: &str) -> Vec<(String, String)> {
        self.running(app).await.into_iter().map(|r| (r.release, r.process)).collect()
    }
}
