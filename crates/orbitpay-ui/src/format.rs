//! How figures read on the page: amounts as Stellar writes them (7 decimals, trailing zeros
//! kept off), times in UTC to the second, ages in words a person scans.

use chrono::{DateTime, Utc};

/// Stroops as an amount: `12.5`, `0.0000001`, `-3`.
pub fn stroops(stroops: i128) -> String {
    let sign = if stroops < 0 { "-" } else { "" };
    let m = stroops.unsigned_abs();
    let (whole, frac) = (m / 10_000_000, m % 10_000_000);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let f = format!("{frac:07}");
        format!("{sign}{whole}.{}", f.trim_end_matches('0'))
    }
}

/// `2026-12-07 14:03:22 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `—` when unknown, else `3 s`, `4 min`, `2 h`.
pub fn age(seconds: Option<f64>) -> String {
    match seconds {
        None => "—".to_owned(),
        Some(s) if s < 90.0 => format!("{s:.0} s"),
        Some(s) if s < 5400.0 => format!("{:.0} min", s / 60.0),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

/// A long hash or account cut to its ends for a table cell; the full text is in the title
/// and the link.
pub fn short(s: &str) -> String {
    if s.chars().count() <= 14 {
        return s.to_owned();
    }
    let head: String = s.chars().take(6).collect();
    let tail: String = s
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{head}…{tail}")
}

/// An asset as stored (`native`, `CODE:ISSUER`) as a person reads it: `XLM`, `USDC`
/// (the issuer is in the title).
pub fn asset(stored: &str) -> String {
    if stored == "native" {
        "XLM".to_owned()
    } else {
        stored.split(':').next().unwrap_or(stored).to_owned()
    }
}

/// A memo as stored (`memo_type`, `memo_value`, `memo_bytes`) as text: a text memo from its
/// exact bytes through `core::text::escape` (so a NUL reads `\x00`), else the stored value
/// (a decimal id, the hex of a hash), else the bytes' hex.
pub fn memo(memo_type: Option<&str>, value: Option<&str>, bytes: Option<&[u8]>) -> String {
    match (bytes, value) {
        (Some(b), _) if memo_type == Some("text") => orbitpay_core::text::escape(b),
        (_, Some(v)) => v.to_owned(),
        (Some(b), None) => b.iter().map(|x| format!("{x:02x}")).collect(),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_stellar_writes_them() {
        assert_eq!(stroops(50_000_000), "5");
        assert_eq!(stroops(1), "0.0000001");
        assert_eq!(stroops(125_000_000), "12.5");
        assert_eq!(stroops(-30_000_000), "-3");
        assert_eq!(stroops(i128::from(i64::MAX) * 2), "1844674407370.9551614");
    }

    #[test]
    fn long_identifiers_are_cut_to_their_ends() {
        assert_eq!(short("abc"), "abc");
        assert_eq!(short(&"a".repeat(64)), "aaaaaa…aaaaaa");
        assert_eq!(asset("USDC:GABC"), "USDC");
        assert_eq!(asset("native"), "XLM");
    }
}
