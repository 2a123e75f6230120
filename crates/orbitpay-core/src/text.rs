//! Payer-controlled bytes made safe for a text column, a log line or a terminal.
//!
//! PostgreSQL's `text` refuses NUL and invalid UTF-8, and a stranger decides what a memo, an
//! asset code or an unknown field holds. The exact bytes are kept elsewhere (`bytea`); this
//! rendering is for people, and it is lossless so it can never merge two different values:
//!
//! - printable UTF-8 characters stay as they are, except `\`, which becomes `\\`;
//! - every byte of a control character (C0, DEL, C1) and every byte that is not part of valid
//!   UTF-8 becomes `\xNN` (two lowercase hex digits).
//!
//! So `b"42\0"` renders as `42\x00`, `b"a\xffb"` as `a\xffb`, and `b"caf\xc3\xa9"` as `café`.

use std::fmt::Write as _;

/// The escaped rendering of `bytes` (see the module documentation).
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if c.is_control() {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    push_hex(&mut out, b);
                }
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            push_hex(&mut out, b);
        }
    }
    out
}

/// [`escape`], then cut to at most `max_chars` characters (a trailing `...` marks the cut), for
/// free-form text such as an error's detail that a stranger's input may have made huge.
pub fn escape_bounded(s: &str, max_chars: usize) -> String {
    let escaped = escape(s.as_bytes());
    if escaped.chars().count() <= max_chars {
        return escaped;
    }
    let mut cut: String = escaped.chars().take(max_chars.saturating_sub(3)).collect();
    cut.push_str("...");
    cut
}

fn push_hex(out: &mut String, b: u8) {
    let _ = write!(out, "\\x{b:02x}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The inverse of [`escape`]: proof that the rendering loses nothing.
    fn unescape(s: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find('\\') {
            out.extend_from_slice(&rest.as_bytes()[..i]);
            rest = &rest[i + 1..];
            if let Some(r) = rest.strip_prefix('\\') {
                out.push(b'\\');
                rest = r;
            } else {
                let hex = rest.strip_prefix('x')?.get(..2)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &rest[3..];
            }
        }
        out.extend_from_slice(rest.as_bytes());
        Some(out)
    }

    #[test]
    fn nul_invalid_bytes_and_backslashes_are_escaped_printable_text_is_kept() {
        assert_eq!(escape(b"42\0"), "42\\x00");
        assert_eq!(escape(b"a\xffb"), "a\\xffb");
        assert_eq!(escape("café ✓".as_bytes()), "café ✓");
        assert_eq!(escape(b"a\\x00"), "a\\\\x00");
        assert_eq!(escape(b"\t\n\x7f"), "\\x09\\x0a\\x7f");
        assert_eq!(escape("\u{85}".as_bytes()), "\\xc2\\x85", "C1 control");
        assert_eq!(escape(b"\xe2\x82"), "\\xe2\\x82", "truncated sequence");
    }

    #[test]
    fn bounded_text_is_cut_with_a_mark() {
        assert_eq!(escape_bounded("abc", 3), "abc");
        assert_eq!(escape_bounded("abcdef", 5), "ab...");
        assert_eq!(escape_bounded("\0\0", 100), "\\x00\\x00");
    }

    proptest! {
        #[test]
        fn the_rendering_is_lossless_and_free_of_nul_and_control_characters(
            bytes in prop::collection::vec(any::<u8>(), 0..64)
        ) {
            let s = escape(&bytes);
            prop_assert!(!s.chars().any(char::is_control), "{s:?}");
            prop_assert_eq!(unescape(&s), Some(bytes));
        }
    }
}
