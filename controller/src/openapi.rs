//! The OpenAPI document, generated from the handlers' annotations. `docs/openapi.json`
//! is checked in; a test fails when it drifts from this.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::healthchecks;
use crate::routes::{
    apps, auth, builds, config, domains, formation, internal, logs, perms, platform, processes, releases,
    run, tokens, users,
};
use crate::routes::{certs, limits, restart};

/// The paas REST API.
#[derive(OpenApi)]
#[openapi(
    info(title = "paas API", description = "The control plane of paas, a self-hosted Heroku. Authenticate with `Authorization: Bearer <JWT from /v1/auth/login or an API token paas_...>`."),
    paths(
        platform::healthz, platform::readyz, platform::platform, platform::events,
        platform::registration_get, platform::registration_set,
        auth::register, auth::login, auth::whoami,
        tokens::list, tokens::create, tokens::revoke,
        users::list, users::update,
        apps::list, apps::create, apps::info, apps::destroy, apps::events,
        config::get, config::update,
        releases::list, releases::info, releases::rollback,
        formation::get, formation::scale,
        processes::list, restart::restart,
        limits::get, limits::set, limits::unset,
        healthchecks::list, healthchecks::set, healthchecks::unset,
        builds::list,
        logs::get,
        run::run,
        domains::list, domains::add, domains::remove,
        certs::list, certs::add, certs::remove, certs::tls_get, certs::tls_set,
        certs::auto_status, certs::auto_enable, certs::auto_disable,
        perms::list, perms::add, perms::remove,
        internal::routes_watch,
        internal::access_post,
        internal::routes_applied,
    ),
    // In no body: `run`'s request travels in its `Paas-Run` header, base64url.
    components(schemas(paas_core::api::RunRequest)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON with a trailing newline, as checked in.
pub fn document_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut json = doc.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
