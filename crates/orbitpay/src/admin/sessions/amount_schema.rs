//! The OpenAPI schema of a create request's `amount`: a string whose pattern accepts exactly
//! what the parser accepts (a positive decimal, at most 7 decimals, at most int64 stroops), so a
//! client, or a fuzzer, can tell a valid amount from the document alone.

use orbitpay_core::Amount;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

pub(crate) fn amount_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(amount_pattern()))
        .description(Some(
            "Decimal string, > 0 with at most 7 decimals and at most 922337203685.4775807; parsed \
             exactly from its text. Text that is not a decimal number (`1e10`, `+1`, ` 1`, `NaN`) \
             or a value that is not a string (a JSON number) is 400 ERROR_BAD_JSON; zero, a \
             negative amount, more decimals or a larger one is 400 INVALID_AMOUNT.",
        ))
        .examples(["12.5"])
        .build()
        .into()
}

/// `^0*(integer part above zero)(.fraction)?$|^0+\.(fraction above zero)$`, the integer part
/// bounded by [`Amount::MAX`] digit by digit (the pattern has no lookaround, which not every
/// regex engine a client uses supports).
pub(super) fn amount_pattern() -> String {
    let max = Amount::MAX.to_string();
    let (max_int, max_frac) = max.split_once('.').expect("seven decimals");
    let fraction = r"(\.[0-9]{1,7})?";
    let mut whole = vec![format!(r"[1-9][0-9]{{0,{}}}{fraction}", max_int.len() - 2)];
    whole.extend(below(max_int).into_iter().map(|p| format!("{p}{fraction}")));
    let max_fractions: Vec<String> = (1..=max_frac.len())
        .flat_map(|n| at_most(&max_frac[..n]))
        .collect();
    whole.push(format!(r"{max_int}(\.({}))?", max_fractions.join("|")));
    let small: Vec<String> = (0..7)
        .map(|zeros| format!("0{{{zeros}}}[1-9][0-9]{{0,{}}}", 6 - zeros))
        .collect();
    format!(r"^0*({})$|^0+\.({})$", whole.join("|"), small.join("|"))
}

/// Patterns for the digit strings as long as `max` that are below it, with no leading zero.
fn below(max: &str) -> Vec<String> {
    let digits: Vec<u32> = max
        .chars()
        .map(|c| c.to_digit(10).expect("digits"))
        .collect();
    (0..digits.len())
        .filter_map(|i| {
            let lowest = u32::from(i == 0);
            (digits[i] > lowest).then(|| {
                format!(
                    "{}[{lowest}-{}][0-9]{{{}}}",
                    &max[..i],
                    digits[i] - 1,
                    digits.len() - i - 1
                )
            })
        })
        .collect()
}

/// Patterns for the digit strings as long as `max` that are at most it, leading zeros allowed.
fn at_most(max: &str) -> Vec<String> {
    let mut patterns: Vec<String> = max
        .char_indices()
        .filter(|&(_, c)| c != '0')
        .map(|(i, c)| {
            let below = c.to_digit(10).expect("digits") - 1;
            format!("{}[0-{below}][0-9]{{{}}}", &max[..i], max.len() - i - 1)
        })
        .collect();
    patterns.push(max.to_owned());
    patterns
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matches(text: &str) -> bool {
        regex::Regex::new(&amount_pattern()).unwrap().is_match(text)
    }

    /// What the API takes: a positive amount that parses.
    fn accepted(text: &str) -> bool {
        text.parse::<Amount>().is_ok_and(|a| !a.is_zero())
    }

    #[test]
    fn the_pattern_takes_exactly_the_positive_amounts() {
        for text in [
            "1",
            "12.5",
            "0.0000001",
            "007.1000000",
            "922337203685.4775807",
            "922337203685.47758",
            "922337203685",
            "922337203684.9999999",
            "99999999999.9999999",
            "000922337203685.4775807",
        ] {
            assert!(matches(text), "{text}");
        }
        for text in [
            "0",
            "0.0000000",
            "000.0",
            "922337203685.4775808",
            "922337203685.48",
            "922337203686",
            "1000000000000",
            "1.00000001",
            "0.00000001",
            "-1",
            "+1",
            " 1",
            "1e10",
            ".5",
            "1.",
            "NaN",
            "",
        ] {
            assert!(!matches(text), "{text}");
        }
    }

    proptest! {
        #[test]
        fn pattern_and_parser_agree(
            int in "0{0,3}[0-9]{0,13}",
            frac in proptest::option::of("[0-9]{0,9}"),
        ) {
            let text = match frac {
                Some(f) => format!("{int}.{f}"),
                None => int,
            };
            prop_assert_eq!(matches(&text), accepted(&text), "{}", text);
        }

        #[test]
        fn near_the_maximum_pattern_and_parser_agree(stroops in (i64::MAX - 100_000_000)..=i64::MAX, extra in 0u64..200_000_000) {
            for value in [i128::from(stroops), i128::from(stroops) + i128::from(extra)] {
                let text = format!("{}.{:07}", value / 10_000_000, value % 10_000_000);
                prop_assert_eq!(matches(&text), accepted(&text), "{}", text);
            }
        }
    }
}
