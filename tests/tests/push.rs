//! `git push` to paasd's builder, authorized by the controller: API tokens, owners,
//! collaborators and strangers, with the real git client. This platform runs without
//! Docker, so an authorized push gets as far as the build and is refused there with a
//! message saying why; an unauthorized one never gets that far.

use std::path::Path;
use std::process::{Command, Output};

use paas_tests::{spawn_controller_with, ApiClient, TestPlatform};
use serde_json::json;

/// What an authorized push hears on a platform without Docker.
const BUILDS_OFF: &str = "pushes cannot be built";

/// Runs git in `dir` with a private HOME and no prompts.
fn git(dir: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .expect("git runs")
}

/// A checkout with one commit on `main`.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let run = |args: &[&str]| assert!(git(dir.path(), home, args).status.success(), "git {args:?}");
    run(&["init", "-q", "-b", "main"]);
    std::fs::write(dir.path().join("app.py"), "print('hello')\n").unwrap();
    run(&["add", "."]);
    run(&["commit", "-q", "-m", "first"]);
    dir
}

/// `git push` of `main` to `app` with `token` as the password.
fn push(platform: &TestPlatform, repo: &Path, app: &str, token: &str) -> Output {
    let builder = platform.config.builder_addr.expect("a builder");
    let url = format!("http://user:{token}@{builder}/{app}.git");
    git(repo, repo, &["push", &url, "main"])
}

async fn token_of(client: &ApiClient) -> String {
    client.post("/v1/tokens", json!({"description": "git"})).await.expect(201)["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn pushes_are_authorized_by_the_controller() {
    let platform = spawn_controller_with(|c| c.builder_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let admin = platform.admin().await;
    let bob = platform.user(&admin, "bob").await;
    let carol = platform.user(&admin, "carol").await;
    bob.create_app("hello").await;
    let repo = checkout();

    // The owner's API token is let in, up to the build.
    let bobs = token_of(&bob).await;
    let out = tokio::task::block_in_place(|| push(&platform, repo.path(), "hello", &bobs));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(BUILDS_OFF), "{stderr}");

    // A wrong token is refused as bad credentials; it is never echoed.
    let out = tokio::task::block_in_place(|| push(&platform, repo.path(), "hello", "paas_wrong"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("Authentication failed"), "{stderr}");

    // Someone else's app looks like no app at all.
    let carols = token_of(&carol).await;
    let out = tokio::task::block_in_place(|| push(&platform, repo.path(), "hello", &carols));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not found") && !stderr.contains(BUILDS_OFF), "{stderr}");
    let out = tokio::task::block_in_place(|| push(&platform, repo.path(), "no-such-app", &bobs));
    assert!(!out.status.success());

    // A collaborator may push; a disabled user may not.
    bob.post("/v1/apps/hello/collaborators", json!({"username": "carol"})).await.expect(201);
    std::fs::write(repo.path().join("app.py"), "print('hello again')\n").unwrap();
    assert!(git(repo.path(), repo.path(), &["commit", "-q", "-am", "second"]).status.success());
    let out = tokio::task::block_in_place(|| push(&platform, repo.path(), "hello", &carols));
    assert!(String::from_utf8_lossy(&out.stderr).contains(BUILDS_OFF));
    admin.patch("/v1/users/carol", json!({"disabled": true})).await.expect(200);
    let out = tokio::task::block_in_place(|| push(&platform, repo.path(), "hello", &carols));
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains(BUILDS_OFF), "a disabled user is stopped earlier");
}
