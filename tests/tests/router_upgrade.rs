//! A router upgrade under load: paasd replaces the running router (its configuration
//! changed) while keep-alive clients and one opening a new connection per request keep
//! asking the app through it. The new router takes the listening sockets over the
//! hand-over socket (the metrics listener too), the old one drains and exits, and no
//! request is refused or fails: the draining router answers each kept-alive
//! connection's next request with `Connection: close` rather than closing it idle
//! under a client that is sending on it.

use paas_tests::docker::DockerCleanup;
use paas_tests::load::Load;
use paas_tests::platform::free_addr;
use paas_tests::spawn_platform_with;

#[tokio::test(flavor = "multi_thread")]
async fn a_router_upgrade_under_load_refuses_and_fails_nothing() {
    // With a metrics listener too, which is handed over like the others.
    let platform = spawn_platform_with(|c| {
        if let Some(router) = &mut c.router {
            router.metrics_addr = Some(free_addr());
        }
    })
    .await;
    let _cleanup = DockerCleanup::new(&platform.platform_id());
    let admin = platform.admin().await;
    platform.serve_python_http_server(&admin, "hello").await;

    let state_dir = platform.config.data_dir.join("router");
    let old = paasd::router_process::recorded_pid(&state_dir).expect("paasd started a router");
    let router = platform.config.router.clone().expect("a router");
    let api: std::net::SocketAddr =
        platform.url.trim_start_matches("http://").parse().expect("the API address");
    // The router paasd runs, with another log filter: a new configuration, so `ensure`
    // replaces it as after an upgrade of paasd.
    let spec = paasd::router_process::RouterSpec {
        binary: router.binary.clone(),
        http_addr: router.http_addr,
        https_addr: router.https_addr,
        metrics_addr: router.metrics_addr,
        domain: platform.config.domain.clone(),
        state_dir: state_dir.clone(),
        feed_url: format!("{}/v1/internal/routes/watch", platform.url),
        token: platform.internal_token(),
        controller_addr: api,
        builder_addr: None,
        log_filter: "info,paas_router=debug".into(),
    };

    let load = Load::start(&platform, "hello", 4, None);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let replaced_at = load.elapsed();
    let new = paasd::router_process::ensure(&spec).await.expect("the new router serves");
    let done_at = load.elapsed();
    eprintln!("the router was replaced from {replaced_at:.1} s to {done_at:.1} s of the load");
    assert_ne!(new.pid(), old, "a new router runs");
    assert!(!new.adopted());
    assert_eq!(paasd::router_process::recorded_pid(&state_dir), Some(new.pid()));
    assert!(
        !paasd::router_process::runs_router(old, &state_dir, &router.binary),
        "the old router exited after its drain"
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (requests, _, _) = load.finish().await;
    assert!(requests > 50, "the load ran: {requests} requests");

    let log =
        std::fs::read_to_string(state_dir.join(paasd::router_process::LOG_FILE)).expect("the router's log");
    assert!(log.contains("a new router took the listeners"), "the old router handed over:\n{log}");
    assert!(log.contains("took the listeners of the running router"), "the new one took them:\n{log}");
    // The new router serves the app from the controller's routes.
    let (status, _) = platform.router_get("hello", "/").await.expect("the router answers");
    assert_eq!(status, 200);
    let metrics = reqwest::get(format!("http://{}/metrics", router.metrics_addr.expect("a metrics address")))
        .await
        .expect("the new router serves metrics")
        .text()
        .await
        .expect("metrics");
    assert!(metrics.contains("paas_router_requests_total{app=\"hello\""), "{metrics}");
}
