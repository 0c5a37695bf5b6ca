//! Pushing with the real `git`: what succeeds, what is refused, and what the user reads.

use std::sync::Arc;
use std::time::Duration;

use paas_builder::handler::BoxFuture;
use paas_builder::{Progress, Push, PushHandler, Rejection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{noise, spawn_builder, spawn_builder_with, GitUser, TOKEN};

#[tokio::test]
async fn a_first_push_and_a_fast_forward_deploy_main() {
    let builder = spawn_builder().await;
    let user = GitUser::new();
    let app = user.new_app().await;
    let url = builder.url(TOKEN, "hello");

    let pushed = user.push(app.path(), &url, "main").await;
    assert!(pushed.ok, "{}", pushed.stderr);
    let first = user.head(app.path()).await;
    assert!(pushed.stderr.contains(&format!("remote: -----> Received {}", &first[..7])), "{}", pushed.stderr);
    assert_eq!(builder.bare_ref("hello", "refs/heads/main").as_deref(), Some(first.as_str()));
    assert!(builder.has_commit("hello", &first));

    std::fs::write(app.path().join("app.py"), "print('hello')\n").unwrap();
    let second = user.commit_all(app.path(), "second").await;
    let pushed = user.push(app.path(), &url, "main").await;
    assert!(pushed.ok, "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains(&format!("remote: -----> Received {}", &second[..7])),
        "{}",
        pushed.stderr
    );
    assert_eq!(builder.bare_ref("hello", "refs/heads/main").as_deref(), Some(second.as_str()));

    // master deploys too.
    let pushed = user.push(app.path(), &url, "main:master").await;
    assert!(pushed.ok, "{}", pushed.stderr);
    builder.stop().await;
}

#[tokio::test]
async fn other_branches_and_deletes_are_refused_with_a_reason() {
    let builder = spawn_builder().await;
    let user = GitUser::new();
    let app = user.new_app().await;
    let url = builder.url(TOKEN, "hello");

    let pushed = user.push(app.path(), &url, "main:feature").await;
    assert!(!pushed.ok);
    assert!(pushed.stderr.contains("only main or master deploys"), "{}", pushed.stderr);
    assert_eq!(builder.bare_ref("hello", "refs/heads/feature"), None);

    assert!(user.push(app.path(), &url, "main").await.ok);
    let pushed = user.push(app.path(), &url, ":main").await;
    assert!(!pushed.ok);
    assert!(builder.bare_ref("hello", "refs/heads/main").is_some(), "{}", pushed.stderr);
    builder.stop().await;
}

#[tokio::test]
async fn wrong_tokens_and_unknown_apps_fail_clearly() {
    let builder = spawn_builder().await;
    let user = GitUser::new();
    let app = user.new_app().await;

    let pushed = user.push(app.path(), &builder.url("wrong", "hello"), "main").await;
    assert!(!pushed.ok);
    assert!(pushed.stderr.contains("Authentication failed"), "{}", pushed.stderr);

    for unknown in ["nope", "secret-app"] {
        let pushed = user.push(app.path(), &builder.url(TOKEN, unknown), "main").await;
        assert!(!pushed.ok);
        assert!(pushed.stderr.contains(&format!("App '{unknown}' not found")), "{}", pushed.stderr);
    }
    assert_eq!(builder.bare_ref("hello", "refs/heads/main"), None);
    builder.stop().await;
}

#[tokio::test]
async fn clone_and_fetch_are_refused() {
    let builder = spawn_builder().await;
    let user = GitUser::new();
    let app = user.new_app().await;
    assert!(user.push(app.path(), &builder.url(TOKEN, "hello"), "main").await.ok);

    let out = user.git(app.path(), &["clone", &builder.url(TOKEN, "hello"), "copy"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("fetching and cloning from it are not supported"), "{stderr}");
    builder.stop().await;
}

async fn raw_post(addr: std::net::SocketAddr, body: &[u8]) -> String {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("u:{TOKEN}"));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /hello.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-git-receive-pack-request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn garbage_requests_get_400_and_the_builder_stays_healthy() {
    let builder = spawn_builder().await;
    let answer = raw_post(builder.addr, b"this is not a git push at all").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("Not a git push"), "{answer}");

    // Good commands, then a pack that is not one: a clean unpack error.
    let command = format!("{} {} refs/heads/main\0report-status\n", git2::Oid::zero(), "1".repeat(40));
    let mut body = Vec::new();
    paas_core::pktline::write_data(&mut body, command.as_bytes()).unwrap();
    paas_core::pktline::write_flush(&mut body);
    body.extend_from_slice(b"PACK\0\0\0\x02\0\0\0\x05garbage garbage garbage");
    let answer = raw_post(builder.addr, &body).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("unpack "), "{answer}");
    assert!(answer.contains("ng refs/heads/main unpacker error"), "{answer}");

    let user = GitUser::new();
    let app = user.new_app().await;
    let pushed = user.push(app.path(), &builder.url(TOKEN, "hello"), "main").await;
    assert!(pushed.ok, "{}", pushed.stderr);
    builder.stop().await;
}

