//! `paas certs:auto`: the platform orders an app's certificate from its ACME server and
//! renews it (see [`crate::acme`]).
//!
//! [`enable`] turns it on and orders at once, so the caller learns whether it worked;
//! [`renew_due`], run by [`run_renewals`] every check interval, orders again what
//! [`crate::acme::renewal_due`] says is due. A certificate covers every domain of the
//! app but wildcard ones (HTTP-01 cannot prove those); a name an uploaded certificate
//! covers is refused until that one is removed. A new certificate replaces the app's
//! previous ACME one in one transaction, and the route table carries it to the routers.
//! A failed order is kept as the app's `last_error` and tried again at the next check.

use std::sync::Arc;

use paas_core::api::{AcmeStatus, Certificate};

use super::access::{app_for, find_app, Need};
use super::certs;
use crate::auth::Caller;
use crate::db::{self, apps::AppRow};
use crate::error::{ApiError, ApiResult};
use crate::State;

/// Whether the app's certificate is ordered by the platform, and the last failure.
pub async fn status(state: &State, caller: &Caller, name: &str) -> ApiResult<AcmeStatus> {
    let mut conn = state.db.pool.acquire().await?;
    let app = app_for(&mut conn, caller, name, Need::Collaborate).await?;
    let (enabled, last_error) = db::acme::app_acme_get(&mut conn, app.id).await?;
    Ok(AcmeStatus { enabled, last_error })
}

/// Turns `certs:auto` on and orders the certificate now.
pub async fn enable(state: &State, caller: &Caller, name: &str) -> ApiResult<Certificate> {
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let wanted = wanted_names(state, &app).await?;
    let uploaded = {
        let mut conn = state.db.pool.acquire().await?;
        certs::with_hosts(&mut conn, app.id)
            .await?
            .into_iter()
            .filter(|(row, _)| row.auto == 0)
            .flat_map(|(_, hosts)| hosts)
            .filter(|host| wanted.contains(host))
            .collect::<Vec<_>>()
    };
    if let Some(host) = uploaded.first() {
        return Err(ApiError::conflict(format!("{host} has an uploaded certificate")).with_hint(format!(
            "remove it with `paas certs:remove {host} -a {name}`, then run `paas certs:auto -a {name}` again"
        )));
    }
    let mut tx = state.db.begin_write().await?;
    db::acme::app_acme_update(&mut tx, app.id, true).await?;
    db::events::event_insert(&mut tx, &caller.username, "cert.auto", Some(name), "on").await?;
    tx.commit().await?;
    order(state, &app, &wanted, &caller.username).await.map_err(|e| {
        e.with_hint(format!(
            "the ACME server must reach http://{}/.well-known/acme-challenge/ on port 80 of this platform's router; \
             `paas certs -a {name}` shows the last error, and the platform tries again every hour",
            wanted.first().map_or("", String::as_str)
        ))
    })
}

/// Turns `certs:auto` off. The current certificate stays until it expires or is
/// removed.
pub async fn disable(state: &State, caller: &Caller, name: &str) -> ApiResult<()> {
    let app = find_app(state, caller, name, Need::Collaborate).await?;
    let mut tx = state.db.begin_write().await?;
    db::acme::app_acme_update(&mut tx, app.id, false).await?;
    db::events::event_insert(&mut tx, &caller.username, "cert.auto", Some(name), "off").await?;
    tx.commit().await?;
    Ok(())
}

/// The key authorization that answers an HTTP-01 challenge `token`, while an order is
/// being validated. Public, as the protocol wants.
pub async fn challenge(state: &State, token: &str) -> ApiResult<String> {
    let mut conn = state.db.pool.acquire().await?;
    db::acme::challenge_get(&mut conn, token).await?.ok_or_else(|| ApiError::not_found("no such challenge"))
}

/// Orders again every certificate that is due; failures are recorded on their apps.
pub async fn renew_due(state: &State) {
    let names = {
        let result = async {
            let mut conn = state.db.pool.acquire().await?;
            db::acme::app_acme_list(&mut conn).await
        };
        match result.await {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the apps with certs:auto");
                return;
            }
        }
    };
    for name in names {
        if let Err(e) = renew_app(state, &name).await {
            tracing::warn!(app = %name, error = %e, "certs:auto: the order failed");
        }
    }
}

