-- oncommit's transactional outbox (SQLite). Add to your own migrations, or run
-- `oncommit::outbox::migrate`.
CREATE TABLE IF NOT EXISTS oncommit_outbox (
    id          TEXT    NOT NULL PRIMARY KEY,
    topic       TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until TEXT,
    last_error  TEXT,
    -- Job::key: a key's jobs are claimed one at a time, oldest first (NULL: unordered)
    ordering_key TEXT
);
-- A table made by an earlier version (without ordering_key) needs, once:
--   ALTER TABLE oncommit_outbox ADD COLUMN ordering_key TEXT;
CREATE INDEX IF NOT EXISTS oncommit_outbox_ordering_key ON oncommit_outbox (ordering_key, id)
    WHERE ordering_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS oncommit_outbox_lease ON oncommit_outbox (lease_until, created_at);
-- Jobs the relay gave up on after its maximum number of attempts, with their last error.
CREATE TABLE IF NOT EXISTS oncommit_outbox_dead (
    id         TEXT    NOT NULL PRIMARY KEY,
    topic      TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    last_error TEXT,
    dead_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
