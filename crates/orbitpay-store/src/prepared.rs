//! Raw SQL that stays prepared on its connection.
//!
//! `diesel::sql_query` marks every statement unsafe to cache (its text could be built at run
//! time), so diesel-async prepares it again on each call: one more round trip, and PostgreSQL
//! parses and plans it every time. The hot statements (the outbox insert and its fan-out, the
//! idempotency key) are constants, so [`prepared`] takes a `&'static str` and lets diesel's
//! statement cache keep them, keyed by their text and bind types.

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};

/// A constant statement with `$1`, `$2`, ... placeholders; bind them in order with
/// [`Prepared::bind`], then `execute` or `load` it as with `sql_query`.
pub fn prepared<'a>(sql: &'static str) -> Prepared<'a> {
    Prepared {
        sql,
        binds: Vec::new(),
    }
}

pub struct Prepared<'a> {
    sql: &'static str,
    binds: Vec<Box<dyn Bind + Send + 'a>>,
}

impl<'a> Prepared<'a> {
    /// Binds the next placeholder (`$1` first).
    pub fn bind<ST, T>(mut self, value: T) -> Self
    where
        Pg: HasSqlType<ST>,
        T: ToSql<ST, Pg> + Send + 'a,
        ST: Send + 'a,
    {
        self.binds.push(Box::new(Typed(value, PhantomData::<ST>)));
        self
    }
}

trait Bind {
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

struct Typed<T, ST>(T, PhantomData<ST>);

impl<T, ST> Bind for Typed<T, ST>
where
    Pg: HasSqlType<ST>,
    T: ToSql<ST, Pg>,
{
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<ST, T>(&self.0)
    }
}

/// Splits `sql` at its `$n` placeholders (outside quoted literals and identifiers): the text
/// before each, and its bind index.
fn pieces(sql: &str) -> impl Iterator<Item = (&str, Option<usize>)> {
    let bytes = sql.as_bytes();
    let (mut start, mut i, mut quote) = (0, 0, None::<u8>);
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'\'' || b == b'"' => quote = Some(b),
                None if b == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                    let digits = bytes[i + 1..]
                        .iter()
                        .take_while(|d| d.is_ascii_digit())
                        .count();
                    let n: usize = sql[i + 1..i + 1 + digits].parse().ok()?;
                    let text = &sql[start..i];
                    i += 1 + digits;
                    start = i;
                    return Some((text, Some(n)));
                }
                None => {}
            }
            i += 1;
        }
        if start <= bytes.len() {
            let text = &sql[start..];
            start = bytes.len() + 1;
            return Some((text, None));
        }
        None
    })
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Each placeholder becomes a bind of its own, in text order (a repeated `$1` is bound
        // twice): diesel numbers them itself.
        for (text, n) in pieces(self.sql) {
            out.push_sql(text);
            if let Some(n) = n {
                let bind = n
                    .checked_sub(1)
                    .and_then(|i| self.binds.get(i))
                    .ok_or_else(|| {
                        diesel::result::Error::QueryBuilderError(
                            format!("${n} has no bound value").into(),
                        )
                    })?;
                bind.push(&mut out)?;
            }
        }
        Ok(())
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

/// Asserts, for the tests, that a statement's text is what diesel prepares.
#[cfg(test)]
fn debug_sql(p: &Prepared<'_>) -> String {
    diesel::debug_query::<Pg, _>(p).to_string()
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::{BigInt, Text};

    use super::*;

    #[test]
    fn placeholders_are_split_outside_quotes() {
        let got: Vec<_> = pieces("SELECT $1::int8, '$2', \"$3\", $12 x").collect();
        assert_eq!(
            got,
            vec![
                ("SELECT ", Some(1)),
                ("::int8, '$2', \"$3\", ", Some(12)),
                (" x", None)
            ]
        );
    }

    #[test]
    fn binds_follow_the_placeholders_in_text_order() {
        let p = prepared("SELECT $2, $1, $1")
            .bind::<BigInt, _>(7_i64)
            .bind::<Text, _>("x");
        assert_eq!(debug_sql(&p), r#"SELECT $1, $2, $3 -- binds: ["x", 7, 7]"#);
    }
}
