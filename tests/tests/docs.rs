//! Generated reference pages stay in step with the code: the OpenAPI document and the
//! configuration reference. Run with `UPDATE_DOCS=1` to rewrite them after a change.

use std::path::PathBuf;

fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

#[allow(clippy::disallowed_methods)] // A test knob, not a platform setting.
fn updating() -> bool {
    std::env::var_os("UPDATE_DOCS").is_some()
}

#[track_caller]
fn check(relative: &str, generated: &str) {
    let path = repo_file(relative);
    if updating() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{relative} is out of date with the code: run `UPDATE_DOCS=1 cargo test -p paas-tests --test docs` and commit it"
    );
}

#[test]
fn openapi_document_matches_the_handlers() {
    check("docs/openapi.json", &paas_controller::openapi::document_json());
}

#[test]
fn configuration_reference_matches_the_settings() {
    check("docs/configuration.md", &paas_core::settings::reference_markdown());
}

#[test]
fn every_endpoint_is_in_the_openapi_document() {
    let doc: serde_json::Value = serde_json::from_str(&paas_controller::openapi::document_json()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/auth/register",
        "/v1/auth/login",
        "/v1/auth/whoami",
        "/v1/tokens",
        "/v1/tokens/{id}",
        "/v1/users",
        "/v1/users/{username}",
        "/v1/apps",
        "/v1/apps/{app}",
        "/v1/apps/{app}/events",
        "/v1/apps/{app}/config",
        "/v1/apps/{app}/releases",
        "/v1/apps/{app}/releases/{version}",
        "/v1/apps/{app}/rollback",
        "/v1/apps/{app}/formation",
        "/v1/apps/{app}/processes",
        "/v1/apps/{app}/processes/restart",
        "/v1/apps/{app}/limits",
        "/v1/apps/{app}/limits/{type}",
        "/v1/apps/{app}/healthchecks",
        "/v1/apps/{app}/healthchecks/{type}",
        "/v1/apps/{app}/builds",
        "/v1/apps/{app}/logs",
        "/v1/apps/{app}/run",
        "/v1/apps/{app}/domains",
        "/v1/apps/{app}/domains/{hostname}",
        "/v1/apps/{app}/certs",
        "/v1/apps/{app}/certs/auto",
        "/v1/apps/{app}/certs/{cert}",
        "/v1/apps/{app}/tls",
        "/v1/apps/{app}/collaborators",
        "/v1/apps/{app}/collaborators/{username}",
        "/v1/platform",
        "/v1/platform/registration",
        "/v1/events",
        "/v1/internal/routes/watch",
        "/v1/internal/access",
        "/v1/internal/routes/applied",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains_key(path), "{path} is missing from the OpenAPI document");
    }
    assert_eq!(paths.len(), 40, "an endpoint is documented that this test does not know");
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|ops| ops.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "operationIds must be unique");
}
