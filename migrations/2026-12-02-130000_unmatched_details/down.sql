-- PostgreSQL cannot drop an enum value: the type is rebuilt without it. Rows recorded as
-- amount_overflow keep their money and session, under the nearest older reason.
ALTER TYPE unmatched_reason RENAME TO unmatched_reason_old;
CREATE TYPE unmatched_reason AS ENUM (
    'unknown_reference',
    'wrong_asset',
    'already_paid',
    'session_expired',
    'session_cancelled',
    'ambiguous_reference',
    'unsupported_operation',
    'no_reference'
);
ALTER TABLE unmatched_payments ALTER COLUMN reason TYPE unmatched_reason USING (
    CASE reason::text WHEN 'amount_overflow' THEN 'unsupported_operation' ELSE reason::text END
)::unmatched_reason;
DROP TYPE unmatched_reason_old;
