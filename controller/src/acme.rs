//! Certificates from an ACME server (RFC 8555) by HTTP-01, for `paas certs:auto`.
//!
//! [`Issuer::issue`] orders one certificate for an app's host names: it finds or makes
//! the platform's account on the configured directory (credentials kept in the store),
//! puts each challenge's key authorization in the store, where
//! `GET /.well-known/acme-challenge/<token>` answers it (the routers send that path of
//! every app host to the controller), tells the server the challenges are ready, waits
//! for the order, and finalizes it with a CSR for a fresh ECDSA P-256 key. The chain and
//! key come back PEM; the caller stores them as any certificate and the routes carry
//! them to the routers.
//!
//! [`renewal_due`] (pure: the time comes in) says when a certificate is ordered again:
//! when there is none, when it leaves fewer than [`RENEW_BEFORE_DAYS`] days, or when
//! the app's host names are no longer the ones it covers.
//!
//! One order runs at a time per controller. Account credentials and keys are never
//! logged nor put in an error.

use std::path::PathBuf;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder,
    OrderStatus, RetryPolicy,
};

use crate::db::{self, Db};

/// A certificate is ordered again this many days before it expires.
pub const RENEW_BEFORE_DAYS: i64 = 30;
/// Let's Encrypt's production directory: the default.
pub const LETS_ENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// How long an order may take to become ready, then to give its certificate.
const ORDER_TIMEOUT: Duration = Duration::from_secs(90);
const MS_PER_DAY: i64 = 24 * 3600 * 1000;

/// Where certificates are ordered.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The ACME directory URL.
    pub directory_url: String,
    /// A PEM file with the root certificate the ACME server's own HTTPS chains to, when
    /// that is not a publicly trusted one (a test CA such as Pebble's); otherwise the
    /// system's roots are used.
    pub server_root: Option<PathBuf>,
    /// The account's contact address, `mailto:` added; none by default.
    pub contact: Option<String>,
    /// How often the renewer looks for certificates to order.
    pub check_interval: Duration,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        Self {
            directory_url: LETS_ENCRYPT_DIRECTORY.to_owned(),
            server_root: None,
            contact: None,
            check_interval: Duration::from_secs(3600),
        }
    }
}

/// Why an order failed, in words for the user: the ACME server's problem details, never
/// a credential.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The server refused a request or could not be reached.
    #[error("the ACME server at {directory} failed: {detail}")]
    Server {
        /// The directory URL.
        directory: String,
        /// What went wrong.
        detail: String,
    },
    /// A challenge or the order became invalid.
    #[error("the ACME server did not validate {names}: {detail}")]
    Invalid {
        /// The host names of the order.
        names: String,
        /// The server's reasons.
        detail: String,
    },
    /// The store failed.
    #[error("the store failed during an ACME order")]
    Store(#[from] sqlx::Error),
    /// Making the key or CSR failed.
    #[error("cannot make the certificate request: {0}")]
    Request(String),
}

/// A certificate as issued: the chain and its key, PEM. `Debug` leaves the key out.
pub struct Issued {
    /// The certificate, then its intermediates.
    pub chain_pem: String,
    /// The private key, PKCS#8.
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

/// Orders certificates from one ACME directory.
pub struct Issuer {
    config: AcmeConfig,
    /// The account, once found or made; the lock also keeps orders one at a time.
    account: tokio::sync::Mutex<Option<Account>>,
}

impl Issuer {
    /// An issuer for `config`; nothing is contacted until the first order.
    pub fn new(config: AcmeConfig) -> Self {
        Self { config, account: tokio::sync::Mutex::new(None) }
    }

    /// The configuration.
    pub fn config(&self) -> &AcmeConfig {
        &self.config
    }

    /// Orders a certificate for `names` (host names of app `app_id`, no wildcards),
    /// answering the challenges from the store meanwhile.
    pub async fn issue(&self, db: &Db, app_id: i64, names: &[String]) -> Result<Issued, AcmeError> {
        let mut slot = self.account.lock().await;
        let account = match &*slot {
            Some(account) => account.clone(),
            None => {
                let account = self.account(db).await?;
                *slot = Some(account.clone());
                account
            }
        };
        let result = self.order(db, &account, app_id, names).await;
        let mut conn = db.pool.acquire().await?;
        db::acme::challenge_delete_for_app(&mut conn, app_id).await?;
        result
    }

