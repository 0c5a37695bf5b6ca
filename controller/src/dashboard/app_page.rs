//! One app's page: releases as a timeline with "roll back to this", the formation with
//! a scale form per process type, processes with a restart button, config with values
//! hidden until revealed, domains with their certificates (issuer, expiry, days left;
//! those expiring within [`CERT_EXPIRY_WARNING_DAYS`] days marked), a live tail of the
//! logs (server-sent events), and recent events. Each form posts, calls one function
//! of [`crate::app`], and redirects back; a refused form shows the page again with the
//! error next to its field.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_ENCODING};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse, ResponseError};
use askama::Template;
use futures_util::StreamExt;
use paas_core::api::{
    Certificate, FormationUpdate, ProcessFormation, RestartRequest, RollbackRequest, CERT_EXPIRY_WARNING_DAYS,
};
use serde::Deserialize;

use super::error::DashError;
use super::session::Viewer;
use super::views::{self, duration, see_other, when, Nav};
use super::PREFIX;
use crate::app::{self, logs::LogsRequest, overview::AppPage};
use crate::error::{ApiError, ErrorKind};
use crate::State;

/// A release on the timeline.
pub struct ReleaseLine {
    version: u32,
    /// `build`, `config`, `rollback`, `failure` or `initial`.
    kind: &'static str,
    summary: String,
    by: String,
    at: String,
    status: String,
    failure: String,
    current: bool,
    can_roll_back: bool,
    error: Option<String>,
}

/// A process type with its scale form.
pub struct FormationLine {
    process_type: String,
    quantity: String,
    error: Option<String>,
}

/// A process.
pub struct ProcessLine {
    name: String,
    process_type: String,
    state: String,
    release: u32,
    restarts: u32,
    uptime: String,
}

/// A config var; its value only when revealed.
pub struct ConfigLine {
    key: String,
    value: Option<String>,
}

/// A domain, with the certificate uploaded for it.
pub struct DomainLine {
    hostname: String,
    kind: String,
    added: String,
    cert: Option<CertLine>,
}

/// A domain's certificate: who issued it and when it expires (never its key, which no
/// [`Certificate`] carries).
pub struct CertLine {
    issuer: String,
    /// `2026-11-18`.
    not_after: String,
    /// `12 days left`, `expires today` or `expired 3 days ago`.
    left: String,
    /// Fewer than [`CERT_EXPIRY_WARNING_DAYS`] days left (expired ones too).
    expiring_soon: bool,
    expired: bool,
}

impl CertLine {
    fn of(cert: &Certificate) -> CertLine {
        let days = cert.days_left;
        let left = match days {
            d if d < 0 => format!("expired {} day{} ago", -d, if d == -1 { "" } else { "s" }),
            0 => "expires today".to_owned(),
            1 => "1 day left".to_owned(),
            d => format!("{d} days left"),
        };
        CertLine {
            issuer: cert.issuer.clone(),
            not_after: cert.not_after.get(..10).unwrap_or(&cert.not_after).to_owned(),
            left,
            expiring_soon: cert.expiring_soon,
            expired: days < 0,
        }
    }
}

/// An event.
pub struct EventLine {
    at: String,
    actor: String,
    action: String,
    detail: String,
}

/// The page.
#[derive(Template)]
#[template(path = "app.html")]
pub struct AppPageView {
    nav: Option<Nav>,
    csrf: String,
    name: String,
    owner: String,
    url: String,
    git_url: String,
    status: &'static str,
    current: String,
    collaborators: Vec<String>,
    releases: Vec<ReleaseLine>,
    formation: Vec<FormationLine>,
    processes: Vec<ProcessLine>,
    restart_error: Option<String>,
    releases_error: Option<String>,
    config: Vec<ConfigLine>,
    config_release: u32,
    domains: Vec<DomainLine>,
    /// Host names whose certificate expires within the warning period, with the
    /// days left, for the line above the domains.
    expiring: Vec<String>,
    warning_days: i64,
    events: Vec<EventLine>,
}

/// Where a refused form's error goes.
#[derive(Debug, Clone)]
pub enum FormError {
    /// The scale form of a type.
    Scale { process_type: String, quantity: String, message: String },
    /// A release's roll-back button.
    Rollback { version: u32, message: String },
    /// The restart buttons.
    Restart { message: String },
}

fn release_kind(r: &paas_core::api::Release) -> &'static str {
    if r.status == "failed" {
        "failure"
    } else if r.summary.starts_with("Rollback") {
        "rollback"
    } else if r.summary.starts_with("Deploy") {
        "build"
    } else if r.summary.starts_with("Set ") || r.summary.starts_with("Unset ") {
        "config"
    } else {
        "initial"
    }
}

