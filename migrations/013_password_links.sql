-- Password set-up links (issue 13): the admin mails a person a one-time link to choose their
-- own password, instead of typing one for them. Stored only as hashes; owned by package access.

CREATE TABLE password_links (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id  uuid NOT NULL REFERENCES accounts (id),
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE INDEX password_links_account ON password_links (account_id);
GRANT SELECT, INSERT, UPDATE ON password_links TO secondopinion_runtime;
