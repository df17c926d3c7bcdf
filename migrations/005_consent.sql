-- Consent: the consent form versions and every consent signed for a case.
--
-- A form version is immutable: its text and the SHA-256 of that text (UTF-8) are checked to
-- agree. A case's consent names the version and copies its hash. Countersigning, rejecting
-- and withdrawing only fill in their own columns (column grants plus the trigger below), so
-- a withdrawn or rejected consent stays as it was, for the record; signing again makes a
-- new row. At most one consent per case is open (neither withdrawn nor rejected).

CREATE TABLE consent_forms (
    version    text PRIMARY KEY CHECK (version ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    language   text NOT NULL CHECK (language IN ('en', 'it', 'es')),
    text       text NOT NULL CHECK (text <> ''),
    sha256     bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (sha256 = sha256(convert_to(text, 'UTF8')))
);
GRANT SELECT, INSERT ON consent_forms TO secondopinion_runtime;

CREATE TABLE case_consents (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    case_id          uuid NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    form_version     text NOT NULL REFERENCES consent_forms (version),
    form_sha256      bytea NOT NULL CHECK (octet_length(form_sha256) = 32),
    signer_name      text NOT NULL CHECK (signer_name <> ''),
    relationship     text NOT NULL CHECK (relationship IN ('self', 'parent', 'guardian', 'legal_representative')),
    signed_at        timestamptz NOT NULL,
    signed_ip        text NOT NULL DEFAULT '',
    countersigned_by uuid REFERENCES accounts (id),
    countersigned_at timestamptz,
    rejected_by      uuid REFERENCES accounts (id),
    rejected_at      timestamptz,
    rejection_reason text NOT NULL DEFAULT '',
    withdrawn_at     timestamptz,
    CHECK ((countersigned_by IS NULL) = (countersigned_at IS NULL)),
    CHECK ((rejected_by IS NULL) = (rejected_at IS NULL)),
    CHECK (countersigned_at IS NULL OR rejected_at IS NULL),
    CHECK (withdrawn_at IS NULL OR rejected_at IS NULL)
);
CREATE UNIQUE INDEX case_consents_open ON case_consents (case_id) WHERE withdrawn_at IS NULL AND rejected_at IS NULL;
CREATE INDEX case_consents_case ON case_consents (case_id, signed_at);

-- Withdrawn and rejected consents are final; a countersignature is never replaced.
CREATE FUNCTION case_consents_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.withdrawn_at IS NOT NULL OR OLD.rejected_at IS NOT NULL THEN
        RAISE EXCEPTION 'consent % is closed', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.countersigned_at IS NOT NULL AND
       (NEW.countersigned_at IS DISTINCT FROM OLD.countersigned_at OR NEW.countersigned_by IS DISTINCT FROM OLD.countersigned_by) THEN
        RAISE EXCEPTION 'consent % is already countersigned', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER case_consents_guard BEFORE UPDATE ON case_consents
    FOR EACH ROW EXECUTE FUNCTION case_consents_guard();

GRANT SELECT, INSERT ON case_consents TO secondopinion_runtime;
GRANT UPDATE (countersigned_by, countersigned_at, rejected_by, rejected_at, rejection_reason, withdrawn_at)
    ON case_consents TO secondopinion_runtime;

INSERT INTO consent_forms (version, language, text, sha256)
SELECT v, l, t, sha256(convert_to(t, 'UTF8')) FROM (VALUES ('2025-01-en', 'en',
$form$Consent to the processing of personal and health data for a second opinion

I ask for a second medical opinion on my case, or on the case of the person I legally represent.

1. Purpose. The documents and data I provide will be used only to assess the case and write the
   second-opinion report, and for the administration and payment of that service.
2. Who sees them. Case managers check that the request is complete. Only the specialists
   assigned to the case read the clinical documents. No one else receives them, and they are
   never used for marketing.
3. Protection. Every document is encrypted before it is stored. Every access, granted or
   refused, is recorded in an audit log that I may ask to see.
4. Retention. Data are kept for the period the law requires for medical records and then
   erased; the audit log keeps no health data.
5. My rights. I may see, correct, export or ask to erase my data, and I may withdraw this
   consent at any time. Withdrawal stops any further access to the documents; it does not
   make unlawful what was done before it.
6. Legal basis. Explicit consent under Art. 6(1)(a) and Art. 9(2)(a) of the General Data
   Protection Regulation (EU) 2016/679. The data protection officer can be contacted through
   the service.

By typing my full name I confirm that I have read this text and that I give my consent.
If I sign for someone else, I confirm that I am their parent with parental authority, their
guardian or their legal representative.
$form$)) AS f(v, l, t);
