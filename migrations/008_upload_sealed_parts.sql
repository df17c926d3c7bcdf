-- Every part an upload seals is recorded before its ciphertext leaves the service:
-- sealed_parts[n] is a fingerprint of part n (its plaintext, through the running SHA-256 of all
-- the upload's plaintext up to its end, or the part's own SHA-256 when that is not known; its
-- length; its last-chunk flag). A part sealed again, when the uploader resends bytes after a
-- failure, must have the same fingerprint: the same plaintext under the same key and chunk
-- counters gives the same ciphertext, while other bytes would reuse ChaCha20-Poly1305 nonces.
ALTER TABLE uploads ADD COLUMN sealed_parts bytea[] NOT NULL DEFAULT '{}';
