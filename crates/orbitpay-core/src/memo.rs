//! Transaction memos and the session reference customers pay with.

use std::fmt;
use std::str::FromStr;

use crate::account::serde_via_str;

pub const MAX_TEXT_MEMO: usize = 28;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoError {
    #[error("text memo is {0} bytes; at most 28 are allowed")]
    TextTooLong(usize),
}

/// A text memo's exact bytes. Horizon scrubs invalid UTF-8 and NULs from `memo`; the bytes kept
/// here come from `memo_bytes`, so matching never depends on that lossy rewrite.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MemoText(Vec<u8>);

impl MemoText {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, MemoError> {
        let bytes = bytes.into();
        if bytes.len() > MAX_TEXT_MEMO {
            return Err(MemoError::TextTooLong(bytes.len()));
        }
        Ok(MemoText(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A text rendering safe for any text column: see [`crate::text::escape`].
    pub fn escaped(&self) -> String {
        crate::text::escape(&self.0)
    }
}

impl fmt::Debug for MemoText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemoText({:?})", self.escaped())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Memo {
    #[default]
    None,
    Text(MemoText),
    Id(u64),
    Hash([u8; 32]),
    Return([u8; 32]),
}

impl Memo {
    pub fn text(bytes: impl Into<Vec<u8>>) -> Result<Memo, MemoError> {
        MemoText::new(bytes).map(Memo::Text)
    }

    /// Horizon's `memo_type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Memo::None => "none",
            Memo::Text(_) => "text",
            Memo::Id(_) => "id",
            Memo::Hash(_) => "hash",
            Memo::Return(_) => "return",
        }
    }
}

/// The u64 that identifies a session on its account: the muxed id and memo id customers pay
/// with. It is a u64 on the wire, so it is never squeezed into a signed 64-bit column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a decimal u64 reference")]
pub struct ReferenceError(String);

impl Reference {
    /// A text memo names a session only when its bytes are exactly the canonical decimal form
    /// (no sign, spaces or leading zeros), so two different memos never reach the same session.
    pub fn from_memo_text(text: &MemoText) -> Option<Reference> {
        let s = std::str::from_utf8(text.as_bytes()).ok()?;
        let r: Reference = s.parse().ok()?;
        (r.to_string() == s).then_some(r)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    /// Strict decimal: ASCII digits only. `u64::from_str` alone would accept a leading `+`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReferenceError(s.chars().take(40).collect()));
        }
        s.parse::<u64>()
            .map(Reference)
            .map_err(|_| ReferenceError(s.to_owned()))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

serde_via_str!(Reference);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_memos_hold_at_most_28_bytes() {
        assert!(Memo::text(vec![b'a'; 28]).is_ok());
        assert_eq!(Memo::text(vec![b'a'; 29]), Err(MemoError::TextTooLong(29)));
    }

    #[test]
    fn only_canonical_decimal_text_names_a_reference() {
        let t = |b: &[u8]| Reference::from_memo_text(&MemoText::new(b.to_vec()).unwrap());
        assert_eq!(t(b"42"), Some(Reference(42)));
        assert_eq!(t(b"18446744073709551615"), Some(Reference(u64::MAX)));
        assert_eq!(t(b"0"), Some(Reference(0)));
        for bad in [
            &b"042"[..],
            b"+42",
            b" 42",
            b"42 ",
            b"42\0",
            b"18446744073709551616",
            b"",
            b"4\xff2",
            b"order 42",
        ] {
            assert_eq!(t(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn references_parse_strictly() {
        assert_eq!("18446744073709551615".parse(), Ok(Reference(u64::MAX)));
        assert!("+1".parse::<Reference>().is_err());
        assert!("-1".parse::<Reference>().is_err());
        assert!("18446744073709551616".parse::<Reference>().is_err());
        assert!("".parse::<Reference>().is_err());
    }

    proptest! {
        #[test]
        fn reference_text_round_trips(n in any::<u64>()) {
            let r = Reference(n);
            prop_assert_eq!(r.to_string().parse::<Reference>(), Ok(r));
            prop_assert_eq!(Reference::from_memo_text(&MemoText::new(r.to_string()).unwrap()), Some(r));
        }

        #[test]
        fn arbitrary_memo_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..=28)) {
            let t = MemoText::new(bytes.clone()).unwrap();
            if let Some(r) = Reference::from_memo_text(&t) {
                prop_assert_eq!(r.to_string().into_bytes(), bytes);
            }
        }
    }
}
