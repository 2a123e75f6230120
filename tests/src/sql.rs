//! Plain SQL for the checker: every value as text (`simple_query`), so a query reads like the
//! invariant it checks and no row type is declared for it.

use tokio_postgres::{NoTls, SimpleQueryMessage};

pub struct Sql(tokio_postgres::Client);

/// One row: column values as text, `None` for NULL.
pub type Row = Vec<Option<String>>;

impl Sql {
    pub async fn connect(url: &str) -> Sql {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .unwrap_or_else(|e| panic!("checker: cannot connect to {url}: {e}"));
        tokio::spawn(connection);
        Sql(client)
    }

    pub async fn rows(&self, sql: &str) -> Vec<Row> {
        let messages = self
            .0
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    /// The first column of the first row, parsed as i64 (`count(*)`, an id).
    pub async fn scalar(&self, sql: &str) -> Option<i64> {
        self.rows(sql)
            .await
            .first()
            .and_then(|r| r[0].as_ref())
            .map(|v| v.parse().unwrap())
    }

    pub async fn exec(&self, sql: &str) {
        self.0
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}
