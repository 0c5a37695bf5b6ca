//! Who may push to which app. Git sends HTTP basic credentials whose password is a
//! `paas` API token; a [`PushAuthorizer`] decides. The controller's users plug in here
//! later; [`StaticTokens`] serves tests and a single-user setup.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use base64::Engine;
use paas_core::AppName;
use subtle::ConstantTimeEq;

/// HTTP basic credentials. The password never appears in `Debug` output or logs.
#[derive(Clone)]
pub struct Credentials {
    /// The user name git sent (may be anything; the token says who it is).
    pub username: String,
    password: String,
}

impl Credentials {
    /// Credentials from their parts.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self { username: username.into(), password: password.into() }
    }

    /// Reads an `Authorization: Basic ...` header value; `None` when it is another
    /// scheme or malformed.
    pub fn from_header(value: &[u8]) -> Option<Self> {
        let value = std::str::from_utf8(value).ok()?.trim();
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (username, password) = decoded.split_once(':')?;
        Some(Self::new(username, password))
    }

    /// The password (an API token).
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What an authorizer says about a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The credentials are good and name someone who may push to the app: `pusher`,
    /// the name releases record.
    Allowed {
        /// Who pushes.
        pusher: String,
    },
    /// The credentials are not accepted: HTTP 401, git asks again.
    Denied,
    /// No such app, or the user may not see it: HTTP 404 (the two look alike, so app
    /// names do not leak).
    UnknownApp,
}

/// The authorizer could not answer (say, the controller is away): HTTP 503.
#[derive(Debug, thiserror::Error)]
#[error("cannot check the credentials: {0}")]
pub struct AuthUnavailable(pub String);

/// A boxed future, so the traits stay object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Decides who may push to which app.
pub trait PushAuthorizer: Send + Sync + 'static {
    /// Whether `credentials` may push to `app`.
    fn authorize<'a>(
        &'a self,
        credentials: &'a Credentials,
        app: &'a AppName,
    ) -> BoxFuture<'a, Result<Access, AuthUnavailable>>;
}

/// A fixed map of token -> apps it may push to; the user name is ignored. Tokens are
/// compared in constant time.
#[derive(Default, Clone)]
pub struct StaticTokens {
    tokens: Vec<(String, HashSet<AppName>)>,
    apps: HashSet<AppName>,
}

impl StaticTokens {
    /// No tokens, no apps.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `token` push to `apps` (which thereby exist).
    pub fn allow(mut self, token: impl Into<String>, apps: impl IntoIterator<Item = AppName>) -> Self {
        let apps: HashSet<AppName> = apps.into_iter().collect();
        self.apps.extend(apps.iter().cloned());
        self.tokens.push((token.into(), apps));
        self
    }

    /// Makes `app` exist without letting anyone push to it.
    pub fn with_app(mut self, app: AppName) -> Self {
        self.apps.insert(app);
        self
    }

    fn decide(&self, credentials: &Credentials, app: &AppName) -> Access {
        let mut allowed: Option<&HashSet<AppName>> = None;
        for (token, apps) in &self.tokens {
            // Every token is compared, so the time taken does not tell which matched.
            if bool::from(token.as_bytes().ct_eq(credentials.password().as_bytes())) {
                allowed = Some(apps);
            }
        }
        match allowed {
            None => Access::Denied,
            Some(apps) if apps.contains(app) && self.apps.contains(app) => {
                Access::Allowed { pusher: credentials.username.clone() }
            }
            Some(_) => Access::UnknownApp,
        }
    }
}

impl fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTokens").field("tokens", &self.tokens.len()).field("apps", &self.apps).finish()
    }
}

impl PushAuthorizer for StaticTokens {
    fn authorize<'a>(
        &'a self,
        credentials: &'a Credentials,
        app: &'a AppName,
    ) -> BoxFuture<'a, Result<Access, AuthUnavailable>> {
        Box::pin(async move { Ok(self.decide(credentials, app)) })
    }
}

/// Parses `token:app1,app2 token2:app3` (the binary's stop-gap until the controller
/// answers) into a [`StaticTokens`].
pub fn parse_static_tokens(spec: &str) -> Result<StaticTokens, String> {
    let mut tokens = StaticTokens::new();
    let mut seen = HashMap::new();
    for entry in spec.split_whitespace() {
        let (token, apps) = entry.split_once(':').ok_or("each entry is `token:app1,app2`")?;
        if token.is_empty() {
            return Err("an entry has an empty token".into());
        }
        if seen.insert(token.to_owned(), ()).is_some() {
            return Err("a token is listed twice".into());
        }
        let apps = apps
            .split(',')
            .filter(|a| !a.is_empty())
            .map(|a| AppName::parse(a).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        tokens = tokens.allow(token, apps);
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(s: &str) -> AppName {
        AppName::parse(s).unwrap()
    }

    #[test]
    fn reads_basic_credentials() {
        let c = Credentials::from_header(b"Basic dXNlcjpzZWNyZXQ6eA==").unwrap();
        assert_eq!((c.username.as_str(), c.password()), ("user", "secret:x"));
        assert!(Credentials::from_header(b"Bearer abc").is_none());
        assert!(Credentials::from_header(b"Basic !!!").is_none());
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn static_tokens_decide() {
        let tokens = StaticTokens::new().allow("t1", [app("hello")]).with_app(app("other"));
        let creds = |p: &str| Credentials::new("anyone", p);
        assert!(matches!(tokens.decide(&creds("t1"), &app("hello")), Access::Allowed { .. }));
        assert_eq!(tokens.decide(&creds("t1"), &app("other")), Access::UnknownApp);
        assert_eq!(tokens.decide(&creds("t1"), &app("nope")), Access::UnknownApp);
        assert_eq!(tokens.decide(&creds("t2"), &app("hello")), Access::Denied);
        assert_eq!(tokens.decide(&creds(""), &app("hello")), Access::Denied);
    }

    #[test]
    fn parses_the_static_spec() {
        let tokens = parse_static_tokens("abc:hello,world xyz:").unwrap();
        assert_eq!(
            tokens.decide(&Credentials::new("u", "abc"), &app("world")),
            Access::Allowed { pusher: "u".into() }
        );
        assert!(parse_static_tokens("abc").is_err());
        assert!(parse_static_tokens("abc:Bad").is_err());
    }
}