    fn server_error(&self, e: impl std::fmt::Display) -> AcmeError {
        AcmeError::Server { directory: self.config.directory_url.clone(), detail: e.to_string() }
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, AcmeError> {
        match &self.config.server_root {
            Some(root) => Account::builder_with_root(root).map_err(|e| AcmeError::Server {
                directory: self.config.directory_url.clone(),
                detail: format!("cannot use the server root {}: {e}", root.display()),
            }),
            None => Account::builder().map_err(|e| self.server_error(e)),
        }
    }

    /// The platform's account on the directory: restored from the store, or made and
    /// stored.
    async fn account(&self, db: &Db) -> Result<Account, AcmeError> {
        let directory = &self.config.directory_url;
        let stored = {
            let mut conn = db.pool.acquire().await?;
            db::acme::account_get(&mut conn, directory).await?
        };
        if let Some(stored) = stored {
            match serde_json::from_str::<AccountCredentials>(&stored) {
                Ok(credentials) => {
                    return self
                        .builder()?
                        .from_credentials(credentials)
                        .await
                        .map_err(|e| self.server_error(e))
                }
                Err(_) => {
                    tracing::warn!(%directory, "the stored ACME account is unreadable; making a new one")
                }
            }
        }
        let contact = self.config.contact.as_ref().map(|c| format!("mailto:{c}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let new =
            NewAccount { contact: &contacts, terms_of_service_agreed: true, only_return_existing: false };
        let (account, credentials) =
            self.builder()?.create(&new, directory.clone(), None).await.map_err(|e| self.server_error(e))?;
        let credentials = serde_json::to_string(&credentials).map_err(|e| self.server_error(e))?;
        let mut conn = db.pool.acquire().await?;
        // Another controller may have made one meanwhile; this one is as good.
        if let Err(e) = db::acme::account_insert(&mut conn, directory, &credentials).await {
            if !crate::error::is_unique_violation(&e) {
                return Err(e.into());
            }
        }
        tracing::info!(%directory, "made an ACME account");
        Ok(account)
    }

    async fn order(
        &self,
        db: &Db,
        account: &Account,
        app_id: i64,
        names: &[String],
    ) -> Result<Issued, AcmeError> {
        let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let mut order =
            account.new_order(&NewOrder::new(&identifiers)).await.map_err(|e| self.server_error(e))?;
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| self.server_error(e))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(AcmeError::Invalid {
                        names: names.join(" "),
                        detail: format!("an authorization is {other:?}"),
                    })
                }
            }
            let Some(mut challenge) = authz.challenge(ChallengeType::Http01) else {
                return Err(AcmeError::Invalid {
                    names: names.join(" "),
                    detail: "the server offers no http-01 challenge".into(),
                });
            };
            {
                let mut conn = db.pool.acquire().await?;
                db::acme::challenge_insert(
                    &mut conn,
                    &challenge.token,
                    challenge.key_authorization().as_str(),
                    app_id,
                )
                .await?;
            }
            challenge.set_ready().await.map_err(|e| self.server_error(e))?;
        }
        let retry = RetryPolicy::new().timeout(ORDER_TIMEOUT);
        let status = order.poll_ready(&retry).await.map_err(|e| self.server_error(e))?;
        if status != OrderStatus::Ready {
            return Err(AcmeError::Invalid {
                names: names.join(" "),
                detail: self.reasons(&mut order).await,
            });
        }
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| AcmeError::Request(e.to_string()))?;
        let params =
            rcgen::CertificateParams::new(names.to_vec()).map_err(|e| AcmeError::Request(e.to_string()))?;
        let csr = params.serialize_request(&key).map_err(|e| AcmeError::Request(e.to_string()))?;
        order.finalize_csr(csr.der()).await.map_err(|e| self.server_error(e))?;
        let chain_pem = order.poll_certificate(&retry).await.map_err(|e| self.server_error(e))?;
        Ok(Issued { chain_pem, key_pem: key.serialize_pem() })
    }

    /// What the server said about the failed challenges of an order.
    async fn reasons(&self, order: &mut instant_acme::Order) -> String {
        let mut reasons = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(Ok(mut authz)) = authorizations.next().await {
            let name = authz.identifier().to_string();
            if let Some(challenge) = authz.challenge(ChallengeType::Http01) {
                if let Some(problem) = &challenge.error {
                    reasons.push(format!("{name}: {}", problem.detail.as_deref().unwrap_or("invalid")));
                }
            }
        }
        match reasons.is_empty() {
            true => "the order became invalid".into(),
            false => reasons.join("; "),
        }
    }
}

/// Whether an app's certificate is ordered (again) at `now_ms`: `current` is the ACME
/// certificate it has (its expiry, Unix ms, and the names it covers), `wanted` the
/// names it should cover.
pub fn renewal_due(current: Option<(i64, &[String])>, wanted: &[String], now_ms: i64) -> bool {
    let Some((not_after, covered)) = current else { return !wanted.is_empty() };
    let mut covered: Vec<&String> = covered.iter().collect();
    let mut wanted: Vec<&String> = wanted.iter().collect();
    covered.sort();
    covered.dedup();
    wanted.sort();
    wanted.dedup();
    !wanted.is_empty() && (covered != wanted || not_after - now_ms < RENEW_BEFORE_DAYS * MS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = MS_PER_DAY;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_certificate_is_ordered_when_missing_near_expiry_or_for_other_names() {
        let now = 1_000 * DAY;
        let wanted = names(&["a.example.com", "b.example.com"]);
        assert!(renewal_due(None, &wanted, now));
        assert!(!renewal_due(None, &[], now));
        assert!(!renewal_due(Some((now + 60 * DAY, &wanted)), &wanted, now));
        assert!(!renewal_due(
            Some((now + 31 * DAY, &names(&["b.example.com", "a.example.com"]))),
            &wanted,
            now
        ));
        assert!(renewal_due(Some((now + 29 * DAY, &wanted)), &wanted, now));
        assert!(renewal_due(Some((now - DAY, &wanted)), &wanted, now));
        assert!(renewal_due(Some((now + 60 * DAY, &names(&["a.example.com"]))), &wanted, now));
        assert!(renewal_due(
            Some((now + 60 * DAY, &names(&["a.example.com", "b.example.com", "c.example.com"]))),
            &wanted,
            now
        ));
    }

    proptest! {
        #[test]
        fn renewal_follows_the_days_left(days_left in -400i64..400, extra in 0i64..DAY) {
            let now = 10_000 * DAY;
            let wanted = names(&["shop.example.com"]);
            let not_after = now + days_left * DAY + extra;
            prop_assert_eq!(
                renewal_due(Some((not_after, &wanted)), &wanted, now),
                not_after - now < RENEW_BEFORE_DAYS * DAY
            );
        }
    }
}
