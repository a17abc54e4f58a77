-- oncommit's consumer inbox (MySQL, MariaDB): the message ids a consumer has handled,
-- written in the same transaction as the handling's effects. Add to your own migrations, or
-- run `oncommit::outbox::inbox::migrate`.
CREATE TABLE IF NOT EXISTS oncommit_inbox (
    id          CHAR(36)     NOT NULL PRIMARY KEY,
    received_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    -- `inbox::expire` deletes the oldest ids.
    INDEX oncommit_inbox_received (received_at)
);