/// The page of `data`, with `revealed` config values shown and `error` next to its
/// form.
pub fn view(viewer: &Viewer, data: AppPage, revealed: &[String], error: Option<FormError>) -> AppPageView {
    let current = data.releases.iter().find(|r| r.current).map(|r| r.version);
    // A refused roll-back shows beside its release, or above the timeline when the
    // release is not listed.
    let releases_error = match &error {
        Some(FormError::Rollback { version, message })
            if !data.releases.iter().any(|r| r.version == *version) =>
        {
            Some(message.clone())
        }
        _ => None,
    };
    let releases = data
        .releases
        .iter()
        .map(|r| ReleaseLine {
            version: r.version,
            kind: release_kind(r),
            summary: r.summary.clone(),
            by: r.created_by.clone(),
            at: when(&r.created_at),
            status: r.status.clone(),
            failure: r.failure.clone().unwrap_or_default(),
            current: r.current,
            can_roll_back: !r.current && r.status != "failed",
            error: match &error {
                Some(FormError::Rollback { version, message }) if *version == r.version => {
                    Some(message.clone())
                }
                _ => None,
            },
        })
        .collect();
    let formation = data
        .info
        .formation
        .iter()
        .map(|f| match &error {
            Some(FormError::Scale { process_type, quantity, message }) if *process_type == f.process_type => {
                FormationLine {
                    process_type: f.process_type.clone(),
                    quantity: quantity.clone(),
                    error: Some(message.clone()),
                }
            }
            _ => FormationLine {
                process_type: f.process_type.clone(),
                quantity: f.quantity.to_string(),
                error: None,
            },
        })
        .collect();
    let processes = data
        .processes
        .into_iter()
        .map(|p| ProcessLine {
            uptime: p.uptime_secs.map(duration).unwrap_or_else(|| "-".into()),
            name: p.name,
            process_type: p.process_type,
            state: p.state,
            release: p.release,
            restarts: p.restarts,
        })
        .collect();
    let config = data
        .config
        .values
        .into_iter()
        .map(|(key, value)| {
            let shown = revealed.contains(&key);
            ConfigLine { value: shown.then_some(value), key }
        })
        .collect();
    AppPageView {
        nav: Nav::of(viewer),
        csrf: viewer.csrf.clone(),
        status: data.status.as_str(),
        current: current.map(|v| format!("v{v}")).unwrap_or_else(|| "-".into()),
        collaborators: data
            .info
            .collaborators
            .iter()
            .map(|c| format!("{} ({})", c.username, c.role))
            .collect(),
        releases,
        formation,
        processes,
        releases_error,
        restart_error: match error {
            Some(FormError::Restart { message }) => Some(message),
            _ => None,
        },
        config,
        config_release: data.config.release,
        domains: data
            .info
            .domains
            .iter()
            .map(|d| DomainLine {
                hostname: d.hostname.clone(),
                kind: d.kind.clone(),
                added: when(&d.created_at),
                cert: data.certs.iter().find(|c| c.hostnames.contains(&d.hostname)).map(CertLine::of),
            })
            .collect(),
        expiring: data
            .certs
            .iter()
            .filter(|c| c.expiring_soon)
            .map(|c| format!("{} ({})", c.hostnames.join(", "), CertLine::of(c).left))
            .collect(),
        warning_days: CERT_EXPIRY_WARNING_DAYS,
        events: data
            .events
            .into_iter()
            .map(|e| EventLine {
                at: when(&e.created_at),
                actor: e.actor,
                action: e.action,
                detail: e.detail,
            })
            .collect(),
        name: data.info.app.name,
        owner: data.info.app.owner,
        url: data.info.app.url,
        git_url: data.info.git_url,
    }
}

/// The page again with `error` next to its form, with the API's status.
async fn refused(
    state: &State,
    viewer: &Viewer,
    name: &str,
    status: StatusCode,
    error: FormError,
) -> Result<HttpResponse, DashError> {
    let data = app::overview::app_page(state, &viewer.caller, name).await?;
    Ok(views::html(status, &view(viewer, data, &[], Some(error))))
}

/// Whether an error belongs next to a field (the request was wrong, or conflicts with
/// the app's state) rather than on a page of its own. An app the user may not see is
/// a 404 all the same: [`refused`] reads the app's page first.
fn is_form_error(e: &ApiError) -> bool {
    matches!(e.kind, ErrorKind::InvalidRequest | ErrorKind::Conflict | ErrorKind::NotFound)
}

