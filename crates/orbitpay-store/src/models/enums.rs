//! Rust <-> PostgreSQL enum mappings. The wire form is the label text, which
//! is exactly the domain types' `as_str()`, so the two cannot drift silently:
//! an unknown label is a deserialisation error.

use std::io::Write as _;

use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use orbitpay_core::{SessionStatus, UnmatchedReason};

use crate::schema::sql_types;

/// State of one webhook delivery; the dispatcher leases `pending` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = sql_types::WebhookDeliveryState)]
pub enum DeliveryState {
    Pending,
    Delivering,
    Delivered,
    /// Gave up after the retry budget; needs an operator.
    Dead,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] = [
        DeliveryState::Pending,
        DeliveryState::Delivering,
        DeliveryState::Delivered,
        DeliveryState::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivering => "delivering",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        DeliveryState::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a webhook delivery state"))
    }
}

/// Implements the label mapping for an enum with `as_str()` and `FromStr`.
macro_rules! pg_enum {
    ($ty:ty, $sql:ty) => {
        impl ToSql<$sql, Pg> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.as_str().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl FromSql<$sql, Pg> for $ty {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                Ok(std::str::from_utf8(bytes.as_bytes())?.parse::<$ty>()?)
            }
        }
    };
}

/// The core's enums are foreign here, and coherence forbids `AsExpression` on
/// a foreign type, so binding one as a query parameter goes through a local
/// wrapper: `sessions::status.eq(PgSessionStatus(SessionStatus::Paid))`.
/// Reading needs no wrapper.
macro_rules! pg_foreign_enum {
    ($ty:ident, $sql:ty, $wrapper:ident) => {
        pg_enum!($ty, $sql);

        #[doc = concat!("Binds a [`", stringify!($ty), "`] as a query parameter.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression)]
        #[diesel(sql_type = $sql)]
        pub struct $wrapper(pub $ty);

        impl From<$ty> for $wrapper {
            fn from(v: $ty) -> Self {
                $wrapper(v)
            }
        }

        impl ToSql<$sql, Pg> for $wrapper {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <$ty as ToSql<$sql, Pg>>::to_sql(&self.0, out)
            }
        }

        impl Queryable<$sql, Pg> for $ty {
            type Row = Self;

            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }
    };
}

pg_enum!(DeliveryState, sql_types::WebhookDeliveryState);
pg_foreign_enum!(SessionStatus, sql_types::SessionStatus, PgSessionStatus);
pg_foreign_enum!(
    UnmatchedReason,
    sql_types::UnmatchedReason,
    PgUnmatchedReason
);
