-- Guards of the audit log against its own writer (security review, finding 9): the runtime
-- role may INSERT, so it could back- or forward-date entries, or pre-insert stored hashes at
-- indices the writer will need later, which would jam every later commit.
--   * an entry's recorded_at must be the time it is written (15 minutes back for a queued
--     batch, one minute ahead for clock skew between hosts);
--   * stored hashes go in in order, gap-free, and never beyond the entries already written
--     (tlog numbers 2n - popcount(n) stored hashes for n entries).

CREATE FUNCTION audit_entries_recorded_now() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NEW.recorded_at > clock_timestamp() + interval '1 minute'
       OR NEW.recorded_at < clock_timestamp() - interval '15 minutes' THEN
        RAISE EXCEPTION 'audit entry % recorded at %, not now', NEW.seq, NEW.recorded_at
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_entries_recorded_now BEFORE INSERT ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_recorded_now();

CREATE FUNCTION audit_hashes_in_order() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    want bigint;
    n    bigint;
BEGIN
    SELECT coalesce(max(idx) + 1, 0) INTO want FROM audit_hashes;
    IF NEW.idx <> want THEN
        RAISE EXCEPTION 'audit hash index % out of order: next is %', NEW.idx, want
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    SELECT coalesce(max(seq) + 1, 0) INTO n FROM audit_entries;
    IF NEW.idx >= 2 * n - bit_count(n::bit(64)) THEN
        RAISE EXCEPTION 'audit hash index % is beyond the % entries written', NEW.idx, n
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_hashes_in_order BEFORE INSERT ON audit_hashes
    FOR EACH ROW EXECUTE FUNCTION audit_hashes_in_order();
