//! Resource limits of a process type: memory ([`MemoryLimit`], `256M`, `1G`) and CPU
//! ([`CpuLimit`], `0.5` of a CPU).

use std::fmt;

use crate::ParseError;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// A memory limit in bytes, 16 MiB to 64 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemoryLimit(u64);

impl MemoryLimit {
    /// The smallest limit: 16 MiB.
    pub const MIN: u64 = 16 * MIB;
    /// The largest limit: 64 GiB.
    pub const MAX: u64 = 64 * GIB;

    /// Reads a size: digits and a unit, `K`, `M` or `G` (powers of 1024; case and a
    /// trailing `B` or `iB` do not matter), e.g. `512M`, `1G`, `1536MiB`.
    pub fn parse(input: &str) -> Result<MemoryLimit, ParseError> {
        const WHAT: &str = "memory size";
        let rule = "write a number and a unit, like 256M or 1G (K, M, G: powers of 1024)";
        let s = input.trim();
        let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(digits_end);
        if digits.is_empty() {
            return Err(ParseError::shown(WHAT, input, rule));
        }
        let unit = unit.to_ascii_uppercase();
        let factor = match unit.trim_end_matches("IB").trim_end_matches('B') {
            "K" => KIB,
            "M" => MIB,
            "G" => GIB,
            _ => return Err(ParseError::shown(WHAT, input, rule)),
        };
        let number: u64 =
            digits.parse().map_err(|_| ParseError::shown(WHAT, input, "the number is too large"))?;
        let bytes = number.saturating_mul(factor);
        if !(Self::MIN..=Self::MAX).contains(&bytes) {
            return Err(ParseError::shown(WHAT, input, "a memory limit is from 16M to 64G"));
        }
        Ok(MemoryLimit(bytes))
    }

    /// A stored limit, when in range.
    pub fn from_bytes(bytes: u64) -> Option<MemoryLimit> {
        (Self::MIN..=Self::MAX).contains(&bytes).then_some(MemoryLimit(bytes))
    }

    /// The limit in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MemoryLimit {
    /// The largest unit that divides it: `512M`, `1G`, `1536M`, `16400K`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b.is_multiple_of(GIB) {
            write!(f, "{}G", b / GIB)
        } else if b.is_multiple_of(MIB) {
            write!(f, "{}M", b / MIB)
        } else {
            write!(f, "{}K", b / KIB)
        }
    }
}

/// A CPU limit in thousandths of a CPU, 0.01 to 64 CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuLimit(u64);

impl CpuLimit {
    /// The smallest limit, in thousandths: 0.01 CPU.
    pub const MIN_MILLI: u64 = 10;
    /// The largest limit, in thousandths: 64 CPUs.
    pub const MAX_MILLI: u64 = 64_000;

    /// Reads a number of CPUs with at most three decimals: `0.5`, `2`, `1.25`.
    pub fn parse(input: &str) -> Result<CpuLimit, ParseError> {
        const WHAT: &str = "CPU limit";
        let rule = "write a number of CPUs with at most three decimals, like 0.5 or 2";
        let s = input.trim();
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        let all_digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty()
            || !all_digits(whole)
            || !all_digits(fraction)
            || fraction.len() > 3
        {
            return Err(ParseError::shown(WHAT, input, rule));
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| ParseError::shown(WHAT, input, "a CPU limit is from 0.01 to 64"))?
        };
        let fraction: u64 = format!("{fraction:0<3}").parse().unwrap_or(0);
        let milli = whole.saturating_mul(1000).saturating_add(fraction);
        if !(Self::MIN_MILLI..=Self::MAX_MILLI).contains(&milli) {
            return Err(ParseError::shown(WHAT, input, "a CPU limit is from 0.01 to 64"));
        }
        Ok(CpuLimit(milli))
    }

    /// A stored limit in billionths of a CPU (the engine's `NanoCpus`), when in range.
    pub fn from_nano(nano: u64) -> Option<CpuLimit> {
        let milli = nano / 1_000_000;
        (nano.is_multiple_of(1_000_000) && (Self::MIN_MILLI..=Self::MAX_MILLI).contains(&milli))
            .then_some(CpuLimit(milli))
    }

    /// The limit in billionths of a CPU.
    pub fn nano(self) -> u64 {
        self.0 * 1_000_000
    }
}

impl fmt::Display for CpuLimit {
    /// `0.5`, `2`, `1.25`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, milli) = (self.0 / 1000, self.0 % 1000);
        if milli == 0 {
            write!(f, "{whole}")
        } else {
            let fraction = format!("{milli:03}");
            write!(f, "{whole}.{}", fraction.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_read_with_units_of_1024() {
        let bytes = |s: &str| MemoryLimit::parse(s).map(MemoryLimit::bytes);
        assert_eq!(bytes("256M"), Ok(268_435_456));
        assert_eq!(bytes("1G"), Ok(1 << 30));
        assert_eq!(bytes("1536mib"), Ok(1536 << 20));
        assert_eq!(bytes("16384K"), Ok(16 << 20));
        assert_eq!(bytes("64GB"), Ok(64 << 30));
        for bad in ["", "M", "256", "256X", "1.5G", "-1G", "15M", "65G", "99999999999999999999G", "1 G"] {
            assert!(MemoryLimit::parse(bad).is_err(), "{bad:?}");
        }
        let message = MemoryLimit::parse("lots").expect_err("bad").to_string();
        assert!(message.contains("like 256M or 1G"), "{message}");
    }

    #[test]
    fn cpus_read_with_three_decimals() {
        let nano = |s: &str| CpuLimit::parse(s).map(CpuLimit::nano);
        assert_eq!(nano("0.5"), Ok(500_000_000));
        assert_eq!(nano("2"), Ok(2_000_000_000));
        assert_eq!(nano(".25"), Ok(250_000_000));
        for bad in ["", ".", "0", "0.001", "0.0001", "64.5", "1,5", "-1", "a"] {
            assert!(CpuLimit::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(CpuLimit::parse("1.250").map(|c| c.to_string()), Ok("1.25".into()));
    }

    proptest! {
        #[test]
        fn memory_limits_round_trip(bytes in MemoryLimit::MIN..=MemoryLimit::MAX) {
            let bytes = bytes / KIB * KIB;
            prop_assume!(bytes >= MemoryLimit::MIN);
            let limit = MemoryLimit::from_bytes(bytes).expect("in range");
            prop_assert_eq!(MemoryLimit::parse(&limit.to_string()), Ok(limit));
        }

        #[test]
        fn memory_parse_never_panics_and_stays_in_range(s in "\\PC{0,12}") {
            if let Ok(limit) = MemoryLimit::parse(&s) {
                prop_assert!((MemoryLimit::MIN..=MemoryLimit::MAX).contains(&limit.bytes()));
            }
        }

        #[test]
        fn cpu_limits_round_trip(milli in CpuLimit::MIN_MILLI..=CpuLimit::MAX_MILLI) {
            let limit = CpuLimit::from_nano(milli * 1_000_000).expect("in range");
            prop_assert_eq!(CpuLimit::parse(&limit.to_string()), Ok(limit));
        }

        #[test]
        fn cpu_parse_never_panics(s in "[0-9.]{0,8}") {
            if let Ok(limit) = CpuLimit::parse(&s) {
                prop_assert!(limit.nano() >= CpuLimit::MIN_MILLI * 1_000_000);
            }
        }
    }
}
