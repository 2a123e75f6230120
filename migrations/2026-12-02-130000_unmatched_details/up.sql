-- A credit that would take a session's amount_received past int8 stroops is recorded, not a
-- halt. diesel runs each migration in its own transaction; since PostgreSQL 12 ADD VALUE may
-- run inside one, as long as the new value is not used before it commits (nothing here uses it).
ALTER TYPE unmatched_reason ADD VALUE IF NOT EXISTS 'amount_overflow';
