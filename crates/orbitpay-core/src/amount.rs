//! Money as integer stroops (1 XLM = 10^7 stroops).
//!
//! Stellar amounts are int64 with 7 implied decimals. Floats lose precision at the top of that
//! range and decimal crates accept forms Horizon never sends (`1e5`, `1_000`), so parsing is a
//! strict grammar over ASCII digits with checked arithmetic, and nothing else is accepted.

use std::fmt;
use std::str::FromStr;

/// Stroops per whole unit.
pub const STROOPS_PER_UNIT: i64 = 10_000_000;
const DECIMALS: usize = 7;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error(
        "amount {0:?} is not a plain decimal number (digits, optionally one '.' and up to 7 decimals)"
    )]
    Malformed(String),
    #[error("amount {0:?} has more than 7 decimal places")]
    TooPrecise(String),
    #[error("amount {0:?} is out of range")]
    OutOfRange(String),
    #[error("amount must not be negative")]
    Negative,
}

/// Parses the strict grammar `DIGITS [ "." DIGITS{1,7} ]` into stroops, rejecting anything
/// above `max`. Shared by [`Amount`] (i64) and [`ContractAmount`] (i128).
fn parse_stroops(s: &str, max: i128) -> Result<i128, AmountError> {
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    let malformed = || AmountError::Malformed(s.to_owned());
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) {
        return Err(malformed());
    }
    let frac = match frac_part {
        None => "",
        Some(f) if !all_digits(f) => return Err(malformed()),
        Some(f) if f.len() > DECIMALS => return Err(AmountError::TooPrecise(s.to_owned())),
        Some(f) => f,
    };
    let out_of_range = || AmountError::OutOfRange(s.to_owned());
    let mut value: i128 = 0;
    let digits = int_part
        .bytes()
        .chain(frac.bytes())
        .chain(std::iter::repeat_n(b'0', DECIMALS - frac.len()));
    for b in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(b - b'0')))
            .ok_or_else(out_of_range)?;
    }
    if value > max {
        return Err(out_of_range());
    }
    Ok(value)
}

fn fmt_stroops(stroops: i128, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let unit = i128::from(STROOPS_PER_UNIT);
    let sign = if stroops < 0 { "-" } else { "" };
    let abs = stroops.unsigned_abs();
    let unit = unit.unsigned_abs();
    write!(f, "{sign}{}.{:07}", abs / unit, abs % unit)
}

/// A non-negative amount of a classic Stellar asset, in stroops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i64);

impl Amount {
    pub const ZERO: Amount = Amount(0);
    pub const MAX: Amount = Amount(i64::MAX);

    pub fn from_stroops(stroops: i64) -> Result<Self, AmountError> {
        if stroops < 0 {
            return Err(AmountError::Negative);
        }
        Ok(Amount(stroops))
    }

    pub fn stroops(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// What remains to be paid, zero when `self` covers `other`.
    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0).max(0))
    }

    /// The amount as a [`PositiveAmount`], or `None` when it is zero.
    pub fn positive(self) -> Option<PositiveAmount> {
        (self.0 > 0).then_some(PositiveAmount(self))
    }
}

/// An [`Amount`] greater than zero: what a request to pay may ask for. It is made only by
/// [`Amount::positive`], so a function that takes one cannot be handed zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PositiveAmount(Amount);

impl PositiveAmount {
    pub fn get(self) -> Amount {
        self.0
    }
}

impl fmt::Display for PositiveAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let stroops = parse_stroops(s, i128::from(i64::MAX))?;
        Ok(Amount(
            i64::try_from(stroops).map_err(|_| AmountError::OutOfRange(s.to_owned()))?,
        ))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_stroops(i128::from(self.0), f)
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A Soroban token amount: i128 stroops, because a contract balance is not bounded by int64.
/// It converts into an [`Amount`] only when it fits, so an oversized transfer is a visible
/// error rather than a truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContractAmount(i128);

impl ContractAmount {
    pub fn from_stroops(stroops: i128) -> Result<Self, AmountError> {
        if stroops < 0 {
            return Err(AmountError::Negative);
        }
        Ok(ContractAmount(stroops))
    }

    pub fn stroops(self) -> i128 {
        self.0
    }
}

impl FromStr for ContractAmount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_stroops(s, i128::MAX).map(ContractAmount)
    }
}

impl fmt::Display for ContractAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_stroops(self.0, f)
    }
}

impl From<Amount> for ContractAmount {
    fn from(a: Amount) -> Self {
        ContractAmount(i128::from(a.0))
    }
}

impl TryFrom<ContractAmount> for Amount {
    type Error = AmountError;

