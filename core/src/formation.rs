//! Formation: how many processes of each type an app runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ParseError, ProcessType};

/// The most processes of one type an app may run.
pub const MAX_QUANTITY: u32 = 100;

/// A number of processes, 0 to [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    /// Checks the range.
    pub fn new(n: u32) -> Result<Self, ParseError> {
        if n > MAX_QUANTITY {
            return Err(ParseError::shown("quantity", &n.to_string(), "must be 0 to 100"));
        }
        Ok(Self(n))
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Quantity {
    type Error = ParseError;
    fn try_from(n: u32) -> Result<Self, ParseError> {
        Self::new(n)
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

/// The quantity of every process type of an app. Scaling changes it; it is not a
/// release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Formation(pub BTreeMap<ProcessType, Quantity>);

/// Parses `TYPE=N` as typed after `paas scale`.
pub fn parse_scale(s: &str) -> Result<(ProcessType, Quantity), ParseError> {
    let Some((name, n)) = s.split_once('=') else {
        return Err(ParseError::shown("scale argument", s, "expected TYPE=N, e.g. web=2"));
    };
    let process_type = ProcessType::parse(name)?;
    let n: u32 = n
        .parse()
        .map_err(|_| ParseError::shown("scale argument", s, "the quantity must be a whole number"))?;
    Ok((process_type, Quantity::new(n)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scale_arguments() {
        let (t, n) = parse_scale("web=3").unwrap();
        assert_eq!((t.as_str(), n.get()), ("web", 3));
        for bad in ["web", "web=", "web=-1", "web=101", "Web=1", "=1", "web=1.5"] {
            assert!(parse_scale(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn quantities_in_range_parse(n in 0u32..=100) {
            prop_assert_eq!(parse_scale(&format!("worker={n}")).unwrap().1.get(), n);
        }

        #[test]
        fn quantities_out_of_range_do_not(n in 101u32..) {
            let arg = format!("worker={n}");
            prop_assert!(parse_scale(&arg).is_err());
            prop_assert!(serde_json::from_str::<Quantity>(&n.to_string()).is_err());
        }
    }
}
