// Package upload receives documents over tus 1.0.0 (resumable uploads), through tusd's
// protocol engine (github.com/tus/tusd/v2/pkg/handler), and stores each as one age file
// in MinIO. It does no HTTP routing and keeps no keys: the web package mounts tusd's
// handler, the vault package holds the keys.
//
// # The encrypting store
//
// Store is a tusd DataStore. Nothing readable is ever stored: each upload gets its own
// age identity (vault.Keys), and its bytes are sealed, 64 KiB chunk by 64 KiB chunk,
// into the parts of a MinIO multipart upload whose completion is a standard age file.
//
//   - Creation (NewUpload) makes the document key, the age header and payload nonce
//     (kept in the uploads table: they are the object's first bytes), a random object
//     key (never derived from the file name), and the multipart upload. The part size
//     is a whole number of chunks chosen from Upload-Length (at least 5 MiB, at most
//     10,000 parts); with a deferred length, from StoreConfig.MaxSize.
//   - A PATCH (WriteChunk) seals the plaintext into whole parts. What is left at the
//     end of the request, less than a part, is stored as the tail: a separate age file
//     to the same recipient, never sealed under the object's stream key, because a
//     chunk index must be sealed once, with one plaintext. The next PATCH decrypts the
//     tail in memory and continues where it ended. Memory per request is one part.
//   - The offset is the plaintext in the parts MinIO lists plus the tail; a tail written
//     before the newest part is stale and ignored. Any process can resume any upload:
//     the state lives in PostgreSQL and MinIO only, and a shared tusd Locker keeps two
//     requests from writing one upload at once (which would reuse nonces).
//   - The final chunk is sealed, with age's last-chunk flag, only when the offset
//     reaches the length. FinishUpload then completes the multipart upload, deletes
//     the tail, verifies the object (size, final chunk through vault.OpenReaderAt,
//     every chunk while hashing the plaintext) and hands a FinishedUpload to
//     StoreConfig.OnFinish. An object failing verification is erased.
//   - Terminate and Expire erase an unfinished upload: the key is shredded first, then
//     the multipart upload, object and tails are deleted, then the record.
//
// The store serves creation, creation-with-upload, creation-defer-length and
// termination. It does not serve concatenation (parallel partial uploads would need
// chunks sealed out of order) nor downloads (GetReader): documents are read through
// their own, access-controlled route.
package upload
