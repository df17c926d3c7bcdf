-- The second opinion from request to report (DESIGN §8): the state machine's columns and
-- working-day clocks on cases, the case history, document reviews, document requests,
-- payments and refunds, and extras. All owned by package cases.

ALTER TABLE cases
    ADD CONSTRAINT cases_status_check CHECK (status IN ('draft', 'submitted', 'triage', 'documents_requested',
        'awaiting_payment', 'in_review', 'report_released', 'closed', 'withdrawn', 'refunded')),
    ADD COLUMN imaging_relevant boolean NOT NULL DEFAULT true,
    -- An update request names the earlier case of the same patient.
    ADD COLUMN previous_case_id uuid REFERENCES cases (id),
    ADD COLUMN submitted_at     timestamptz,
    ADD COLUMN accepted_at      timestamptz,
    ADD COLUMN paid_at          timestamptz,
    ADD COLUMN released_at      timestamptz,
    ADD COLUMN closed_at        timestamptz,
    -- Working-day clocks: each due instant is set when its clock starts and moved when a pause
    -- ends; clock_paused_at is set while the centre waits for the applicant.
    ADD COLUMN triage_due_at    timestamptz,
    ADD COLUMN report_due_at    timestamptz,
    ADD COLUMN clock_paused_at  timestamptz,
    -- What the applicant owes for the second opinion itself, fixed at acceptance.
    ADD COLUMN price_kind       text CHECK (price_kind IN ('second_opinion', 'update')),
    ADD COLUMN price_cents      bigint CHECK (price_cents >= 0),
    ADD COLUMN courier_cents    bigint NOT NULL DEFAULT 0 CHECK (courier_cents >= 0),
    ADD COLUMN currency         text;
CREATE INDEX cases_triage_due ON cases (triage_due_at) WHERE status IN ('submitted', 'triage');
CREATE INDEX cases_report_due ON cases (report_due_at) WHERE status = 'in_review';
CREATE INDEX cases_previous ON cases (previous_case_id) WHERE previous_case_id IS NOT NULL;

-- The case history: one row per transition or step, for the timeline of the case's pages.
-- The note is what the actor wrote (a reason, the documents asked for): it is shown only to
-- those who may read the case, never mailed, never in the audit log.
CREATE TABLE case_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases (id),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,           -- "account:<uuid>" or "invitation:<uuid>"
    actor_role  text NOT NULL,
    action      text NOT NULL,           -- submit, triage, ..., document.accepted, extra.proposed, ...
    from_status text NOT NULL,
    to_status   text NOT NULL,
    object_id   text NOT NULL DEFAULT '', -- the document, extra or payment the step concerns
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX case_events_case ON case_events (case_id, id);
GRANT SELECT, INSERT ON case_events TO secondopinion_runtime;

-- A case manager's decision on a document.
ALTER TABLE documents
    ADD COLUMN review        text CHECK (review IN ('accepted', 'rejected')),
    ADD COLUMN review_reason text NOT NULL DEFAULT '',
    ADD COLUMN reviewed_by   uuid REFERENCES accounts (id),
    ADD COLUMN reviewed_at   timestamptz;

-- What the case manager asked for when documents were requested; the latest row is open
-- until the applicant submits again.
CREATE TABLE document_requests (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    case_id      uuid NOT NULL REFERENCES cases (id),
    kinds        text[] NOT NULL,
    message      text NOT NULL,
    requested_by uuid NOT NULL REFERENCES accounts (id),
    requested_at timestamptz NOT NULL,
    answered_at  timestamptz
);
CREATE INDEX document_requests_case ON document_requests (case_id, requested_at);
GRANT SELECT, INSERT, UPDATE (answered_at) ON document_requests TO secondopinion_runtime;

-- Payments and refunds, recorded (nothing is processed here).
CREATE TABLE payments (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    case_id      uuid NOT NULL REFERENCES cases (id),
    kind         text NOT NULL CHECK (kind IN ('payment', 'refund')),
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    currency     text NOT NULL,
    method       text NOT NULL DEFAULT '',
    reference    text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    recorded_by  uuid NOT NULL REFERENCES accounts (id),
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX payments_case ON payments (case_id, recorded_at);
GRANT SELECT, INSERT ON payments TO secondopinion_runtime;

-- Extras a specialist proposes and the applicant approves or declines before they are done.
CREATE TABLE extras (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    case_id      uuid NOT NULL REFERENCES cases (id),
    type         text NOT NULL CHECK (type IN ('slide_review', 'imaging_reread', 'in_depth', 'multidisciplinary')),
    price_cents  bigint NOT NULL CHECK (price_cents >= 0),
    currency     text NOT NULL,
    reason       text NOT NULL,
    status       text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'approved', 'declined')),
    proposed_by  uuid NOT NULL REFERENCES accounts (id),
    proposed_at  timestamptz NOT NULL,
    decided_by   uuid REFERENCES accounts (id),
    decided_at   timestamptz
);
CREATE INDEX extras_case ON extras (case_id, proposed_at);
GRANT SELECT, INSERT, UPDATE (status, decided_by, decided_at) ON extras TO secondopinion_runtime;
