-- Mail outbox (package mail): every transactional mail is a row written in the transaction
-- of the event that causes it, and sent later by a background job, so that no request waits
-- on SMTP and no mail is sent for an event that rolled back.
--
-- A row holds no health data. template names the kind of mail and language its language;
-- params holds a link (which may carry a sign-in or invitation secret), an expiry and an
-- amount, sealed with XChaCha20-Poly1305 under the outbox key with the row's id, recipient,
-- template and language as associated data. Once a mail is sent (sent_at) or given up
-- (dead_at), its recipient and params are wiped and the row is final: nothing can make it
-- pending again, so a mail recorded as sent is never sent again. last_error_class is a short
-- code (smtp_rcpt_550, smtp_dial_timeout), never the server's text, which may quote addresses.
-- Times are written by the service from its own clock, never by now(), so that tests can move it.
CREATE TABLE mail_outbox (
    id               uuid PRIMARY KEY,
    recipient        text CHECK (recipient <> ''),
    template         text NOT NULL CHECK (template ~ '^[a-z][a-z_]{0,39}$'),
    language         text NOT NULL CHECK (language IN ('en', 'it', 'es')),
    params           bytea,
    created_at       timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL,
    sent_at          timestamptz,
    dead_at          timestamptz,
    last_error_class text CHECK (last_error_class ~ '^[a-z0-9_]{1,40}$'),
    CHECK (sent_at IS NULL OR dead_at IS NULL),
    CHECK ((sent_at IS NULL AND dead_at IS NULL) = (recipient IS NOT NULL AND params IS NOT NULL))
);
-- Deliver claims due rows in this order; Pending counts them.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND dead_at IS NULL;
-- Purge deletes finished rows by age.
CREATE INDEX mail_outbox_finished ON mail_outbox ((coalesce(sent_at, dead_at)));

CREATE FUNCTION mail_outbox_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'mail % is sent or given up: it cannot change', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER mail_outbox_final BEFORE UPDATE ON mail_outbox
    FOR EACH ROW WHEN (OLD.sent_at IS NOT NULL OR OLD.dead_at IS NOT NULL)
    EXECUTE FUNCTION mail_outbox_final();

-- The runtime inserts rows, records attempts and outcomes, and purges; it cannot rewrite what
-- a mail is (id, template, language, created_at) nor, through the CHECK and the trigger,
-- reopen a finished one. UPDATE on some columns is also what SELECT … FOR UPDATE needs.
GRANT SELECT, DELETE ON mail_outbox TO secondopinion_runtime;
GRANT INSERT (id, recipient, template, language, params, created_at, next_attempt_at) ON mail_outbox TO secondopinion_runtime;
GRANT UPDATE (recipient, params, attempts, next_attempt_at, sent_at, dead_at, last_error_class)
    ON mail_outbox TO secondopinion_runtime;
