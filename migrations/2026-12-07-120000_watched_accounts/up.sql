-- The accounts orbitpay watches, as data: added through the admin API (or applied from the
-- config's `accounts` list at start) and removed through it, without a restart. Removal
-- deletes the row; the account's cursor row in stream_cursors stays, as do its sessions and
-- payments (a re-add sets the cursor to its new start, so nothing sent while it was not
-- watched is credited).
CREATE TABLE watched_accounts (
    address text PRIMARY KEY CHECK (address ~ '^G[A-Z2-7]{55}$'),
    label text NOT NULL DEFAULT '' CHECK (char_length(label) <= 200),
    -- As given: `now` or a paging token, so a repeated add compares what the client sent.
    start_cursor text NOT NULL CHECK (start_cursor = 'now' OR start_cursor ~ '^[0-9]{1,19}$'),
    -- The token ingestion starts after: `now` resolved at add time (the ledger's position
    -- then), so a restart cannot move it. NULL only for a config account added while no
    -- ledger was reachable: its follower resolves `now` on its first run and stores it.
    start_token bigint CHECK (start_token >= 0),
    -- Who added it: `config` or `api`. Applying the config never removes an account.
    added_by text NOT NULL CHECK (added_by IN ('config', 'api')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every instance LISTENs here and re-reads the table, so a change takes effect at once.
CREATE FUNCTION orbitpay_watched_accounts_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('orbitpay_watched_accounts', coalesce(NEW.address, OLD.address));
    RETURN NULL;
END
$$;
CREATE TRIGGER watched_accounts_notify
    AFTER INSERT OR UPDATE OR DELETE ON watched_accounts
    FOR EACH ROW EXECUTE FUNCTION orbitpay_watched_accounts_notify();
