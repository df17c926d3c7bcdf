-- Document keys (vault) and resumable uploads in progress (upload).

-- One age identity per document, age-encrypted ("wrapped") to a key-encryption key
-- (KEK) named by its public fingerprint. Deleting a row crypto-shreds the document.
-- No foreign key to documents: the key is created with the upload, before the
-- document is registered, and outlives nothing it protects.
CREATE TABLE document_keys (
    document_id     text PRIMARY KEY,
    wrapped         bytea NOT NULL,
    kek_fingerprint text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    rewrapped_at    timestamptz
);
CREATE INDEX document_keys_kek ON document_keys (kek_fingerprint);
GRANT SELECT, INSERT, UPDATE, DELETE ON document_keys TO secondopinion_runtime;

-- A tus upload being written as one age file into a MinIO multipart upload.
-- Offsets are not stored: they are the parts MinIO lists plus the tail named here.
CREATE TABLE uploads (
    id              text PRIMARY KEY,
    object_key      text NOT NULL UNIQUE,
    multipart_id    text NOT NULL,
    header_nonce    bytea NOT NULL,          -- the object's first bytes: age header, payload nonce
    size            bigint CHECK (size >= 0), -- NULL while the length is deferred
    chunks_per_part integer NOT NULL CHECK (chunks_per_part > 0),
    metadata        jsonb NOT NULL DEFAULT '{}',
    tail_key        text,                    -- a separate age file holding the last partial part
    tail_parts      integer,                 -- parts stored when the tail was written
    tail_size       bigint,                  -- plaintext bytes in the tail
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    CHECK ((tail_key IS NULL) = (tail_parts IS NULL) AND (tail_key IS NULL) = (tail_size IS NULL))
);
CREATE INDEX uploads_expires ON uploads (expires_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON uploads TO secondopinion_runtime;
