-- Every part an upload seals is recorded before its ciphertext leaves the service:
-- sealed_parts[n] holds 64 bytes, a fingerprint of part n's plaintext through the upload's
-- running SHA-256 (zeros when that digest was not known) and a hash of its Poly1305 tags, both
-- bound to its length and last-chunk flag. A part sealed again, when the uploader resends bytes
-- after a failure, is sent only if it is the same: the same plaintext under the same key and
-- chunk counters gives the same ciphertext, while other bytes would reuse ChaCha20-Poly1305
-- nonces and are refused.
ALTER TABLE uploads ADD COLUMN sealed_parts bytea[] NOT NULL DEFAULT '{}';
