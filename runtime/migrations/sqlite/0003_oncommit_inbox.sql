-- oncommit's consumer inbox (SQLite): the message ids a consumer has handled, written in the
-- same transaction as the handling's effects. Add to your own migrations, or run
-- `oncommit::outbox::inbox::migrate`.
CREATE TABLE IF NOT EXISTS oncommit_inbox (
    id          TEXT NOT NULL PRIMARY KEY,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- `inbox::expire` deletes the oldest ids.
CREATE INDEX IF NOT EXISTS oncommit_inbox_received ON oncommit_inbox (received_at);
