//! Go's `encoding/json` output: Go's escaping, Horizon's indentation.

use std::io;

use serde::Serialize;

struct GoEscape<F>(F);

fn go_fragment<W: ?Sized + io::Write>(w: &mut W, s: &str) -> io::Result<()> {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '&' => "\\u0026",
            '<' => "\\u003c",
            '>' => "\\u003e",
            '\u{2028}' => "\\u2028",
            '\u{2029}' => "\\u2029",
            _ => continue,
        };
        w.write_all(&s.as_bytes()[start..i])?;
        w.write_all(esc.as_bytes())?;
        start = i + c.len_utf8();
    }
    w.write_all(&s.as_bytes()[start..])
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $t:ty),*)),* $(,)?) => {
        $(fn $name<W: ?Sized + io::Write>(&mut self, w: &mut W $(, $arg: $t)*) -> io::Result<()> {
            self.0.$name(w $(, $arg)*)
        })*
    };
}

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for GoEscape<F> {
    delegate!(
        begin_array(),
        end_array(),
        begin_array_value(first: bool),
        end_array_value(),
        begin_object(),
        end_object(),
        begin_object_key(first: bool),
        begin_object_value(),
        end_object_value(),
    );

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        go_fragment(w, fragment)
    }
}

/// Indented JSON as Horizon's REST responses are written (two spaces, Go escaping).
pub fn to_pretty<T: Serialize>(v: &T) -> String {
    let mut out = Vec::with_capacity(1024);
    let fmt = GoEscape(serde_json::ser::PrettyFormatter::with_indent(b"  "));
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("serializable");
    String::from_utf8(out).expect("utf-8")
}

/// One-line JSON as Horizon's SSE `data:` lines are written (Go escaping).
pub fn to_compact<T: Serialize>(v: &T) -> String {
    let mut out = Vec::with_capacity(1024);
    let fmt = GoEscape(serde_json::ser::CompactFormatter);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("serializable");
    String::from_utf8(out).expect("utf-8")
}
