-- What a payer chose (memo bytes, unknown fields) is stored exactly in bytea; text columns
-- only ever hold an escaped rendering, since PostgreSQL's text refuses NUL and invalid UTF-8.

COMMENT ON COLUMN unmatched_payments.memo_bytes IS
    'The memo''s exact bytes: a text memo (0-28 bytes, any values) or a hash/return memo (32).';
COMMENT ON COLUMN unmatched_payments.memo_value IS
    'For people, not for matching: an id memo in decimal, a hash/return memo in hex, a text memo '
    'escaped (printable UTF-8 kept, backslash as \\, control characters and invalid bytes as \xNN). '
    'Rows written before this migration hold a lossy UTF-8 rendering; memo_bytes is exact.';
COMMENT ON COLUMN unmatched_payments.detail IS
    'Why the record matched nothing; quotes of what the source sent are escaped like memo_value.';

-- Hash and return memos now keep their bytes too.
UPDATE unmatched_payments SET memo_bytes = decode(memo_value, 'hex')
    WHERE memo_type IN ('hash', 'return') AND memo_bytes IS NULL AND memo_value ~ '^[0-9a-f]{64}$';

ALTER TABLE unmatched_payments ADD CONSTRAINT unmatched_payments_memo_bytes_len
    CHECK (octet_length(memo_bytes) <= 32);
