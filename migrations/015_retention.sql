-- Retention, legal hold and erasure (cases owns these tables; DESIGN §8, GDPR Art. 17).
--
-- Erasing a case crypto-shreds and deletes its documents one by one (vault, then the
-- registry row), then deletes the case's row, which takes with it every row that holds the
-- case's health data or names its people: the history (notes), document requests
-- (messages), payments, extras, assignments, invitations and consent records (signer's
-- name). What remains is a tombstone without health data, and the audit entries, which
-- never held any.
--
-- The runtime role cannot delete history, requests, payments, extras or consent records on
-- their own: only deleting the case removes them (referential actions run as the tables'
-- owner). Documents keep a plain reference, so a case whose documents were not all erased
-- (their objects deleted) cannot be deleted, and a case under legal hold cannot be deleted
-- at all: the hold's row refers to it without a cascade.

ALTER TABLE case_events DROP CONSTRAINT case_events_case_id_fkey,
    ADD CONSTRAINT case_events_case_id_fkey FOREIGN KEY (case_id) REFERENCES cases (id) ON DELETE CASCADE;
ALTER TABLE document_requests DROP CONSTRAINT document_requests_case_id_fkey,
    ADD CONSTRAINT document_requests_case_id_fkey FOREIGN KEY (case_id) REFERENCES cases (id) ON DELETE CASCADE;
ALTER TABLE payments DROP CONSTRAINT payments_case_id_fkey,
    ADD CONSTRAINT payments_case_id_fkey FOREIGN KEY (case_id) REFERENCES cases (id) ON DELETE CASCADE;
ALTER TABLE extras DROP CONSTRAINT extras_case_id_fkey,
    ADD CONSTRAINT extras_case_id_fkey FOREIGN KEY (case_id) REFERENCES cases (id) ON DELETE CASCADE;
-- An update request outlives the earlier case it named.
ALTER TABLE cases DROP CONSTRAINT cases_previous_case_id_fkey,
    ADD CONSTRAINT cases_previous_case_id_fkey FOREIGN KEY (previous_case_id) REFERENCES cases (id) ON DELETE SET NULL;

-- Set when an erasure begins: from then on the case answers as missing to everyone, and an
-- erasure interrupted half-way is carried on by the next one.
-- What the tombstone will say is kept from the start, for an erasure carried on by another.
ALTER TABLE cases ADD COLUMN erasing_at timestamptz,
    ADD COLUMN erasing_documents integer, -- how many documents it had then
    ADD COLUMN erasing_reason text,
    ADD COLUMN erasing_rule text,
    ADD COLUMN erasing_by uuid;

-- A legal hold: the DPO's reason (a reference, not health data), who placed it and when.
CREATE TABLE case_holds (
    case_id   uuid PRIMARY KEY REFERENCES cases (id),
    reason    text NOT NULL CHECK (reason <> '' AND length(reason) <= 500),
    placed_by uuid NOT NULL REFERENCES accounts (id),
    placed_at timestamptz NOT NULL
);
GRANT SELECT, INSERT, DELETE ON case_holds TO secondopinion_runtime;

-- What is left of an erased case: its id, its dates, the state it was in, why it was erased.
CREATE TABLE case_tombstones (
    case_id      uuid PRIMARY KEY,
    last_status  text NOT NULL,
    created_at   timestamptz NOT NULL,
    submitted_at timestamptz,
    closed_at    timestamptz,
    erased_at    timestamptz NOT NULL,
    reason       text NOT NULL CHECK (reason IN ('retention', 'request')),
    rule         text NOT NULL DEFAULT '',   -- the retention rule, or the DPO's reference
    erased_by    uuid REFERENCES accounts (id), -- the DPO; NULL for the retention job
    documents    integer NOT NULL CHECK (documents >= 0)
);
GRANT SELECT, INSERT ON case_tombstones TO secondopinion_runtime;

-- Every erased case has a tombstone: an erasure deletes the case row and inserts its
-- tombstone in one transaction, and a case id is never reused.
CREATE FUNCTION cases_tombstone_required() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM case_tombstones WHERE case_id = OLD.id) THEN
        RAISE EXCEPTION 'case % deleted without a tombstone', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER cases_tombstone_required BEFORE DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_tombstone_required();

CREATE INDEX documents_rejected ON documents (reviewed_at) WHERE review = 'rejected';
