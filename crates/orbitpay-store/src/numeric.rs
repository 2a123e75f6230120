//! Lossless integer <-> `NUMERIC` mapping.
//!
//! Memo ids and muxed ids are u64 and contract amounts are i128: both overflow
//! BIGINT, and a detour through `f64` or `i64` silently corrupts them. These
//! newtypes speak PostgreSQL's binary NUMERIC format (base-10000 digits)
//! directly, so no intermediate decimal type or rounding is involved, and a
//! stored value that is not an integer in range is an error, never truncated.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::data_types::PgNumeric;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Numeric;

const NBASE: u128 = 10_000;

/// A `NUMERIC(20,0)` column holding a u64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Numeric)]
pub struct U64Numeric(pub u64);

/// A `NUMERIC(39,0)` column holding an i128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Numeric)]
pub struct I128Numeric(pub i128);

/// Why a stored NUMERIC was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumericError {
    #[error("NUMERIC is NaN")]
    NaN,
    #[error("NUMERIC has a fractional part")]
    Fractional,
    #[error("NUMERIC digit {0} is not a base-10000 digit")]
    BadDigit(i16),
    #[error("NUMERIC is out of range for {0}")]
    OutOfRange(&'static str),
}

/// Encodes a sign and magnitude as PostgreSQL's wire NUMERIC.
pub fn to_pg_numeric(negative: bool, magnitude: u128) -> PgNumeric {
    let mut digits = Vec::new();
    let mut rest = magnitude;
    while rest > 0 {
        // < 10_000, so it fits an i16.
        digits.push((rest % NBASE) as i16);
        rest /= NBASE;
    }
    // At most 10 groups for a u128, so the weight fits an i16.
    let weight = digits.len().saturating_sub(1) as i16;
    digits.reverse();
    // PostgreSQL's own canonical form has no trailing zero groups.
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if negative && magnitude != 0 {
        PgNumeric::Negative {
            weight,
            scale: 0,
            digits,
        }
    } else {
        PgNumeric::Positive {
            weight,
            scale: 0,
            digits,
        }
    }
}

/// Decodes a wire NUMERIC into sign and magnitude; refuses fractions, NaN and
/// magnitudes beyond u128.
pub fn from_pg_numeric(n: &PgNumeric) -> Result<(bool, u128), NumericError> {
    let (negative, weight, digits) = match n {
        PgNumeric::Positive { weight, digits, .. } => (false, *weight, digits),
        PgNumeric::Negative { weight, digits, .. } => (true, *weight, digits),
        PgNumeric::NaN => return Err(NumericError::NaN),
    };
    if let Some(bad) = digits.iter().find(|d| !(0..10_000).contains(*d)) {
        return Err(NumericError::BadDigit(*bad));
    }
    // Digit i is worth NBASE^(weight - i); groups past the last stored digit
    // are zero.
    let integer_groups = usize::try_from(i32::from(weight) + 1).unwrap_or(0);
    let mut magnitude: u128 = 0;
    for i in 0..integer_groups {
        let digit = digits.get(i).copied().unwrap_or(0);
        magnitude = magnitude
            .checked_mul(NBASE)
            .and_then(|m| m.checked_add(digit as u128))
            .ok_or(NumericError::OutOfRange("u128"))?;
    }
    if digits.iter().skip(integer_groups).any(|d| *d != 0) {
        return Err(NumericError::Fractional);
    }
    Ok((negative && magnitude != 0, magnitude))
}

impl TryFrom<&PgNumeric> for U64Numeric {
    type Error = NumericError;

    fn try_from(n: &PgNumeric) -> Result<Self, NumericError> {
        match from_pg_numeric(n)? {
            (false, m) => u64::try_from(m)
                .map(U64Numeric)
                .map_err(|_| NumericError::OutOfRange("u64")),
            (true, _) => Err(NumericError::OutOfRange("u64")),
        }
    }
}

impl From<U64Numeric> for PgNumeric {
    fn from(v: U64Numeric) -> PgNumeric {
        to_pg_numeric(false, u128::from(v.0))
    }
}

impl TryFrom<&PgNumeric> for I128Numeric {
    type Error = NumericError;

    fn try_from(n: &PgNumeric) -> Result<Self, NumericError> {
        let (negative, magnitude) = from_pg_numeric(n)?;
        let value = if negative {
            // i128::MIN's magnitude is one more than i128::MAX.
            0i128.checked_sub_unsigned(magnitude)
        } else {
            i128::try_from(magnitude).ok()
        };
        value
            .map(I128Numeric)
            .ok_or(NumericError::OutOfRange("i128"))
    }
}

impl From<I128Numeric> for PgNumeric {
    fn from(v: I128Numeric) -> PgNumeric {
        to_pg_numeric(v.0 < 0, v.0.unsigned_abs())
    }
}

