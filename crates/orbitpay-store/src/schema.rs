//! Diesel's view of the tables in `migrations/`. Hand-written (no diesel CLI in
//! the toolchain); the integration tests load every column of every table, so a
//! drift between this file and the migrations fails a test rather than a query in
//! production.

pub mod sql_types {
    /// `CREATE TYPE session_status AS ENUM (...)`; maps to
    /// [`orbitpay_core::SessionStatus`].
    #[derive(diesel::query_builder::QueryId, Clone, Copy, Debug, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "session_status"))]
    pub struct SessionStatus;

    /// `CREATE TYPE unmatched_reason AS ENUM (...)`; maps to
    /// [`crate::models::UnmatchedReason`].
    #[derive(diesel::query_builder::QueryId, Clone, Copy, Debug, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "unmatched_reason"))]
    pub struct UnmatchedReason;

    /// `CREATE TYPE webhook_delivery_state AS ENUM (...)`; maps to
    /// [`crate::models::DeliveryState`].
    #[derive(diesel::query_builder::QueryId, Clone, Copy, Debug, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "webhook_delivery_state"))]
    pub struct WebhookDeliveryState;
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::SessionStatus;

    sessions (id) {
        id -> Uuid,
        account -> Text,
        reference -> Numeric,
        asset -> Text,
        amount -> Int8,
        amount_received -> Int8,
        status -> SessionStatus,
        processing_tx_hash -> Nullable<Text>,
        processing_started_at -> Nullable<Timestamptz>,
        expires_at -> Timestamptz,
        metadata -> Jsonb,
        order_id -> Nullable<Text>,
        webhook_url -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
        claim_source -> Nullable<Text>,
    }
}

diesel::table! {
    payments (id) {
        id -> Int8,
        session_id -> Uuid,
        tx_hash -> Text,
        amount -> Int8,
        asset -> Text,
        ledger -> Int4,
        created_at -> Timestamptz,
        inner_tx_hash -> Nullable<Text>,
        from_address -> Nullable<Text>,
    }
}

diesel::table! {
    payment_operations (account, op_id) {
        op_id -> Int8,
        payment_id -> Int8,
        amount -> Int8,
        account -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::UnmatchedReason;

    unmatched_payments (id) {
        id -> Int8,
        op_id -> Int8,
        tx_hash -> Text,
        account -> Text,
        amount -> Nullable<Numeric>,
        asset -> Nullable<Text>,
        from_address -> Nullable<Text>,
        memo_type -> Nullable<Text>,
        memo_value -> Nullable<Text>,
        memo_bytes -> Nullable<Bytea>,
        muxed_id -> Nullable<Numeric>,
        reason -> UnmatchedReason,
        session_id -> Nullable<Uuid>,
        ledger -> Nullable<Int4>,
        detail -> Nullable<Text>,
        created_at -> Timestamptz,
        raw_operation -> Nullable<Jsonb>,
    }
}

diesel::table! {
    idempotency_keys (key) {
        key -> Text,
        request_fingerprint -> Bytea,
        response_status -> Nullable<Int2>,
        response_body -> Nullable<Bytea>,
        locked_at -> Nullable<Timestamptz>,
        session_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    stream_cursors (account) {
        account -> Text,
        paging_token -> Int8,
        updated_at -> Timestamptz,
        first_token -> Nullable<Int8>,
    }
}

diesel::table! {
    outbox_events (id) {
        id -> Int8,
        event_id -> Uuid,
        event_type -> Text,
        session_id -> Nullable<Uuid>,
        payload -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::WebhookDeliveryState;

    webhook_deliveries (id) {
        id -> Int8,
        event_id -> Uuid,
        url -> Text,
        state -> WebhookDeliveryState,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamptz>,
        last_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        retried_at -> Nullable<Timestamptz>,
        lease_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    webhook_endpoints (url) {
        url -> Text,
        is_default -> Bool,
        disabled_at -> Nullable<Timestamptz>,
        disabled_reason -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Int8,
        delivery_id -> Int8,
        attempt -> Int4,
        lease_owner -> Text,
        started_at -> Timestamptz,
        latency_ms -> Int4,
        status -> Nullable<Int4>,
        error -> Nullable<Text>,
        response_snippet -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));

diesel::table! {
    unreadable_records (account, paging_token) {
        account -> Text,
        paging_token -> Int8,
        raw -> Bytea,
        raw_truncated -> Bool,
        parse_error -> Text,
        attempts -> Int4,
        first_seen -> Timestamptz,
        last_seen -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    watched_accounts (address) {
        address -> Text,
        label -> Text,
        start_cursor -> Text,
        start_token -> Nullable<Int8>,
        added_by -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(payments -> sessions (session_id));
diesel::joinable!(payment_operations -> payments (payment_id));
diesel::joinable!(unmatched_payments -> sessions (session_id));
diesel::joinable!(idempotency_keys -> sessions (session_id));
diesel::joinable!(outbox_events -> sessions (session_id));

diesel::allow_tables_to_appear_in_same_query!(
    sessions,
    payments,
    payment_operations,
    unmatched_payments,
    idempotency_keys,
    stream_cursors,
    outbox_events,
    webhook_deliveries,
    webhook_endpoints,
    webhook_attempts,
    unreadable_records,
    watched_accounts,
    refunds,
    outgoing_payments,
);

diesel::table! {
    refunds (id) {
        id -> Uuid,
        unmatched_id -> Nullable<Int8>,
        session_id -> Nullable<Uuid>,
        account -> Text,
        amount -> Int8,
        asset -> Text,
        destination -> Text,
        memo_type -> Text,
        memo_value -> Nullable<Text>,
        memo_bytes -> Nullable<Bytea>,
        method -> Text,
        status -> Text,
        envelope_xdr -> Text,
        sequence -> Int8,
        valid_until -> Timestamptz,
        tx_hash -> Nullable<Text>,
        closed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    outgoing_payments (id) {
        id -> Int8,
        account -> Text,
        op_id -> Int8,
        tx_hash -> Text,
        ledger -> Int4,
        closed_at -> Nullable<Timestamptz>,
        method -> Text,
        destination -> Nullable<Text>,
        asset -> Text,
        amount -> Int8,
        memo_type -> Text,
        memo_value -> Nullable<Text>,
        memo_bytes -> Nullable<Bytea>,
        refund_id -> Nullable<Uuid>,
        reason -> Nullable<Text>,
        near_refund_id -> Nullable<Uuid>,
        raw_operation -> Nullable<Jsonb>,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(outgoing_payments -> refunds (refund_id));
