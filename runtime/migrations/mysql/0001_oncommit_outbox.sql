-- oncommit's transactional outbox (MySQL, MariaDB). Add to your own migrations, or run
-- `oncommit::outbox::migrate`.
CREATE TABLE IF NOT EXISTS oncommit_outbox (
    id          CHAR(36)     NOT NULL PRIMARY KEY,
    topic       VARCHAR(255) NOT NULL,
    payload     LONGTEXT     NOT NULL,
    created_at  TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    attempts    INT          NOT NULL DEFAULT 0,
    lease_until TIMESTAMP(6) NULL,
    last_error  TEXT         NULL,
    INDEX oncommit_outbox_lease (lease_until, created_at),
    -- a relay of some topics scans (and locks, FOR UPDATE) only their rows
    INDEX oncommit_outbox_topic (topic, created_at)
);
-- Jobs the relay gave up on after its maximum number of attempts, with their last error.
CREATE TABLE IF NOT EXISTS oncommit_outbox_dead (
    id         CHAR(36)     NOT NULL PRIMARY KEY,
    topic      VARCHAR(255) NOT NULL,
    payload    LONGTEXT     NOT NULL,
    created_at TIMESTAMP(6) NOT NULL,
    attempts   INT          NOT NULL,
    last_error TEXT         NULL,
    dead_at    TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
);
