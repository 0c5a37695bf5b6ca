//! Names users choose: apps, process types, users; and passwords.

use serde::Deserialize;

use crate::parse::{string_newtype, ParseError};

/// Names no app may take: they are the platform's own host names under the domain.
pub const RESERVED_APP_NAMES: [&str; 4] = ["paas", "git", "registry", "www"];

/// The name of an app: `^[a-z][a-z0-9-]{1,29}$`, not reserved. It is also a DNS label
/// (`<app>.<domain>`) and part of container and repository names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct AppName(String);
string_newtype!(AppName);

impl AppName {
    /// Parses an app name.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "app name";
        if s.len() < 2 || s.len() > 30 {
            return Err(ParseError::shown(WHAT, s, "must be 2 to 30 characters long"));
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(ParseError::shown(WHAT, s, "must start with a lowercase letter"));
        }
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(ParseError::shown(WHAT, s, "may contain only lowercase letters, digits and '-'"));
        }
        if s.ends_with('-') {
            return Err(ParseError::shown(WHAT, s, "must not end with '-'"));
        }
        if RESERVED_APP_NAMES.contains(&s) {
            return Err(ParseError::shown(WHAT, s, "is reserved by the platform"));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A process type of a Procfile (`web`, `worker`, `release`): `^[a-z][a-z0-9_-]{0,29}$`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct ProcessType(String);
string_newtype!(ProcessType);

impl ProcessType {
    /// Parses a process type.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "process type";
        if s.is_empty() || s.len() > 30 {
            return Err(ParseError::shown(WHAT, s, "must be 1 to 30 characters long"));
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(ParseError::shown(WHAT, s, "must start with a lowercase letter"));
        }
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err(ParseError::shown(
                WHAT,
                s,
                "may contain only lowercase letters, digits, '-' and '_'",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The process type that receives HTTP traffic.
    pub fn web() -> Self {
        Self("web".to_owned())
    }

    /// Whether this is the routed `web` type.
    pub fn is_web(&self) -> bool {
        self.0 == "web"
    }
}

/// A user's login name: 2 to 64 characters, lowercase letters, digits and `. _ - @ +`,
/// starting with a letter or digit (so an e-mail address works).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Username(String);
string_newtype!(Username);

impl Username {
    /// Parses a username.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "username";
        if s.len() < 2 || s.len() > 64 {
            return Err(ParseError::shown(WHAT, s, "must be 2 to 64 characters long"));
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err(ParseError::shown(WHAT, s, "must start with a lowercase letter or a digit"));
        }
        if !s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+')
        }) {
            return Err(ParseError::shown(
                WHAT,
                s,
                "may contain only lowercase letters, digits and . _ - @ +",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A password as typed by its user: 8 to 1024 bytes. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Password(String);

impl Password {
    /// Parses a password.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.chars().count() < 8 {
            return Err(ParseError::hidden("password", "must be at least 8 characters long"));
        }
        if s.len() > 1024 {
            return Err(ParseError::hidden("password", "must be at most 1024 bytes long"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The secret itself, for hashing or sending.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Password {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn app_names() {
        for ok in ["ab", "hello", "my-app-2", "a1"] {
            assert_eq!(AppName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "a", "Hello", "1app", "-app", "app-", "my_app", "paas", "www", "git", "registry"] {
            assert!(AppName::parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(AppName::parse(&"a".repeat(31)).is_err());
        assert!(AppName::parse(&"a".repeat(30)).is_ok());
    }

    #[test]
    fn errors_say_what_and_why() {
        let err = AppName::parse("Hello").unwrap_err();
        assert_eq!(err.to_string(), r#"invalid app name "Hello": must start with a lowercase letter"#);
    }

    #[test]
    fn password_debug_is_redacted() {
        let p = Password::parse("correct horse").unwrap();
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        assert!(!Password::parse("short").unwrap_err().to_string().contains("short"));
    }

    proptest! {
        #[test]
        fn app_name_accepts_exactly_the_pattern(s in "\\PC{0,40}") {
            let by_rule = s.len() >= 2 && s.len() <= 30
                && s.starts_with(|c: char| c.is_ascii_lowercase())
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !s.ends_with('-')
                && !RESERVED_APP_NAMES.contains(&s.as_str());
            prop_assert_eq!(AppName::parse(&s).is_ok(), by_rule);
        }

        #[test]
        fn valid_app_names_round_trip(s in "[a-z][a-z0-9-]{0,28}[a-z0-9]") {
            prop_assume!(!RESERVED_APP_NAMES.contains(&s.as_str()));
            let name = AppName::parse(&s).unwrap();
            let json = serde_json::to_string(&name).unwrap();
            prop_assert_eq!(serde_json::from_str::<AppName>(&json).unwrap(), name);
        }

        #[test]
        fn process_types_never_panic_and_round_trip(s in "\\PC{0,40}") {
            if let Ok(t) = ProcessType::parse(&s) {
                prop_assert_eq!(t.as_str(), s.as_str());
                prop_assert!(t.as_str().len() <= 30);
            }
        }

        #[test]
        fn usernames_round_trip(s in "[a-z0-9][a-z0-9._@+-]{1,63}") {
            let parsed = Username::parse(&s).unwrap();
            prop_assert_eq!(parsed.as_str(), s.as_str());
        }

        #[test]
        fn usernames_refuse_uppercase(s in "[a-z0-9]{1,10}[A-Z][a-z]{0,10}") {
            prop_assert!(Username::parse(&s).is_err());
        }
    }
}
