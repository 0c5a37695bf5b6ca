//! Pushes that build, with the real `git` and the real Docker engine: what the user
//! reads, which image is made, and which trees are refused.

use std::sync::Arc;
use std::time::Duration;

use paas_builder::{BuildLimits, BuildingHandler, LogBuilds};

use crate::helpers::{app_with, image_exists, spawn_builder_with, Builder, GitUser, ImageGuard, TOKEN};

const STACK: &str = "paas/stack:bookworm";

async fn spawn_building_builder() -> Builder {
    spawn_building_builder_with(BuildLimits::default()).await
}

async fn spawn_building_builder_with(limits: BuildLimits) -> Builder {
    let handler = BuildingHandler::connect(Arc::new(LogBuilds)).await.expect("no Docker engine answers");
    let handler = handler.with_limits(limits);
    spawn_builder_with(Arc::new(handler), |_| {}).await
}

#[tokio::test]
async fn a_dockerfile_app_builds_into_an_image_with_the_pushed_files() {
    let builder = spawn_building_builder().await;
    let user = GitUser::new();
    let dockerfile =
        format!("FROM {STACK}\nCOPY . /app\nCMD [\"python3\",\"-m\",\"http.server\",\"5000\"]\n");
    let app = app_with(&user, &[("Dockerfile", &dockerfile), ("app.py", "print('hi')\n")]).await;
    let sha = user.commit_all(app.path(), "first").await;
    let image = format!("paas/hello:{}", &sha[..7]);
    let _guard = ImageGuard(image.clone());

    let pushed = user.push(app.path(), &builder.url(TOKEN, "hello"), "main").await;
    assert!(pushed.ok, "{}", pushed.stderr);
    for line in [
        "remote: -----> Building with the Dockerfile".to_owned(),
        // The engine adds a last step for the image's labels.
        format!("remote:        Step 1/4 : FROM {STACK}"),
        "remote:        Step 2/4 : COPY . /app".to_owned(),
        format!("remote:        Successfully tagged {image}"),
        format!("remote: -----> Built {image}"),
    ] {
        assert!(pushed.stderr.contains(&line), "missing {line:?} in:\n{}", pushed.stderr);
    }
    assert!(image_exists(&image));
    let listed = std::process::Command::new("docker")
        .args(["run", "--rm", &image, "python3", "-c", "import os; print(sorted(os.listdir('/app')))"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "['Dockerfile', 'app.py']");
    builder.stop().await;
}

#[tokio::test]
async fn a_failing_dockerfile_step_rejects_the_push_with_the_engine_error() {
    let builder = spawn_building_builder().await;
    let user = GitUser::new();
    let app = app_with(&user, &[("Dockerfile", &format!("FROM {STACK}\nRUN false\n"))]).await;
    let sha = user.commit_all(app.path(), "first").await;
    let image = format!("paas/hello:{}", &sha[..7]);
    let _guard = ImageGuard(image.clone());

    let pushed = user.push(app.path(), &builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok, "{}", pushed.stderr);
    assert!(pushed.stderr.contains("remote:        Step 2/3 : RUN false"), "{}", pushed.stderr);
    assert!(
        pushed
            .stderr
            .contains("the Docker build failed: The command '/bin/sh -c false' returned a non-zero code: 1"),
        "{}",
        pushed.stderr
    );
    assert!(!image_exists(&image));
    assert_eq!(builder.bare_ref("hello", "refs/heads/main"), None);
    builder.stop().await;
}

#[tokio::test]
async fn a_procfile_error_rejects_the_push_with_its_line() {
    let builder = spawn_building_builder().await;
    let user = GitUser::new();
    let app = app_with(
        &user,
        &[
            ("Dockerfile", &format!("FROM {STACK}\n")),
            ("Procfile", "web: python3 app.py\nworker python3 w.py\n"),
        ],
    )
    .await;
    user.commit_all(app.path(), "first").await;
    let pushed = user.push(app.path(), &builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok, "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains("remote:  !     Procfile line 2: expected `type: command`"),
        "{}",
        pushed.stderr
    );
    builder.stop().await;
}

#[tokio::test]
async fn a_symlink_out_of_the_tree_is_refused_naming_it() {
    let builder = spawn_building_builder().await;
    let user = GitUser::new();
    let app = app_with(&user, &[("Dockerfile", &format!("FROM {STACK}\nCOPY . /app\n"))]).await;
    std::fs::create_dir(app.path().join("conf")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", app.path().join("conf/passwd")).unwrap();
    user.commit_all(app.path(), "first").await;
    let pushed = user.push(app.path(), &builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok, "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains(
            "remote:  !     `conf/passwd`: the symbolic link to `/etc/passwd` leaves the repository"
        ),
        "{}",
        pushed.stderr
    );
    builder.stop().await;
}

/// The build containers still on the engine that run `command`.
fn containers_running(command: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(command))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_build_over_its_time_limit_is_cancelled_and_rejected() {
    let limits = BuildLimits { timeout: Duration::from_secs(3), ..BuildLimits::default() };
    let builder = spawn_building_builder_with(limits).await;
    let user = GitUser::new();
    let app = app_with(&user, &[("Dockerfile", &format!("FROM {STACK}\nRUN sleep 41.5\n"))]).await;
    let sha = user.commit_all(app.path(), "first").await;
    let _guard = ImageGuard(format!("paas/hello:{}", &sha[..7]));

    let started = std::time::Instant::now();
    let pushed = user.push(app.path(), &builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok, "{}", pushed.stderr);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        pushed.stderr.contains("remote:  !     the Docker build took longer than 3s"),
        "{}",
        pushed.stderr
    );
    // The engine cancels the build when the request goes, and removes its container.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !containers_running("sleep 41.5").is_empty() {
        assert!(std::time::Instant::now() < deadline, "left behind: {}", containers_running("sleep 41.5"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    builder.stop().await;
}

#[tokio::test]
async fn a_build_out_of_memory_is_rejected_with_a_hint() {
    let limits = BuildLimits { memory_bytes: 64 << 20, ..BuildLimits::default() };
    let builder = spawn_building_builder_with(limits).await;
    let user = GitUser::new();
    let eat = "RUN python3 -c 'x = bytearray(512 << 20); print(len(x))'";
    let app = app_with(&user, &[("Dockerfile", &format!("FROM {STACK}\n{eat}\n"))]).await;
    let sha = user.commit_all(app.path(), "first").await;
    let _guard = ImageGuard(format!("paas/hello:{}", &sha[..7]));

    let pushed = user.push(app.path(), &builder.url(TOKEN, "hello"), "main").await;
    assert!(!pushed.ok, "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains(
            "returned a non-zero code: 137 (killed: most likely out of memory; a build step may use 64 MiB)"
        ),
        "{}",
        pushed.stderr
    );
    builder.stop().await;
}