struct Reject;

impl PushHandler for Reject {
    fn handle<'a>(&'a self, _push: Push, progress: Progress) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            progress.line("-----> Building").await;
            Err(Rejection("no Procfile, Dockerfile or buildpack matches this app".into()))
        })
    }
}

#[tokio::test]
async fn a_handler_rejection_fails_the_push_with_its_message_and_keeps_the_ref() {
    let builder = spawn_builder_with(Arc::new(Reject), |_| {}).await;
    let user = GitUser::new();
    let app = user.new_app().await;
    let pushed = user.push(app.path(), &builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok);
    assert!(pushed.stderr.contains("remote: -----> Building"), "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains("no Procfile, Dockerfile or buildpack matches this app"),
        "{}",
        pushed.stderr
    );
    assert_eq!(
        builder.bare_ref("hello", "refs/heads/main"),
        None,
        "a rejected push leaves the ref where it was"
    );
    // So the same commit can be pushed again once the cause is fixed.
    let pushed = user.push(app.path(), &builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok);
    assert!(!pushed.stderr.contains("Everything up-to-date"), "{}", pushed.stderr);
    builder.stop().await;
}

struct Slow;

impl PushHandler for Slow {
    fn handle<'a>(&'a self, _push: Push, progress: Progress) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            progress.line("-----> Building slowly").await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok(())
        })
    }
}

#[tokio::test]
async fn of_two_concurrent_pushes_to_main_exactly_one_wins() {
    let builder = spawn_builder_with(Arc::new(Slow), |_| {}).await;
    let (alice, bob) = (GitUser::new(), GitUser::new());
    let (a, b) = (alice.new_app().await, bob.new_app().await);
    // Histories that share no commit: whichever push the server takes first, the other is
    // not a fast-forward of it, so it loses whether the two overlap (the server's
    // compare-and-swap) or, on a loaded machine, run one after the other (git's own check).
    std::fs::write(a.path().join("alice.txt"), "alice\n").unwrap();
    alice.commit_all(a.path(), "alice").await;
    std::fs::write(b.path().join("bob.txt"), "bob\n").unwrap();
    bob.commit_all(b.path(), "bob").await;
    let url = builder.url(TOKEN, "hello");
    let (pa, pb) = tokio::join!(alice.push(a.path(), &url, "main"), bob.push(b.path(), &url, "main"));
    assert!(pa.ok != pb.ok, "alice: {}\nbob: {}", pa.stderr, pb.stderr);
    let (winner, loser) = if pa.ok { (&a, &pb) } else { (&b, &pa) };
    let winner_head = if pa.ok { alice.head(winner.path()).await } else { bob.head(winner.path()).await };
    assert_eq!(builder.bare_ref("hello", "refs/heads/main"), Some(winner_head));
    assert!(loser.stderr.contains("fetch first") || loser.stderr.contains("rejected"), "{}", loser.stderr);
    builder.stop().await;
}

#[tokio::test]
async fn a_push_over_the_size_limit_is_refused_with_the_limit() {
    let builder =
        spawn_builder_with(Arc::new(paas_builder::AcceptPushes), |c| c.max_push_bytes = 64 << 10).await;
    let user = GitUser::new();
    let app = user.new_app().await;
    let url = builder.url(TOKEN, "big");

    // Small enough for git to send with a Content-Length: refused before reading.
    std::fs::write(app.path().join("blob"), noise(200 << 10, 1)).unwrap();
    user.commit_all(app.path(), "200 KiB").await;
    let pushed = user.push(app.path(), &url, "main").await;
    assert!(!pushed.ok);
    assert!(pushed.stderr.contains("413"), "{}", pushed.stderr);

    // Larger than git's post buffer: sent chunked, refused while reading, with the reason.
    std::fs::write(app.path().join("blob"), noise(3 << 20, 2)).unwrap();
    user.commit_all(app.path(), "3 MiB").await;
    let pushed = user.push(app.path(), &url, "main").await;
    assert!(!pushed.ok);
    assert!(pushed.stderr.contains("larger than the 64 KiB limit"), "{}", pushed.stderr);
    assert_eq!(builder.bare_ref("big", "refs/heads/main"), None);
    builder.stop().await;
}
