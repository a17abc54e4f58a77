-- oncommit's transactional outbox (SQLite). Add to your own migrations, or run
-- `oncommit::outbox::migrate`.
CREATE TABLE IF NOT EXISTS oncommit_outbox (
    id          TEXT    NOT NULL PRIMARY KEY,
    topic       TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until TEXT,
    last_error  TEXT
);
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
