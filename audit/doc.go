// Package audit is secondopinion's append-only, verifiable audit log.
//
// # What is recorded
//
// Every security-relevant event is one Entry: who (ActorID, ActorRole, OnBehalfOf), what
// (Action, ObjectType, ObjectID, CaseID), when (Time, UTC to the microsecond), where
// (ClientIP, UserAgent, RequestID), the FHIR Outcome (0 success, 4 denied or minor failure,
// 8 serious, 12 major), the Purpose of use and a short Reason code. A denial is the action
// that was attempted, with OutcomeMinorFailure and a Reason such as ReasonConsent. Entries
// carry identifiers only, never document content, file names or health data.
//
// # Storage
//
// Entries live in PostgreSQL (migration 004_audit.sql): audit_entries, audit_hashes (the
// RFC 6962 Merkle tree's stored hashes, indexed as golang.org/x/mod/sumdb/tlog does) and
// audit_checkpoints (signed tree heads). The service's runtime role may only INSERT and
// SELECT them; triggers reject UPDATE, DELETE and TRUNCATE, and an insert trigger accepts
// an entry only as the next sequence number, so the sequence 0, 1, 2, … has no gaps.
//
// Each entry's leaf hash is tlog.RecordHash of its canonical serialization (Entry.Canonical):
// a version line, then every field in a fixed order with explicit lengths, so two different
// entries never serialize alike.
//
// # Writing
//
// A Writer commits entries with group commit: Log queues an entry and returns its sequence
// number only after the transaction holding it has committed; one goroutine commits all
// entries queued meanwhile in one transaction, under a transaction-scoped advisory lock so
// several processes append to one linear log. When a commit fails, every caller in the
// batch gets an error wrapping ErrUnavailable. Callers fail closed: a document is streamed
// only after Log has returned its access entry's sequence number, and an error means 503
// with no content.
//
// A Checkpointer signs the tree head (C2SP tlog-checkpoint body, Ed25519 note signature,
// key from GenerateCheckpointKey) every CheckpointConfig.Every entries or Interval, stores it
// in audit_checkpoints and copies it to a CheckpointSink such as MinIOSink.
//
// # Reading and checking
//
// A Reader queries entries by case, actor, action, outcome and time (ParseFilter reads the
// HTTP and CLI parameters), exports them as CSV or FHIR R4 AuditEvent (NDJSON or Bundle,
// IHE BALP), returns inclusion proofs (Prove, checked with CheckInclusion) and checkpoints.
//
// Verify rebuilds the tree from the entries in one streaming pass and reports the first
// problem: an entry or stored hash that differs (KindModified), a missing sequence number
// (KindGap), a log shorter than a signed checkpoint or its own stored hashes (KindRollback),
// a rebuilt root that is not the signed one (KindFork: the database owner rewrote entries
// and their hashes together; the problem names the range between the last matching
// checkpoint and this one), or a checkpoint that does not verify or is missing from the
// database while the sink holds it (KindCheckpoint). Rollbacks and rewrites that also
// rewrite audit_checkpoints are caught only through the sink's copies, which is why the sink
// should be storage the database owner cannot write, and the service only add to: a MinIO
// bucket with object locking, whose every version MinIOSink reads back.
package audit