    fn try_from(c: ContractAmount) -> Result<Self, Self::Error> {
        i64::try_from(c.0)
            .map(Amount)
            .map_err(|_| AmountError::OutOfRange(c.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_an_amount_above_zero_is_positive() {
        assert_eq!(Amount::ZERO.positive(), None);
        assert_eq!(
            Amount(1).positive().map(PositiveAmount::get),
            Some(Amount(1))
        );
        assert_eq!(
            Amount::MAX.positive().unwrap().to_string(),
            "922337203685.4775807"
        );
    }

    #[test]
    fn formats_with_exactly_seven_decimals() {
        assert_eq!(Amount(0).to_string(), "0.0000000");
        assert_eq!(Amount(1).to_string(), "0.0000001");
        assert_eq!(Amount(125_000_000).to_string(), "12.5000000");
        assert_eq!(Amount::MAX.to_string(), "922337203685.4775807");
    }

    #[test]
    fn accepts_the_forms_horizon_and_merchants_send() {
        let ok = [
            ("12.5", 125_000_000),
            ("12", 120_000_000),
            ("0.0000001", 1),
            ("007.1000000", 71_000_000),
            ("922337203685.4775807", i64::MAX),
            ("0", 0),
            ("0.0000000", 0),
        ];
        for (s, stroops) in ok {
            assert_eq!(s.parse::<Amount>(), Ok(Amount(stroops)), "{s}");
        }
    }

    #[test]
    fn rejects_every_lenient_form() {
        let bad = [
            "",
            " 1",
            "1 ",
            "1\n",
            "+1",
            "-1",
            "1e5",
            "1E5",
            "1_000",
            "1,5",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "Infinity",
            ".5",
            "1.",
            "1..2",
            "1.2.3",
            "0x10",
            "١",
            "12.50000001",
            "922337203685.4775808",
            "99999999999999999999999999999999999999999999",
            "one fifty rupees",
        ];
        for s in bad {
            assert!(s.parse::<Amount>().is_err(), "{s:?} must be rejected");
        }
    }

    #[test]
    fn error_kinds_say_what_is_wrong() {
        assert_eq!("".parse::<Amount>(), Err(AmountError::Empty));
        assert!(matches!(
            "1.00000001".parse::<Amount>(),
            Err(AmountError::TooPrecise(_))
        ));
        assert!(matches!(
            "922337203685.4775808".parse::<Amount>(),
            Err(AmountError::OutOfRange(_))
        ));
        assert!(matches!(
            "1e5".parse::<Amount>(),
            Err(AmountError::Malformed(_))
        ));
        assert_eq!(Amount::from_stroops(-1), Err(AmountError::Negative));
    }

    #[test]
    fn contract_amounts_convert_only_when_they_fit() {
        let big: ContractAmount = "922337203685.4775808".parse().unwrap();
        assert!(Amount::try_from(big).is_err());
        let fits: ContractAmount = "922337203685.4775807".parse().unwrap();
        assert_eq!(Amount::try_from(fits), Ok(Amount::MAX));
        let huge = ContractAmount::from_stroops(i128::MAX).unwrap();
        assert_eq!(huge.to_string().parse::<ContractAmount>(), Ok(huge));
        assert!(
            "17014118346046923173168730371588410.5728000"
                .parse::<ContractAmount>()
                .is_err()
        );
    }

    #[test]
    fn serde_uses_the_seven_decimal_string() {
        let a = Amount(125_000_000);
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"12.5000000\"");
        assert_eq!(serde_json::from_str::<Amount>("\"12.5\"").unwrap(), a);
        assert!(serde_json::from_str::<Amount>("\"1e5\"").is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(stroops in 0..=i64::MAX) {
            let a = Amount(stroops);
            prop_assert_eq!(a.to_string().parse::<Amount>(), Ok(a));
        }

        #[test]
        fn shorter_decimals_and_leading_zeros_mean_the_same(stroops in 0..=i64::MAX, zeros in 0usize..4) {
            let a = Amount(stroops);
            let s = a.to_string();
            let trimmed = s.trim_end_matches('0').trim_end_matches('.');
            let padded = format!("{}{}", "0".repeat(zeros), trimmed);
            prop_assert_eq!(padded.parse::<Amount>(), Ok(a));
        }

        #[test]
        fn negative_stroops_are_refused(stroops in i64::MIN..0) {
            prop_assert_eq!(Amount::from_stroops(stroops), Err(AmountError::Negative));
            let signed = format!("-{}", Amount(stroops.unsigned_abs().min(i64::MAX as u64) as i64));
            prop_assert!(signed.parse::<Amount>().is_err());
        }

        #[test]
        fn any_non_grammar_byte_is_rejected(stroops in 0..=i64::MAX, pos in 0usize..24,
                                            bad in prop::sample::select(vec![' ', '_', 'e', 'E', '+', '-', ',', '\t', 'x'])) {
            let mut s = Amount(stroops).to_string();
            let pos = pos.min(s.len());
            s.insert(pos, bad);
            prop_assert!(s.parse::<Amount>().is_err(), "{:?}", s);
        }

        #[test]
        fn eight_decimals_are_too_precise(stroops in 0..=i64::MAX / 10, digit in 0u8..10) {
            let s = format!("{}{}", Amount(stroops), digit);
            prop_assert!(matches!(s.parse::<Amount>(), Err(AmountError::TooPrecise(_))), "{}", s);
        }

        #[test]
        fn above_i64_max_is_out_of_range(extra in 1i128..=i128::from(i64::MAX)) {
            let c = ContractAmount::from_stroops(i128::from(i64::MAX) + extra).unwrap();
            prop_assert!(matches!(c.to_string().parse::<Amount>(), Err(AmountError::OutOfRange(_))));
        }
    }
}
