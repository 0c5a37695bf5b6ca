//! `git push` to paasd's builder, authorized by the controller: API tokens, owners,
//! collaborators and strangers, with the real git client. This platform runs without
//! Docker, so an authorized push gets as far as the build and is refused there with a
//! message saying why; an unauthorized one never gets that far.

use paas_tests::checkout::{Checkout, PushOutput};
use paas_tests::{spawn_controller_with, TestPlatform};
use serde_json::json;

/// What an authorized push hears on a platform without Docker.
const BUILDS_OFF: &str = "pushes cannot be built";

/// `git push` of `main` to `app` with `token` as the password.
fn push(platform: &TestPlatform, repo: &Checkout, app: &str, token: &str) -> PushOutput {
    tokio::task::block_in_place(|| repo.push(&platform.git_url(app, "user", token)))
}

#[tokio::test(flavor = "multi_thread")]
async fn pushes_are_authorized_by_the_controller() {
    let platform = spawn_controller_with(|c| c.builder_addr = Some("127.0.0.1:0".parse().unwrap())).await;
    let admin = platform.admin().await;
    let bob = platform.user(&admin, "bob").await;
    let carol = platform.user(&admin, "carol").await;
    bob.create_app("hello").await;
    let repo = Checkout::new(&[("app.py", "print('hello')\n")]);

    // The owner's API token is let in, up to the build.
    let bobs = bob.token("git").await;
    push(&platform, &repo, "hello", &bobs).assert_failure().assert_contains(BUILDS_OFF);

    // A wrong token is refused as bad credentials; it is never echoed.
    let out = push(&platform, &repo, "hello", "paas_wrong");
    out.assert_failure().assert_contains("Authentication failed");
    assert!(!out.output.contains("paas_wrong"), "{}", out.output);

    // Someone else's app looks like no app at all.
    let carols = carol.token("git").await;
    let out = push(&platform, &repo, "hello", &carols);
    out.assert_failure().assert_contains("not found");
    assert!(!out.output.contains(BUILDS_OFF), "{}", out.output);
    push(&platform, &repo, "no-such-app", &bobs).assert_failure().assert_contains("not found");

    // A collaborator may push; a disabled user may not.
    bob.post("/v1/apps/hello/collaborators", json!({"username": "carol"})).await.expect(201);
    repo.commit(&[("app.py", "print('hello again')\n")], "second");
    push(&platform, &repo, "hello", &carols).assert_contains(BUILDS_OFF);
    admin.patch("/v1/users/carol", json!({"disabled": true})).await.expect(200);
    let out = push(&platform, &repo, "hello", &carols);
    out.assert_failure();
    assert!(!out.output.contains(BUILDS_OFF), "a disabled user is stopped earlier: {}", out.output);
}
