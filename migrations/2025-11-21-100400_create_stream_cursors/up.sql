-- Where each account's payment stream resumes (Horizon paging token).
CREATE TABLE stream_cursors (
    account text PRIMARY KEY,
    paging_token bigint NOT NULL CHECK (paging_token >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
