//! Host names: the platform domain, app domains, custom domains.

use serde::Deserialize;

use crate::parse::{string_newtype, ParseError};
use crate::AppName;

/// A DNS host name, lowercased, without a trailing dot: labels of 1 to 63 letters,
/// digits and inner hyphens, 253 bytes at most. The first label may be `*` (a wildcard
/// custom domain). The last label is not all digits, so an IP address is not a host name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Hostname(String);
string_newtype!(Hostname);

impl Hostname {
    /// Parses a host name; upper case is folded to lower case and one trailing dot is
    /// dropped.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "hostname";
        let lower = s.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        if name.is_empty() || name.len() > 253 {
            return Err(ParseError::shown(WHAT, s, "must be 1 to 253 characters long"));
        }
        let labels: Vec<&str> = name.split('.').collect();
        for (i, label) in labels.iter().enumerate() {
            if i == 0 && *label == "*" && labels.len() > 2 {
                continue;
            }
            if label.is_empty() || label.len() > 63 {
                return Err(ParseError::shown(WHAT, s, "each label must be 1 to 63 characters long"));
            }
            if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err(ParseError::shown(
                    WHAT,
                    s,
                    "may contain only letters, digits, '-' and '.' (and a leading '*.' of a wildcard)",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(ParseError::shown(WHAT, s, "a label must not start or end with '-'"));
            }
        }
        if labels.last().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit())) {
            return Err(ParseError::shown(WHAT, s, "must be a name, not an IP address"));
        }
        Ok(Self(name.to_owned()))
    }

    /// `<app>.<self>`: the default host name of an app under this platform domain.
    pub fn app_host(&self, app: &AppName) -> Hostname {
        Hostname(format!("{app}.{}", self.0))
    }

    /// When `self` is exactly one label under `domain`, that label: the app whose
    /// default host name this would be.
    pub fn label_under<'a>(&'a self, domain: &Hostname) -> Option<&'a str> {
        let prefix = self.0.strip_suffix(&domain.0)?.strip_suffix('.')?;
        (!prefix.is_empty() && !prefix.contains('.')).then_some(prefix)
    }

    /// Whether the name has more than one label.
    pub fn is_qualified(&self) -> bool {
        self.0.contains('.')
    }

    /// Whether this is a wildcard (`*.example.com`).
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(Hostname::parse("WWW.Example.COM.").unwrap().as_str(), "www.example.com");
        assert_eq!(Hostname::parse("localhost").unwrap().as_str(), "localhost");
        assert!(Hostname::parse("*.example.com").unwrap().is_wildcard());
        assert!(Hostname::parse("xn--bcher-kva.example").is_ok());
    }

    #[test]
    fn refuses() {
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "a_b.com",
            "1.2.3.4",
            "*.com",
            "a.*.com",
            "a b.com",
            "exa\0mple.com",
        ] {
            assert!(Hostname::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Hostname::parse(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn app_hosts() {
        let domain = Hostname::parse("paas.example.com").unwrap();
        let app = AppName::parse("hello").unwrap();
        let host = domain.app_host(&app);
        assert_eq!(host.as_str(), "hello.paas.example.com");
        assert_eq!(host.label_under(&domain), Some("hello"));
        assert_eq!(Hostname::parse("a.b.paas.example.com").unwrap().label_under(&domain), None);
        assert_eq!(Hostname::parse("xpaas.example.com").unwrap().label_under(&domain), None);
    }

    proptest! {
        #[test]
        fn parse_is_idempotent(s in "\\PC{0,70}") {
            if let Ok(h) = Hostname::parse(&s) {
                prop_assert_eq!(Hostname::parse(h.as_str()).unwrap(), h.clone());
                prop_assert!(h.as_str().len() <= 253);
                prop_assert!(!h.as_str().ends_with('.'));
            }
        }

        #[test]
        fn dns_shaped_names_parse(labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", 1..5), tld in "[a-z]{2,6}") {
            let name = format!("{}.{tld}", labels.join("."));
            let parsed = Hostname::parse(&name).unwrap();
            prop_assert_eq!(parsed.as_str(), name.as_str());
        }
    }
}
