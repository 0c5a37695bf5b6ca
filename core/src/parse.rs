//! The error every parser of this crate returns.

use std::fmt;

/// Why a piece of user input is not a valid value of some type.
///
/// The message names the kind of value and says what a valid one looks like. It repeats
/// the offending input only for kinds that are never secret (names, keys, hostnames).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// What was being parsed, e.g. `app name`.
    pub what: &'static str,
    /// The offending input, when it is safe to show.
    pub input: Option<String>,
    /// What is wrong, phrased as the rule the input broke.
    pub reason: String,
}

impl ParseError {
    /// An error that repeats the input in its message.
    pub fn shown(what: &'static str, input: &str, reason: impl Into<String>) -> Self {
        let mut input: String = input.chars().take(80).collect();
        if input.len() < 80 && input.chars().any(char::is_control) {
            input = input.escape_debug().to_string();
        }
        Self { what, input: Some(input), reason: reason.into() }
    }

    /// An error that keeps the input to itself (passwords, config values).
    pub fn hidden(what: &'static str, reason: impl Into<String>) -> Self {
        Self { what, input: None, reason: reason.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.input {
            Some(input) => write!(f, "invalid {} {:?}: {}", self.what, input, self.reason),
            None => write!(f, "invalid {}: {}", self.what, self.reason),
        }
    }
}

/// Implements the string plumbing shared by the name-like newtypes: `Display`,
/// `AsRef<str>`, `FromStr`, and serde through `TryFrom<String>`.
macro_rules! string_newtype {
    ($ty:ident) => {
        impl $ty {
            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl ::std::str::FromStr for $ty {
            type Err = $crate::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $ty {
            type Error = $crate::ParseError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }
        // As the string it is, borrowed: no copy to serialize.
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
    };
}
pub(crate) use string_newtype;