async fn renew_app(state: &State, name: &str) -> ApiResult<()> {
    let app = {
        let mut conn = state.db.pool.acquire().await?;
        db::apps::app_by_name(&mut conn, name).await?
    };
    let Some(app) = app else { return Ok(()) };
    let wanted = wanted_names(state, &app).await?;
    let current = current_auto(state, app.id).await?;
    let due = crate::acme::renewal_due(
        current.as_ref().map(|(not_after, names)| (*not_after, names.as_slice())),
        &wanted,
        db::now_ms(),
    );
    if due {
        order(state, &app, &wanted, "paas").await?;
    }
    Ok(())
}

/// Runs [`renew_due`] at start and every check interval until `stop` resolves.
pub async fn run_renewals(state: Arc<State>, stop: impl std::future::Future<Output = ()>) {
    let mut stop = std::pin::pin!(stop);
    let mut ticks = tokio::time::interval(state.acme.config().check_interval);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticks.tick() => renew_due(&state).await,
        }
    }
}

/// The names a certificate of the app should cover: its domains but wildcard ones.
async fn wanted_names(state: &State, app: &AppRow) -> ApiResult<Vec<String>> {
    let mut conn = state.db.pool.acquire().await?;
    let domains = super::domains::domains_of(&mut conn, state, app).await?;
    Ok(domains.into_iter().map(|d| d.hostname).filter(|h| !h.starts_with("*.")).collect())
}

/// The app's ACME certificate: its expiry and names.
async fn current_auto(state: &State, app_id: i64) -> ApiResult<Option<(i64, Vec<String>)>> {
    let mut conn = state.db.pool.acquire().await?;
    let certificates = certs::with_hosts(&mut conn, app_id).await?;
    Ok(certificates
        .into_iter()
        .rev()
        .find(|(row, _)| row.auto != 0)
        .map(|(row, names)| (row.not_after, names)))
}

/// Orders a certificate for `wanted` and puts it in place of the app's previous ACME
/// one; a failure is recorded on the app.
async fn order(state: &State, app: &AppRow, wanted: &[String], by: &str) -> ApiResult<Certificate> {
    let issued = match state.acme.issue(&state.db, app.id, wanted).await {
        Ok(issued) => issued,
        Err(e) => {
            let message = e.to_string();
            let mut conn = state.db.pool.acquire().await?;
            db::acme::app_acme_error_update(&mut conn, app.id, Some(&message)).await?;
            return Err(match e {
                crate::acme::AcmeError::Store(e) => e.into(),
                _ => ApiError::new(crate::error::ErrorKind::Unavailable, message),
            });
        }
    };
    let now = db::now_ms();
    let parsed = certs::parse_upload(&issued.chain_pem, &issued.key_pem, now).map_err(|refusal| {
        ApiError::new(
            crate::error::ErrorKind::Unavailable,
            format!("the ACME server's certificate is unusable: {refusal}"),
        )
    })?;
    let mut tx = state.db.begin_write().await?;
    let previous = db::certs::certificate_list_for_app(&mut tx, app.id).await?;
    for row in previous.iter().filter(|r| r.auto != 0) {
        db::certs::certificate_delete(&mut tx, app.id, row.id).await?;
    }
    let row = certs::store(&mut tx, app.id, &app.name, &parsed, by, true).await?;
    db::acme::app_acme_error_update(&mut tx, app.id, None).await?;
    let names: Vec<String> = parsed.hostnames.iter().map(|h| h.to_string()).collect();
    let detail = format!("issued {} ({})", names.join(" "), parsed.fingerprint);
    db::events::event_insert(&mut tx, by, "cert.auto", Some(&app.name), &detail).await?;
    tx.commit().await?;
    super::routes_changed(state).await;
    tracing::info!(app = %app.name, names = %names.join(" "), "certs:auto: a certificate was issued");
    Ok(certs::view(row, names, now))
}
