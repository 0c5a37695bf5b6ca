//! Domains: `<app>.<domain>` always, plus custom host names unique across apps.

use paas_core::api::{Domain, DomainCreate};
use paas_core::Hostname;

use super::access::{app_for, find_app, Need};
use super::timestamp;
use crate::auth::Caller;
use crate::db::{self, apps::AppRow, Conn};
use crate::error::{is_unique_violation, ApiError, ApiResult};
use crate::State;

/// The default domain first, then custom ones by name.
pub async fn domains_of(conn: &mut Conn, state: &State, app: &AppRow) -> ApiResult<Vec<Domain>> {
    let default = Domain {
        hostname: format!("{}.{}", app.name, state.config.domain),
        kind: "default".into(),
        created_at: timestamp(app.created_at),
    };
    let custom = db::domains::domain_list_for_app(conn, app.id).await?.into_iter().map(|row| Domain {
        hostname: row.hostname,
        kind: "custom".into(),
        created_at: timestamp(row.created_at),
    });
    Ok(std::iter::once(default).chain(custom).collect())
}

/// The app's domains.
pub async fn list(state: &State, caller: &Caller, name: &str) -> ApiResult<Vec<Domain>> {
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    domains_of(&mut conn, state, &app).await
}

/// Parses a custom domain and refuses the names the platform keeps for itself.
fn parse_custom(state: &State, hostname: &str) -> ApiResult<Hostname> {
    let host = Hostname::parse(hostname)?;
    let domain = &state.config.domain;
    if &host == domain || host.label_under(domain).is_some() {
        return Err(ApiError::invalid(format!(
            "{host} belongs to the platform domain {domain}: every app already answers on <app>.{domain}"
        )));
    }
    if !host.is_qualified() {
        return Err(ApiError::invalid(format!("{host} is not a fully qualified domain name"))
            .with_hint("use a name like www.example.com"));
    }
    Ok(host)
}

/// Adds a custom domain to an app.
pub async fn add(state: &State, caller: &Caller, name: &str, request: DomainCreate) -> ApiResult<Domain> {
    let host = parse_custom(state, &request.hostname)?;
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let mut tx = state.db.begin_write().await?;
    let row = match db::domains::domain_insert(&mut tx, app.id, host.as_str()).await {
        Ok(row) => row,
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::already_exists(format!("{host} is already a domain of an app"))
                .with_hint("remove it from the other app first"))
        }
        Err(e) => return Err(e.into()),
    };
    db::events::event_insert(&mut tx, &caller.username, "domain.add", Some(name), host.as_str()).await?;
    tx.commit().await?;
    super::routes_changed(state).await;
    Ok(Domain { hostname: row.hostname, kind: "custom".into(), created_at: timestamp(row.created_at) })
}

/// Removes a custom domain from an app.
pub async fn remove(state: &State, caller: &Caller, name: &str, hostname: &str) -> ApiResult<()> {
    let host = Hostname::parse(hostname)?;
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let mut tx = state.db.begin_write().await?;
    if !db::domains::domain_delete(&mut tx, app.id, host.as_str()).await? {
        return Err(ApiError::not_found(format!("{name} has no custom domain {host}"))
            .with_hint(format!("see `paas domains -a {name}`")));
    }
    db::events::event_insert(&mut tx, &caller.username, "domain.remove", Some(name), host.as_str()).await?;
    tx.commit().await?;
    super::routes_changed(state).await;
    Ok(())
}
