//! Row types for every table.
//!
//! `*Row` structs mirror a table column for column (Queryable/Selectable);
//! `New*` structs are what an INSERT supplies (defaults such as ids and
//! timestamps are left to the database). Columns with a domain meaning that
//! diesel cannot express (amounts, addresses, hashes) stay primitive here and
//! are parsed once, in domain types such as [`Session`], so an invalid stored
//! value is an error instead of a silently wrong value.

mod account;
mod cursor;
mod enums;
mod idempotency;
mod outbox;
mod outgoing;
mod payment;
mod refund;
mod session;
mod unmatched;
mod unreadable;

pub use account::WatchedAccountRow;
pub use cursor::StreamCursorRow;
pub use enums::{DeliveryState, PgSessionStatus, PgUnmatchedReason};
pub use idempotency::{IdempotencyKeyRow, NewIdempotencyKey};
pub use orbitpay_core::{SessionStatus, UnmatchedReason};
pub use outbox::{NewOutboxEvent, NewWebhookDelivery, OutboxEventRow, WebhookDeliveryRow};
pub use outgoing::{NewOutgoingPayment, OutgoingPaymentRow};
pub use payment::{NewPayment, PaymentOperationRow, PaymentRow};
pub use refund::RefundRow;
pub use session::{ClaimSource, NewSession, NewSessionRow, ProcessingClaim, Session, SessionRow};
pub use unmatched::{NewUnmatchedPayment, UnmatchedPaymentRow};
pub use unreadable::{NewUnreadableRecord, UnreadableRecordRow};