impl ToSql<Numeric, Pg> for U64Numeric {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        let n = PgNumeric::from(*self);
        <PgNumeric as ToSql<Numeric, Pg>>::to_sql(&n, &mut out.reborrow())
    }
}

impl FromSql<Numeric, Pg> for U64Numeric {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let n = <PgNumeric as FromSql<Numeric, Pg>>::from_sql(bytes)?;
        Ok(U64Numeric::try_from(&n)?)
    }
}

impl ToSql<Numeric, Pg> for I128Numeric {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        let n = PgNumeric::from(*self);
        <PgNumeric as ToSql<Numeric, Pg>>::to_sql(&n, &mut out.reborrow())
    }
}

impl FromSql<Numeric, Pg> for I128Numeric {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let n = <PgNumeric as FromSql<Numeric, Pg>>::from_sql(bytes)?;
        Ok(I128Numeric::try_from(&n)?)
    }
}

impl From<orbitpay_core::Reference> for U64Numeric {
    fn from(r: orbitpay_core::Reference) -> Self {
        U64Numeric(r.0)
    }
}

impl From<U64Numeric> for orbitpay_core::Reference {
    fn from(n: U64Numeric) -> Self {
        orbitpay_core::Reference(n.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pos(weight: i16, digits: &[i16]) -> PgNumeric {
        PgNumeric::Positive {
            weight,
            scale: 0,
            digits: digits.to_vec(),
        }
    }

    #[test]
    fn encodes_like_postgres() {
        assert_eq!(PgNumeric::from(U64Numeric(0)), pos(0, &[]));
        assert_eq!(PgNumeric::from(U64Numeric(10_000)), pos(1, &[1]));
        assert_eq!(
            PgNumeric::from(U64Numeric(u64::MAX)),
            // 1844 6744 0737 0955 1615
            pos(4, &[1844, 6744, 737, 955, 1615])
        );
    }

    #[test]
    fn refuses_what_is_not_an_integer_in_range() {
        let half = pos(-1, &[5000]);
        assert_eq!(U64Numeric::try_from(&half), Err(NumericError::Fractional));
        let one_and_a_half = pos(0, &[1, 5000]);
        assert_eq!(
            U64Numeric::try_from(&one_and_a_half),
            Err(NumericError::Fractional)
        );
        let u64_max_plus_one = pos(4, &[1844, 6744, 737, 955, 1616]);
        assert_eq!(
            U64Numeric::try_from(&u64_max_plus_one),
            Err(NumericError::OutOfRange("u64"))
        );
        let minus_one = PgNumeric::Negative {
            weight: 0,
            scale: 0,
            digits: vec![1],
        };
        assert_eq!(
            U64Numeric::try_from(&minus_one),
            Err(NumericError::OutOfRange("u64"))
        );
        assert_eq!(
            U64Numeric::try_from(&PgNumeric::NaN),
            Err(NumericError::NaN)
        );
        assert_eq!(
            U64Numeric::try_from(&pos(0, &[10_000])),
            Err(NumericError::BadDigit(10_000))
        );
        // A huge weight must fail, not loop into overflow or wrap.
        assert_eq!(
            I128Numeric::try_from(&pos(i16::MAX, &[1])),
            Err(NumericError::OutOfRange("u128"))
        );
    }

    #[test]
    fn accepts_a_non_canonical_scale_and_trailing_zero_groups() {
        // 12.0000 as PostgreSQL may send it for NUMERIC(20,4).
        let n = PgNumeric::Positive {
            weight: 0,
            scale: 4,
            digits: vec![12, 0],
        };
        assert_eq!(U64Numeric::try_from(&n), Ok(U64Numeric(12)));
    }

    #[test]
    fn i128_extremes_round_trip() {
        for v in [i128::MIN, i128::MIN + 1, -1, 0, 1, i128::MAX] {
            let n = PgNumeric::from(I128Numeric(v));
            assert_eq!(I128Numeric::try_from(&n), Ok(I128Numeric(v)), "{v}");
        }
    }

    proptest! {
        #[test]
        fn u64_round_trips(v in any::<u64>()) {
            let n = PgNumeric::from(U64Numeric(v));
            prop_assert_eq!(U64Numeric::try_from(&n), Ok(U64Numeric(v)));
        }

        #[test]
        fn i128_round_trips(v in any::<i128>()) {
            let n = PgNumeric::from(I128Numeric(v));
            prop_assert_eq!(I128Numeric::try_from(&n), Ok(I128Numeric(v)));
        }

        #[test]
        fn encoding_is_canonical(v in any::<u64>()) {
            // Canonical form: no leading or trailing zero groups.
            if let PgNumeric::Positive { digits, .. } = PgNumeric::from(U64Numeric(v)) {
                prop_assert!(digits.first() != Some(&0));
                prop_assert!(digits.last() != Some(&0));
            } else {
                prop_assert!(false, "u64 encodes as positive");
            }
        }
    }
}