fn app_url(name: &str) -> String {
    format!("{PREFIX}/apps/{name}")
}

/// `GET /dashboard/apps/{app}`.
#[get("/apps/{app}")]
pub async fn page(
    state: web::Data<State>,
    viewer: Viewer,
    name: web::Path<String>,
) -> Result<HttpResponse, DashError> {
    let data = app::overview::app_page(&state, &viewer.caller, &name).await?;
    Ok(views::ok(&view(&viewer, data, &[], None)))
}

/// `POST /dashboard/apps/{app}/scale`.
#[derive(Debug, Deserialize)]
pub struct ScaleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "type")]
    process_type: String,
    #[serde(default)]
    quantity: String,
}

/// Scales one process type ([`app::formation::scale`]).
#[post("/apps/{app}/scale")]
pub async fn scale(
    state: web::Data<State>,
    viewer: Viewer,
    name: web::Path<String>,
    form: web::Form<ScaleForm>,
) -> Result<HttpResponse, DashError> {
    viewer.check_csrf(&form.csrf)?;
    let refuse = |message: String, status: StatusCode| {
        let error = FormError::Scale {
            process_type: form.process_type.clone(),
            quantity: form.quantity.clone(),
            message,
        };
        refused(&state, &viewer, &name, status, error)
    };
    let Ok(quantity) = form.quantity.trim().parse::<u32>() else {
        return refuse("the quantity must be a whole number, 0 or more".into(), StatusCode::BAD_REQUEST)
            .await;
    };
    let update = FormationUpdate {
        updates: vec![ProcessFormation { process_type: form.process_type.clone(), quantity }],
    };
    match app::formation::scale(&state, &viewer.caller, &name, update).await {
        Ok(_) => Ok(see_other(&app_url(&name))),
        Err(e) if is_form_error(&e) => refuse(e.message.clone(), e.status_code()).await,
        Err(e) => Err(e.into()),
    }
}

/// `POST /dashboard/apps/{app}/restart`: one type, or every type when `type` is empty.
#[derive(Debug, Deserialize)]
pub struct RestartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "type")]
    process_type: String,
}

