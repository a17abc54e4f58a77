-- oncommit's outbox, per-key order (SQLite): the job's ordering key (Job::key). A key's jobs
-- are claimed one at a time, oldest first; NULL: unordered. Add after 0001 to your own
-- migrations, or run `oncommit::outbox::migrate` (which adds it when it is missing).
ALTER TABLE oncommit_outbox ADD COLUMN ordering_key TEXT;
CREATE INDEX oncommit_outbox_ordering_key ON oncommit_outbox (ordering_key, id)
    WHERE ordering_key IS NOT NULL;
