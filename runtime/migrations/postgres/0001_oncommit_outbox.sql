-- oncommit's transactional outbox (Postgres). Add to your own migrations, or run
-- `oncommit::outbox::migrate`.
CREATE TABLE IF NOT EXISTS oncommit_outbox (
    id          uuid        PRIMARY KEY,
    topic       text        NOT NULL,
    payload     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer     NOT NULL DEFAULT 0,
    lease_until timestamptz,
    last_error  text
);
CREATE INDEX IF NOT EXISTS oncommit_outbox_lease ON oncommit_outbox (lease_until, created_at);