/// Restarts processes ([`app::restart::restart`]).
#[post("/apps/{app}/restart")]
pub async fn restart(
    state: web::Data<State>,
    viewer: Viewer,
    name: web::Path<String>,
    form: web::Form<RestartForm>,
) -> Result<HttpResponse, DashError> {
    viewer.check_csrf(&form.csrf)?;
    let process_type = Some(form.process_type.trim().to_owned()).filter(|t| !t.is_empty());
    match app::restart::restart(&state, &viewer.caller, &name, RestartRequest { process_type }).await {
        Ok(_) => Ok(see_other(&app_url(&name))),
        Err(e) if is_form_error(&e) => {
            let status = e.status_code();
            refused(&state, &viewer, &name, status, FormError::Restart { message: e.message }).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /dashboard/apps/{app}/rollback`.
#[derive(Debug, Deserialize)]
pub struct RollbackForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: u32,
}

/// Rolls back to a release ([`app::releases::rollback`]).
#[post("/apps/{app}/rollback")]
pub async fn rollback(
    state: web::Data<State>,
    viewer: Viewer,
    name: web::Path<String>,
    form: web::Form<RollbackForm>,
) -> Result<HttpResponse, DashError> {
    viewer.check_csrf(&form.csrf)?;
    let request = RollbackRequest { version: Some(form.version) };
    match app::releases::rollback(&state, &viewer.caller, &name, request).await {
        Ok(_) => Ok(see_other(&app_url(&name))),
        Err(e) if is_form_error(&e) => {
            let (status, version) = (e.status_code(), form.version);
            refused(&state, &viewer, &name, status, FormError::Rollback { version, message: e.message }).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /dashboard/apps/{app}/config/reveal`.
#[derive(Debug, Deserialize)]
pub struct RevealForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
}

/// The page with one config value shown, for someone who may read the app's config
/// (the same [`app::config::get`] rule as `paas config`). Posted, so the value is in no
/// URL or history entry.
#[post("/apps/{app}/config/reveal")]
pub async fn reveal(
    state: web::Data<State>,
    viewer: Viewer,
    name: web::Path<String>,
    form: web::Form<RevealForm>,
) -> Result<HttpResponse, DashError> {
    viewer.check_csrf(&form.csrf)?;
    let data = app::overview::app_page(&state, &viewer.caller, &name).await?;
    Ok(views::ok(&view(&viewer, data, std::slice::from_ref(&form.key), None)))
}

/// The recent log lines, for browsers without JavaScript.
#[derive(Template)]
#[template(path = "logs.html")]
pub struct LogsPage {
    nav: Option<Nav>,
    name: String,
    lines: String,
    error: Option<String>,
}

/// How many lines the logs page and the start of the live tail show.
pub const LOG_LINES: i64 = 200;

/// `GET /dashboard/apps/{app}/logs`: the newest lines.
#[get("/apps/{app}/logs")]
pub async fn logs(
    state: web::Data<State>,
    viewer: Viewer,
    name: web::Path<String>,
) -> Result<HttpResponse, DashError> {
    let request = LogsRequest { lines: Some(LOG_LINES), ..LogsRequest::default() };
    let (lines, error) = match app::logs::logs(&state, &viewer.caller, &name, request).await {
        Ok(mut stream) => {
            let mut text = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
            (text, None)
        }
        Err(e) if e.kind == ErrorKind::Unavailable => (String::new(), Some(e.message)),
        Err(e) => return Err(e.into()),
    };
    Ok(views::ok(&LogsPage { nav: Nav::of(&viewer), name: name.into_inner(), lines, error }))
}

/// Server-sent events of `text`'s lines: `data: <line>` each.
pub fn sse_events(text: &str) -> String {
    text.lines().map(|line| format!("data: {}\n\n", line.trim_end_matches('\r'))).collect()
}

/// `GET /dashboard/apps/{app}/logs/stream`: the live tail as server-sent events (the
/// newest lines, then every new one). Without an engine, one `unavailable` event.
#[get("/apps/{app}/logs/stream")]
pub async fn log_stream(
    state: web::Data<State>,
    viewer: Viewer,
    name: web::Path<String>,
) -> Result<HttpResponse, DashError> {
    let request = LogsRequest { lines: Some(LOG_LINES), follow: true, ..LogsRequest::default() };
    let mut resp = HttpResponse::Ok();
    resp.content_type("text/event-stream")
        .insert_header((CACHE_CONTROL, "no-store"))
        // Compression would hold lines back in its buffer.
        .insert_header((CONTENT_ENCODING, "identity"));
    match app::logs::logs(&state, &viewer.caller, &name, request).await {
        Ok(stream) => {
            Ok(resp.streaming(stream.map(|chunk| {
                chunk.map(|bytes| web::Bytes::from(sse_events(&String::from_utf8_lossy(&bytes))))
            })))
        }
        Err(e) if e.kind == ErrorKind::Unavailable => {
            Ok(resp.body(format!("event: unavailable\ndata: {}\n\n", e.message.replace('\n', " "))))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(days_left: i64) -> Certificate {
        // From JSON, as the API answers, so fields added later with defaults need no
        // change here.
        serde_json::from_value(serde_json::json!({
            "id": 1,
            "hostnames": ["shop.example.com"],
            "issuer": "CN=Test CA",
            "not_before": "2026-01-01T00:00:00.000Z",
            "not_after": "2026-11-18T11:06:40.000Z",
            "days_left": days_left,
            "expiring_soon": days_left < CERT_EXPIRY_WARNING_DAYS,
            "fingerprint_sha256": "AB:CD",
            "added_by": "alice",
            "created_at": "2026-01-01T00:00:00.000Z",
        }))
        .unwrap()
    }

    #[test]
    fn certificates_show_their_expiry() {
        let far = CertLine::of(&cert(90));
        assert_eq!((far.not_after.as_str(), far.left.as_str()), ("2026-11-18", "90 days left"));
        assert!(!far.expiring_soon && !far.expired);
        assert_eq!(far.issuer, "CN=Test CA");
        let soon = CertLine::of(&cert(CERT_EXPIRY_WARNING_DAYS - 1));
        assert!(soon.expiring_soon && !soon.expired);
        assert!(!CertLine::of(&cert(CERT_EXPIRY_WARNING_DAYS)).expiring_soon);
        assert_eq!(CertLine::of(&cert(1)).left, "1 day left");
        assert_eq!(CertLine::of(&cert(0)).left, "expires today");
        let gone = CertLine::of(&cert(-3));
        assert!(gone.expired && gone.expiring_soon);
        assert_eq!(gone.left, "expired 3 days ago");
        assert_eq!(CertLine::of(&cert(-1)).left, "expired 1 day ago");
    }

    #[test]
    fn log_lines_become_events() {
        assert_eq!(sse_events("a\nb\r\n"), "data: a\n\ndata: b\n\n");
        assert_eq!(sse_events(""), "");
    }
}
