//! The database must be UTF8. Payers choose the text orbitpay stores (a memo, say); in a
//! LATIN1 (or any other) database a character that encoding lacks fails with 22P05, a data
//! exception, which is fatal to the record and halts its account on every instance. So the
//! daemon refuses such a database at start instead.

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};

use crate::StoreError;

#[derive(diesel::QueryableByName)]
struct Encoding {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    encoding: String,
}

/// `Ok` when the connection's database is UTF8; else [`StoreError::DatabaseEncoding`], whose
/// message says how to make one that is.
pub async fn check_utf8(conn: &mut AsyncPgConnection) -> Result<(), StoreError> {
    let found = diesel::sql_query(
        "SELECT datname::text AS name, pg_encoding_to_char(encoding)::text AS encoding \
         FROM pg_database WHERE datname = current_database()",
    )
    .get_result::<Encoding>(conn)
    .await?;
    if found.encoding == "UTF8" {
        Ok(())
    } else {
        Err(StoreError::DatabaseEncoding {
            database: found.name,
            encoding: found.encoding,
        })
    }
}
