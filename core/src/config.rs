//! Config vars: the environment a release gives its processes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::parse::{string_newtype, ParseError};

/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = 256;
/// The longest value, in bytes.
pub const MAX_VALUE_LEN: usize = 32 * 1024;
/// The most an app's config may hold, keys and values together, in bytes.
pub const MAX_TOTAL_LEN: usize = 1024 * 1024;

/// The name of a config var: `^[A-Za-z_][A-Za-z0-9_]*$`, at most 256 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct ConfigKey(String);
string_newtype!(ConfigKey);

impl ConfigKey {
    /// Parses a config key.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "config key";
        if s.is_empty() {
            return Err(ParseError::shown(WHAT, s, "must not be empty"));
        }
        if s.len() > MAX_KEY_LEN {
            return Err(ParseError::shown(WHAT, s, "must be at most 256 bytes long"));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Err(ParseError::shown(WHAT, s, "must start with a letter or '_'"));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ParseError::shown(WHAT, s, "may contain only letters, digits and '_'"));
        }
        Ok(Self(s.to_owned()))
    }
}

/// The value of a config var: at most 32 KiB, no NUL byte. Values are often secrets, so
/// neither its `Debug` nor a parse error ever shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConfigValue(String);

impl ConfigValue {
    /// Parses a config value.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.len() > MAX_VALUE_LEN {
            return Err(ParseError::hidden("config value", "must be at most 32 KiB long"));
        }
        if s.contains('\0') {
            return Err(ParseError::hidden("config value", "must not contain a NUL byte"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ConfigValue {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}

impl From<ConfigValue> for String {
    fn from(v: ConfigValue) -> String {
        v.0
    }
}

impl std::fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConfigValue(<{} bytes>)", self.0.len())
    }
}

/// An app's whole config, ordered by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfigVars(pub BTreeMap<ConfigKey, ConfigValue>);

/// A change to config vars: `Some` sets a key, `None` unsets it.
pub type ConfigChange = BTreeMap<ConfigKey, Option<ConfigValue>>;

impl ConfigVars {
    /// Applies a change and returns the new config, or an error when the result would
    /// exceed [`MAX_TOTAL_LEN`].
    pub fn apply(&self, change: &ConfigChange) -> Result<ConfigVars, ParseError> {
        let mut next = self.0.clone();
        for (key, value) in change {
            match value {
                Some(v) => next.insert(key.clone(), v.clone()),
                None => next.remove(key),
            };
        }
        let next = ConfigVars(next);
        if next.byte_len() > MAX_TOTAL_LEN {
            return Err(ParseError::hidden(
                "config",
                "an app's config vars may hold at most 1 MiB, keys and values together",
            ));
        }
        Ok(next)
    }

    /// Keys and values together, in bytes.
    pub fn byte_len(&self) -> usize {
        self.0.iter().map(|(k, v)| k.as_str().len() + v.as_str().len()).sum()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &ConfigKey> {
        self.0.keys()
    }

    /// Whether there are no vars.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The config as plain strings, for the wire.
    pub fn to_plain(&self) -> BTreeMap<String, String> {
        self.0.iter().map(|(k, v)| (k.to_string(), v.as_str().to_owned())).collect()
    }
}

/// Parses `KEY=VALUE` as typed on a command line; the value may contain `=` and be
/// empty.
pub fn parse_assignment(s: &str) -> Result<(ConfigKey, ConfigValue), ParseError> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(ParseError::hidden("config assignment", "expected KEY=VALUE"));
    };
    Ok((ConfigKey::parse(key)?, ConfigValue::parse(value)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys() {
        for ok in ["A", "_", "DATABASE_URL", "a1", "_x_"] {
            assert!(ConfigKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "É", "A=B"] {
            assert!(ConfigKey::parse(bad).is_err(), "{bad}");
        }
        assert!(ConfigKey::parse(&"A".repeat(256)).is_ok());
        assert!(ConfigKey::parse(&"A".repeat(257)).is_err());
    }

    #[test]
    fn values_are_never_shown() {
        let err = ConfigValue::parse("hunter2\0").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        let v = ConfigValue::parse("hunter2").unwrap();
        assert!(!format!("{v:?}").contains("hunter2"));
        assert!(ConfigValue::parse(&"x".repeat(MAX_VALUE_LEN)).is_ok());
        assert!(ConfigValue::parse(&"x".repeat(MAX_VALUE_LEN + 1)).is_err());
    }

    #[test]
    fn assignments() {
        let (k, v) = parse_assignment("URL=a=b").unwrap();
        assert_eq!((k.as_str(), v.as_str()), ("URL", "a=b"));
        let (_, v) = parse_assignment("EMPTY=").unwrap();
        assert_eq!(v.as_str(), "");
        assert!(parse_assignment("NOVALUE").is_err());
    }

    #[test]
    fn total_size_is_bounded() {
        let big = ConfigValue::parse(&"x".repeat(MAX_VALUE_LEN)).unwrap();
        let change: ConfigChange =
            (0..40).map(|i| (ConfigKey::parse(&format!("K{i}")).unwrap(), Some(big.clone()))).collect();
        assert!(ConfigVars::default().apply(&change).is_err());
    }

    proptest! {
        #[test]
        fn key_accepts_exactly_the_pattern(s in "\\PC{0,20}") {
            let by_rule = !s.is_empty()
                && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            prop_assert_eq!(ConfigKey::parse(&s).is_ok(), by_rule);
        }

        #[test]
        fn apply_sets_and_unsets(
            set in proptest::collection::btree_map("[A-Z]{1,3}", "[ -~]{0,8}", 0..8),
            unset in proptest::collection::vec("[A-Z]{1,3}", 0..4),
        ) {
            let mut change = ConfigChange::new();
            for (k, v) in &set {
                change.insert(ConfigKey::parse(k).unwrap(), Some(ConfigValue::parse(v).unwrap()));
            }
            for k in &unset {
                change.insert(ConfigKey::parse(k).unwrap(), None);
            }
            let next = ConfigVars::default().apply(&change).unwrap();
            for (k, v) in &change {
                prop_assert_eq!(next.0.get(k), v.as_ref());
            }
            prop_assert_eq!(next.0.len(), change.values().filter(|v| v.is_some()).count());
        }

        #[test]
        fn json_round_trip(m in proptest::collection::btree_map("[A-Z_][A-Z0-9_]{0,5}", "[^\u{0}]{0,16}", 0..6)) {
            let json = serde_json::to_string(&m).unwrap();
            let vars: ConfigVars = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(vars.to_plain(), m);
        }
    }
}
