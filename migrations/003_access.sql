-- Access: second factor, sessions, login throttling, email sign-in links, invitations for
-- referring physicians, reviewer assignments, and physician uploads in the document registry.
--
-- Every secret credential (session, sign-in link, invitation) is stored only as the SHA-256
-- of its random value; the raw value exists only in the cookie or the mailed link. Times are
-- written by the service from its own clock, never by now(), so that tests can move it.

-- TOTP (RFC 6238). totp_secret is sealed with the service's TOTP key (AES-256-GCM, the account
-- id as associated data); it is pending until totp_enabled_at is set by a confirmed code.
-- totp_last_step is the last accepted 30-second step: a code is never accepted twice.
ALTER TABLE accounts
    ADD COLUMN totp_secret     bytea,
    ADD COLUMN totp_enabled_at timestamptz,
    ADD COLUMN totp_last_step  bigint;

CREATE TABLE invitations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    case_id     uuid NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    email       text NOT NULL CHECK (email <> ''),
    token_hash  bytea NOT NULL UNIQUE,
    invited_by  uuid NOT NULL REFERENCES accounts (id),
    expires_at  timestamptz NOT NULL,
    redeemed_at timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE INDEX invitations_case ON invitations (case_id);
GRANT SELECT, INSERT, UPDATE ON invitations TO secondopinion_runtime;

-- A session belongs to an account, or (for a referring physician) to an invitation.
CREATE TABLE sessions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash     bytea NOT NULL UNIQUE,
    account_id     uuid REFERENCES accounts (id),
    invitation_id  uuid REFERENCES invitations (id) ON DELETE CASCADE,
    totp_satisfied boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    CHECK ((account_id IS NULL) <> (invitation_id IS NULL))
);
CREATE INDEX sessions_account ON sessions (account_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_invitation ON sessions (invitation_id) WHERE revoked_at IS NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions TO secondopinion_runtime;

-- One-time email sign-in links for applicants.
CREATE TABLE signin_links (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL REFERENCES accounts (id),
    token_hash bytea NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX signin_links_account ON signin_links (account_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON signin_links TO secondopinion_runtime;

-- Throttling events (failed logins, sign-in link requests). key is the SHA-256 of a
-- kind-prefixed account email or client address, so the table holds neither in clear.
CREATE TABLE throttle_events (
    key bytea NOT NULL,
    at  timestamptz NOT NULL
);
CREATE INDEX throttle_events_key_at ON throttle_events (key, at);
GRANT SELECT, INSERT, DELETE ON throttle_events TO secondopinion_runtime;

-- Reviewers assigned to a case by a case manager.
CREATE TABLE assignments (
    case_id     uuid NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    reviewer_id uuid NOT NULL REFERENCES accounts (id),
    assigned_by uuid NOT NULL REFERENCES accounts (id),
    assigned_at timestamptz NOT NULL,
    PRIMARY KEY (case_id, reviewer_id)
);
CREATE INDEX assignments_reviewer ON assignments (reviewer_id);
GRANT SELECT, INSERT, DELETE ON assignments TO secondopinion_runtime;

-- A document uploaded by an invited physician names the invitation instead of an account.
ALTER TABLE documents
    ADD COLUMN uploaded_by_invitation uuid REFERENCES invitations (id) ON DELETE SET NULL;
