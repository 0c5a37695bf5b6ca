//! Who may register once the first user (who becomes an admin) exists:
//! [`RegistrationMode`], set at start-up by `PAAS_REGISTRATION` and changed at run
//! time by an admin (`paas registration:set`).

use std::fmt;

use crate::ParseError;

/// Who may register once the first user exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationMode {
    /// Anyone.
    Open,
    /// Only a signed-in admin, for someone else.
    AdminOnly,
    /// Nobody.
    Disabled,
}

impl RegistrationMode {
    /// Every mode, in the order forms list them.
    pub const ALL: [RegistrationMode; 3] = [Self::Open, Self::AdminOnly, Self::Disabled];

    /// Reads `open`, `admin_only` or `disabled`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| ParseError::shown("registration mode", s, "expected open, admin_only or disabled"))
    }

    /// The name as configured and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::AdminOnly => "admin_only",
            Self::Disabled => "disabled",
        }
    }
}

impl fmt::Display for RegistrationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn modes_read_their_names_only() {
        for mode in RegistrationMode::ALL {
            assert_eq!(RegistrationMode::parse(mode.as_str()), Ok(mode));
            assert_eq!(mode.to_string(), mode.as_str());
        }
        let err = RegistrationMode::parse("Open").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid registration mode \"Open\": expected open, admin_only or disabled"
        );
        assert!(RegistrationMode::parse("").is_err());
        assert!(RegistrationMode::parse("admin-only").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in "\\PC{0,16}") {
            if let Ok(mode) = RegistrationMode::parse(&s) {
                prop_assert_eq!(mode.as_str(), s.as_str());
            }
        }
    }
}
