-- The plaintext SHA-256 of an upload is computed as its parts are sealed, so finishing needs
-- no second read of the whole object: hash_state is the running SHA-256 state after
-- hash_parts parts, and part_etags the MD5 of each part as sealed (MinIO's ETag for it).
-- When they do not match the stored parts (a crash between storing a part and recording it,
-- a part replaced behind the service's back), finishing falls back to decrypting the object.
ALTER TABLE uploads
    ADD COLUMN hash_state bytea,
    ADD COLUMN hash_parts integer,
    ADD COLUMN part_etags text[] NOT NULL DEFAULT '{}';
