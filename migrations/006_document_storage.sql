-- What the content route needs to read a stored document without asking MinIO first, and
-- the flags the content checks raised (e.g. a PDF with JavaScript).
ALTER TABLE documents
    ADD COLUMN encrypted_size bigint,
    ADD COLUMN flags text[] NOT NULL DEFAULT '{}';
