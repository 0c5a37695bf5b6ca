//! Scopes of the Docker registry token authentication spec: what a client asks for
//! (`repository:team/app:pull,push`) and what a token grants.
//!
//! A scope is `type:name:actions`. The name may itself hold colons (a registry host with
//! a port), so the type ends at the first colon and the actions start after the last.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

/// Why a scope cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Not `type:name:actions`.
    #[error("a scope is `type:name:actions`, got {0:?}")]
    Shape(String),
    /// A part holds a character the spec does not allow there.
    #[error("invalid character in the {part} of scope {scope:?}")]
    Character {
        /// `type`, `name` or `action`.
        part: &'static str,
        /// The scope as given.
        scope: String,
    },
}

/// One requested or granted scope: a resource and actions on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Scope {
    /// The resource type: `repository`, `registry`, ...
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The resource name: for a repository, `team/app`.
    pub name: String,
    /// The actions, without duplicates, in order: `pull`, `push`, `delete`, `*`.
    pub actions: BTreeSet<String>,
}

impl Scope {
    /// Reads one scope. Empty actions are dropped (`pull,` is `pull`).
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let shape = || ScopeError::Shape(s.to_owned());
        let (resource_type, rest) = s.split_once(':').ok_or_else(shape)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(shape)?;
        if resource_type.is_empty() || name.is_empty() {
            return Err(shape());
        }
        let bad = |part| ScopeError::Character { part, scope: s.to_owned() };
        if !resource_type.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad("type"));
        }
        if !name.bytes().all(is_name_byte) {
            return Err(bad("name"));
        }
        let actions: BTreeSet<String> =
            actions.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect();
        if !actions.iter().all(|a| a == "*" || a.bytes().all(|b| b.is_ascii_lowercase())) {
            return Err(bad("action"));
        }
        Ok(Self { resource_type: resource_type.to_owned(), name: name.to_owned(), actions })
    }

    /// Reads the `scope` parameters of a token request: each may hold several scopes
    /// separated by spaces. Scopes that cannot be read are skipped and logged: a client
    /// asking for something odd gets a token without it, as the spec wants.
    pub fn parse_all<'a>(params: impl IntoIterator<Item = &'a str>) -> Vec<Self> {
        params
            .into_iter()
            .flat_map(|p| p.split(' '))
            .filter(|s| !s.is_empty())
            .filter_map(|s| match Self::parse(s) {
                Ok(scope) => Some(scope),
                Err(e) => {
                    tracing::debug!(error = %e, "ignoring a requested scope");
                    None
                }
            })
            .collect()
    }

    /// Whether this is a scope on a repository.
    pub fn is_repository(&self) -> bool {
        self.resource_type == "repository"
    }
}

/// Lowercase letters, digits and the separators of repository names (`/`, `.`, `_`,
/// `-`), plus `:` for a host's port.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'/' | b'.' | b'_' | b'-' | b':')
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.resource_type, self.name)?;
        for (i, action) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(action)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn actions(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn reads_a_repository_scope() {
        let scope = Scope::parse("repository:team/app:push,pull").unwrap();
        assert_eq!(scope.resource_type, "repository");
        assert_eq!(scope.name, "team/app");
        assert_eq!(scope.actions, actions(&["pull", "push"]));
        assert!(scope.is_repository());
        assert_eq!(scope.to_string(), "repository:team/app:pull,push");
    }

    #[test]
    fn a_name_may_hold_a_port() {
        let scope = Scope::parse("repository:127.0.0.1:5000/app:pull").unwrap();
        assert_eq!(scope.name, "127.0.0.1:5000/app");
        assert_eq!(scope.actions, actions(&["pull"]));
    }

    #[test]
    fn refuses_malformed_scopes() {
        for bad in
            ["", "repository", "repository:app", ":app:pull", "repository::pull", "repository:App:pull"]
        {
            assert!(Scope::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            Scope::parse("repository:app:PULL"),
            Err(ScopeError::Character { part: "action", .. })
        ));
    }

    #[test]
    fn reads_several_scopes_and_skips_bad_ones() {
        let scopes =
            Scope::parse_all(["repository:a:pull repository:b:push", "nonsense", "registry:catalog:*"]);
        let shown: Vec<_> = scopes.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["repository:a:pull", "repository:b:push", "registry:catalog:*"]);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = Scope::parse(&s);
        }

        #[test]
        fn round_trips(
            resource_type in "[a-z]{1,12}",
            name in "[a-z0-9]{1,8}(/[a-z0-9._-]{1,8}){0,3}",
            actions in proptest::collection::btree_set("pull|push|delete|\\*", 0..4),
        ) {
            let scope = Scope { resource_type, name, actions };
            prop_assert_eq!(Scope::parse(&scope.to_string()), Ok(scope));
        }
    }
}
