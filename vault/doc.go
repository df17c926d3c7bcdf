// Package vault encrypts documents with age: every stored object is a standard age
// file (age-encryption.org/v1) that `age -d -i <document identity>` decrypts.
//
// # Keys
//
// Two levels of keys protect a document.
//
//   - Key-encryption keys (KEKs) are age identities in files named by the
//     configuration, made by GenerateKEK (hybrid post-quantum, AGE-SECRET-KEY-PQ-1…).
//     LoadKeyring reads them, oldest first: the newest wraps, all unwrap. They are
//     shown only by Fingerprint, never in full.
//   - Each document has its own hybrid identity. Keys stores it in PostgreSQL
//     (document_keys), age-encrypted to the newest KEK. The object is encrypted to that
//     identity's recipient only.
//
// Rotating the KEK means adding a new KEK file at the end of the list and running
// Keys.Rewrap, which re-wraps rows only; objects are never read nor rewritten. Once it
// has finished, the old KEK file may be retired. Keys.Shred deletes a document's key:
// without it the object is noise (crypto-shredding), and the object can be deleted at
// leisure. Keys.IdentityString yields a document identity for escrow.
//
// # Writing an age file in pieces
//
// An age file is a header (the file key wrapped to each recipient), a 16-byte nonce,
// and the payload: plaintext cut in 64 KiB chunks, each sealed with ChaCha20-Poly1305
// under a key derived from the file key and the nonce, with the chunk's index and a
// last-chunk flag as the AEAD nonce. NewFileHeader makes header and nonce; anyone
// holding them and the identity builds a Sealer and seals chunk i at any time, in any
// process. This is how resumable uploads write one age file across many requests
// without keeping the file key anywhere but in the (wrapped) identity. Seal refuses
// chunks the format forbids; the caller must seal each index once, with one plaintext.
//
// # Reading
//
// Streaming reads use age.Decrypt directly. Random access (HTTP Range requests, ZIP
// inspection) uses OpenReaderAt: age.DecryptReaderAt over a ReadAhead, which fetches
// windows of several MiB aligned to whole ciphertext chunks through a RangeReader
// (MinIOObject for MinIO), so that reading costs one GET per window, not per chunk,
// and memory stays bounded by a couple of windows.
package vault
