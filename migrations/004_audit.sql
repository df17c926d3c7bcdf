-- The audit log: append-only entries, their Merkle tree hashes and signed checkpoints.
--
-- audit_entries.seq is the entry's index in the RFC 6962 tree (0, 1, 2, ...). The writer
-- assigns it as last+1 under a transaction advisory lock, and the insert trigger below
-- refuses any other value, so the sequence has no gaps even if a caller misbehaves.
-- audit_hashes holds the tree's stored hashes (golang.org/x/mod/sumdb/tlog indexing),
-- so inclusion proofs and checkpoints never recompute the tree. audit_checkpoints holds
-- the signed tree heads (C2SP tlog-checkpoint notes).
--
-- The runtime role may INSERT and SELECT, nothing else; triggers reject UPDATE, DELETE
-- and TRUNCATE for everyone, the owner included, unless the owner disables them (which
-- `audit verify` then detects through the hashes and the signed checkpoints).

CREATE TABLE audit_entries (
    seq          bigint PRIMARY KEY CHECK (seq >= 0),
    recorded_at  timestamptz NOT NULL,
    actor_id     text NOT NULL DEFAULT '',
    actor_role   text NOT NULL DEFAULT '',
    on_behalf_of text NOT NULL DEFAULT '',
    action       text NOT NULL CHECK (action <> ''),
    object_type  text NOT NULL DEFAULT '',
    object_id    text NOT NULL DEFAULT '',
    case_id      text NOT NULL DEFAULT '',
    client_ip    text NOT NULL DEFAULT '',
    user_agent   text NOT NULL DEFAULT '',
    request_id   text NOT NULL DEFAULT '',
    outcome      smallint NOT NULL CHECK (outcome IN (0, 4, 8, 12)),
    purpose      text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT ''
);
CREATE INDEX audit_entries_case ON audit_entries (case_id, seq) WHERE case_id <> '';
CREATE INDEX audit_entries_actor ON audit_entries (actor_id, seq) WHERE actor_id <> '';
CREATE INDEX audit_entries_action ON audit_entries (action, seq);
CREATE INDEX audit_entries_time ON audit_entries (recorded_at);

CREATE TABLE audit_hashes (
    idx  bigint PRIMARY KEY CHECK (idx >= 0),
    hash bytea NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE TABLE audit_checkpoints (
    size       bigint PRIMARY KEY CHECK (size > 0),
    root_hash  bytea NOT NULL CHECK (octet_length(root_hash) = 32),
    note       text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit tables are append-only: % on % rejected', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Row-level BEFORE triggers see the rows an INSERT has already written, so a batch
-- inserted in one statement is checked entry by entry.
CREATE FUNCTION audit_entries_next_seq() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    want bigint;
BEGIN
    SELECT coalesce(max(seq) + 1, 0) INTO want FROM audit_entries;
    IF NEW.seq <> want THEN
        RAISE EXCEPTION 'audit entry seq % out of order: next is %', NEW.seq, want
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_entries_gap_free BEFORE INSERT ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_next_seq();

CREATE TRIGGER audit_entries_no_update BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_hashes_no_update BEFORE UPDATE OR DELETE ON audit_hashes
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_hashes_no_truncate BEFORE TRUNCATE ON audit_hashes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();

GRANT SELECT, INSERT ON audit_entries, audit_hashes, audit_checkpoints TO secondopinion_runtime;
