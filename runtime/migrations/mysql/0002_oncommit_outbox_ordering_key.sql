-- oncommit's outbox, per-key order (MySQL, MariaDB): the job's ordering key (Job::key, at
-- most 255 characters). A key's jobs are claimed one at a time, oldest first; NULL:
-- unordered. Add after 0001 to your own migrations, or run `oncommit::outbox::migrate`
-- (which adds it when it is missing).
ALTER TABLE oncommit_outbox
    ADD COLUMN ordering_key VARCHAR(255) NULL,
    ADD INDEX oncommit_outbox_ordering_key (ordering_key, id);
