//! Release versions: `v1`, `v2`, ... per app, without gaps.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// The number of a release of an app, from 1. Shown as `v3`; sent as the number 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct ReleaseVersion(u32);

impl ReleaseVersion {
    /// The first release, made when the app is created.
    pub const FIRST: ReleaseVersion = ReleaseVersion(1);

    /// A version from its number; 0 is not one.
    pub fn new(n: u32) -> Result<Self, ParseError> {
        if n == 0 {
            return Err(ParseError::shown("release version", "0", "versions start at v1"));
        }
        Ok(Self(n))
    }

    /// Parses `v3` or `3`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let digits = s.strip_prefix('v').or_else(|| s.strip_prefix('V')).unwrap_or(s);
        let n: u32 = digits
            .parse()
            .map_err(|_| ParseError::shown("release version", s, "expected vN or N, e.g. v3"))?;
        Self::new(n).map_err(|_| ParseError::shown("release version", s, "versions start at v1"))
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The version after this one.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for ReleaseVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl TryFrom<u32> for ReleaseVersion {
    type Error = ParseError;
    fn try_from(n: u32) -> Result<Self, ParseError> {
        Self::new(n)
    }
}

impl From<ReleaseVersion> for u32 {
    fn from(v: ReleaseVersion) -> u32 {
        v.0
    }
}

impl std::str::FromStr for ReleaseVersion {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses() {
        assert_eq!(ReleaseVersion::parse("v3").unwrap().get(), 3);
        assert_eq!(ReleaseVersion::parse("12").unwrap().to_string(), "v12");
        for bad in ["", "v", "v0", "0", "-1", "v1.2", "vv1", "x3"] {
            assert!(ReleaseVersion::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_parses_back(n in 1u32..u32::MAX) {
            let v = ReleaseVersion::new(n).unwrap();
            prop_assert_eq!(ReleaseVersion::parse(&v.to_string()).unwrap(), v);
            prop_assert_eq!(v.next().get(), n + 1);
        }
    }
}
