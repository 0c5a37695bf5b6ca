//! Who may get which actions on which repositories.
//!
//! The token endpoint asks an [`Authorizer`]; the controller will plug in one backed by
//! its users and apps. [`StaticCredentials`] is the table of the platform's service
//! principals: `builder` may push and pull every repository, `node` may pull every
//! repository. A token grants only what was both requested and allowed.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use subtle::ConstantTimeEq;

use crate::scope::Scope;

/// A future returned by an [`Authorizer`].
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<Grant, AuthError>> + Send + 'a>>;

/// Why credentials were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No such user, or the wrong secret: the client should ask for credentials again.
    #[error("unknown user or wrong secret")]
    Unauthenticated,
    /// The authorizer could not decide (its database is down, say).
    #[error("cannot check credentials: {0}")]
    Unavailable(String),
}

/// A username and password from HTTP basic authentication. The password is never
/// shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// What an authenticated client gets: its name (the token's `sub`) and the scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Who the token is for.
    pub subject: String,
    /// The scopes granted; scopes with no granted action are left out.
    pub access: Vec<Scope>,
}

/// Decides who may get which actions. Implementations must reject unknown credentials
/// with [`AuthError::Unauthenticated`] and grant nothing beyond `requested`.
pub trait Authorizer: Send + Sync + 'static {
    /// Checks `credentials` and answers the subset of `requested` they may have.
    fn authorize<'a>(&'a self, credentials: &'a Credentials, requested: &'a [Scope]) -> AuthFuture<'a>;
}

/// What a service principal may do on every repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Pushes built images and pulls them back: `pull`, `push`.
    Builder,
    /// Runs containers: `pull`.
    Node,
}

impl Role {
    /// The repository actions of the role.
    pub fn repository_actions(self) -> &'static [&'static str] {
        match self {
            Role::Builder => &["pull", "push"],
            Role::Node => &["pull"],
        }
    }
}

/// A principal of the static table.
#[derive(Clone)]
struct Principal {
    username: String,
    secret: String,
    role: Role,
}

/// The static credential table: the platform's own principals, secrets from config.
#[derive(Clone, Default)]
pub struct StaticCredentials {
    principals: Vec<Principal>,
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.principals.iter().map(|p| (&p.username, p.role))).finish()
    }
}

impl StaticCredentials {
    /// The table with `builder` and `node` and their secrets.
    pub fn new(builder_secret: impl Into<String>, node_secret: impl Into<String>) -> Self {
        Self::default().with("builder", builder_secret, Role::Builder).with("node", node_secret, Role::Node)
    }

    /// Adds a principal.
    pub fn with(mut self, username: impl Into<String>, secret: impl Into<String>, role: Role) -> Self {
        self.principals.push(Principal { username: username.into(), secret: secret.into(), role });
        self
    }

    /// The role of these credentials, comparing every secret in constant time.
    fn role_of(&self, credentials: &Credentials) -> Option<Role> {
        let mut found = None;
        for p in &self.principals {
            let name = p.username.as_bytes().ct_eq(credentials.username.as_bytes());
            let secret = p.secret.as_bytes().ct_eq(credentials.password.as_bytes());
            if bool::from(name & secret) && !p.secret.is_empty() {
                found = Some(p.role);
            }
        }
        found
    }
}

/// The scopes of `requested` narrowed to the repository actions in `allowed`; other
/// resource types and scopes left with no action are dropped.
pub fn grant(requested: &[Scope], allowed: &[&str]) -> Vec<Scope> {
    requested
        .iter()
        .filter(|s| s.is_repository())
        .filter_map(|s| {
            let actions: BTreeSet<String> =
                s.actions.iter().filter(|a| allowed.contains(&a.as_str())).cloned().collect();
            (!actions.is_empty()).then(|| Scope { actions, ..s.clone() })
        })
        .collect()
}

impl Authorizer for StaticCredentials {
    fn authorize<'a>(&'a self, credentials: &'a Credentials, requested: &'a [Scope]) -> AuthFuture<'a> {
        let result = match self.role_of(credentials) {
            Some(role) => Ok(Grant {
                subject: credentials.username.clone(),
                access: grant(requested, role.repository_actions()),
            }),
            None => Err(AuthError::Unauthenticated),
        };
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[&str]) -> Vec<Scope> {
        list.iter().map(|s| Scope::parse(s).unwrap()).collect()
    }

    fn creds(username: &str, password: &str) -> Credentials {
        Credentials { username: username.into(), password: password.into() }
    }

    fn shown(grant: &Grant) -> Vec<String> {
        grant.access.iter().map(ToString::to_string).collect()
    }

    #[tokio::test]
    async fn the_builder_pushes_and_pulls() {
        let table = StaticCredentials::new("b-secret", "n-secret");
        let requested = scopes(&["repository:team/app:pull,push", "repository:other:pull,delete"]);
        let grant = table.authorize(&creds("builder", "b-secret"), &requested).await.unwrap();
        assert_eq!(grant.subject, "builder");
        assert_eq!(shown(&grant), ["repository:team/app:pull,push", "repository:other:pull"]);
    }

    #[tokio::test]
    async fn a_node_only_pulls() {
        let table = StaticCredentials::new("b-secret", "n-secret");
        let requested = scopes(&["repository:team/app:pull,push", "repository:x:push", "registry:catalog:*"]);
        let grant = table.authorize(&creds("node", "n-secret"), &requested).await.unwrap();
        assert_eq!(shown(&grant), ["repository:team/app:pull"]);
    }

    #[tokio::test]
    async fn nothing_requested_nothing_granted() {
        let table = StaticCredentials::new("b-secret", "n-secret");
        let grant = table.authorize(&creds("builder", "b-secret"), &[]).await.unwrap();
        assert!(grant.access.is_empty());
    }

    #[tokio::test]
    async fn refuses_unknown_credentials() {
        let table = StaticCredentials::new("b-secret", "n-secret");
        for (user, password) in
            [("builder", "n-secret"), ("node", "b-secret"), ("root", "b-secret"), ("builder", "")]
        {
            let result = table.authorize(&creds(user, password), &[]).await;
            assert_eq!(result, Err(AuthError::Unauthenticated), "{user}");
        }
        let empty = StaticCredentials::new("", "");
        assert_eq!(empty.authorize(&creds("node", ""), &[]).await, Err(AuthError::Unauthenticated));
    }

    #[test]
    fn debug_hides_secrets() {
        let shown = format!("{:?} {:?}", StaticCredentials::new("b-secret", "n"), creds("a", "p-secret"));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
