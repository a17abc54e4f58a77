-- oncommit's transactional outbox (Postgres). Add to your own migrations, or run
-- `oncommit::outbox::migrate`.
CREATE TABLE IF NOT EXISTS oncommit_outbox (
    id          uuid        PRIMARY KEY,
    topic       text        NOT NULL,
    -- json, not jsonb: delivered byte for byte as it was serialized, and cheaper to write
    payload     json        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer     NOT NULL DEFAULT 0,
    lease_until timestamptz,
    last_error  text
)
-- Half of each page is left free, so that a relay's claim (which sets lease_until and
-- attempts, no indexed column) writes the new row version in the same page: a HOT update,
-- with no index entry to add. Rows normally live for seconds: the space costs little.
WITH (fillfactor = 50);
-- No index but the primary key: a relay claims the oldest unclaimed rows in message id order
-- (UUIDv7: the order they were enqueued), which the primary key gives, and a second index
-- would be written with every job.
-- Jobs the relay gave up on after its maximum number of attempts, with their last error.
CREATE TABLE IF NOT EXISTS oncommit_outbox_dead (
    id         uuid        PRIMARY KEY,
    topic      text        NOT NULL,
    payload    json        NOT NULL,
    created_at timestamptz NOT NULL,
    attempts   integer     NOT NULL,
    last_error text,
    dead_at    timestamptz NOT NULL DEFAULT now()
);
