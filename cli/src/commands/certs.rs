//! `certs`, `certs:add`, `certs:remove`, `certs:auto`, `certs:auto:disable`,
//! `tls:enforce`.

use std::path::Path;

use paas_core::api::{AcmeStatus, Certificate, CertificateCreate, TlsSettings, CERT_EXPIRY_WARNING_DAYS};

use super::Ctx;
use crate::client::decode;
use crate::error::CliError;
use crate::output::{self, Step};
use crate::views;

/// `paas certs`: a table on stdout (or `--json`), and a `warning:` on stderr for each
/// certificate with fewer than 30 days left.
pub(super) fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let value = ctx.api()?.get(&format!("/apps/{app}/certs"))?;
    let certs: Vec<Certificate> = decode(value.clone())?;
    for cert in certs.iter().filter(|c| c.expiring_soon) {
        output::say(expiry_warning(cert));
    }
    let auto: AcmeStatus = decode(ctx.api()?.get(&format!("/apps/{app}/certs/auto"))?)?;
    if let Some(error) = auto.last_error.filter(|_| auto.enabled) {
        output::say(format!("warning: certs:auto: the last order failed: {error}"));
    }
    ctx.show(value, |certs: Vec<Certificate>| {
        output::say(format!("=== {app} Certificates"));
        output::data(&views::certs(&certs))
    })
}

/// The warning for a certificate that expires within [`CERT_EXPIRY_WARNING_DAYS`].
fn expiry_warning(cert: &Certificate) -> String {
    let names = cert.hostnames.join(", ");
    match cert.days_left {
        days if days < 0 => format!("warning: the certificate for {names} expired on {}", cert.not_after),
        days => format!(
            "warning: the certificate for {names} expires in {days} day{} ({}; fewer than {CERT_EXPIRY_WARNING_DAYS})",
            if days == 1 { "" } else { "s" },
            cert.not_after
        ),
    }
}

fn read_pem(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        CliError::new(format!("cannot read the {what} {}: {e}", path.display()))
            .hint("pass the certificate file, then the key file: paas certs:add CERT_FILE KEY_FILE")
            .into()
    })
}

/// `paas certs:add CERT_FILE KEY_FILE`.
pub(super) fn add(ctx: &Ctx, cert_file: &Path, key_file: &Path) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let request =
        CertificateCreate { chain: read_pem(cert_file, "certificate")?, key: read_pem(key_file, "key")? };
    let api = ctx.api()?;
    let step = Step::start(format!("Adding the certificate to {app}"));
    let cert: Certificate = api.post_as(&format!("/apps/{app}/certs"), &request)?;
    step.done(format!(", {} (expires {})", cert.hostnames.join(", "), cert.not_after));
    if cert.expiring_soon {
        output::say(expiry_warning(&cert));
    }
    Ok(())
}

/// `paas certs:remove HOSTNAME`.
pub(super) fn remove(ctx: &Ctx, which: &str) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let api = ctx.api()?;
    let step = Step::start(format!("Removing the certificate for {which} from {app}"));
    api.delete(&format!("/apps/{app}/certs/{which}"))?;
    step.done("");
    Ok(())
}

/// `paas certs:auto`: on, and the certificate ordered now.
pub(super) fn auto(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let api = ctx.api()?;
    let step = Step::start(format!("Ordering a certificate for {app} from the ACME server"));
    let cert: Certificate = api.post_as(&format!("/apps/{app}/certs/auto"), &serde_json::json!({}))?;
    step.done(format!(
        ", {} (expires {}; renewed 30 days before)",
        cert.hostnames.join(", "),
        cert.not_after
    ));
    Ok(())
}

/// `paas certs:auto:disable`.
pub(super) fn auto_disable(ctx: &Ctx) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let api = ctx.api()?;
    let step = Step::start(format!("Turning certs:auto off for {app}"));
    api.delete(&format!("/apps/{app}/certs/auto"))?;
    step.done(" (the current certificate stays)");
    Ok(())
}

/// `paas tls:enforce [--off]`.
pub(super) fn enforce(ctx: &Ctx, off: bool) -> anyhow::Result<()> {
    let app = ctx.app()?;
    let api = ctx.api()?;
    let what = if off {
        format!("Letting {app} answer plain HTTP again")
    } else {
        format!("Redirecting {app}'s plain HTTP to HTTPS, with HSTS")
    };
    let step = Step::start(what);
    let _: TlsSettings = api.put_as(&format!("/apps/{app}/tls"), &TlsSettings { enforce: !off })?;
    step.done("");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(days_left: i64) -> Certificate {
        Certificate {
            id: 1,
            hostnames: vec!["shop.example.com".into(), "www.example.com".into()],
            issuer: "CN=test".into(),
            not_before: "2026-01-01T00:00:00.000Z".into(),
            not_after: "2026-02-01T00:00:00.000Z".into(),
            days_left,
            expiring_soon: days_left < 30,
            fingerprint_sha256: "AB:CD".into(),
            added_by: "ann".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            auto: false,
        }
    }

    #[test]
    fn warnings_name_the_hosts_and_the_days() {
        assert_eq!(
            expiry_warning(&cert(12)),
            "warning: the certificate for shop.example.com, www.example.com expires in 12 days \
             (2026-02-01T00:00:00.000Z; fewer than 30)"
        );
        assert_eq!(
            expiry_warning(&cert(-1)),
            "warning: the certificate for shop.example.com, www.example.com expired on 2026-02-01T00:00:00.000Z"
        );
    }
}
