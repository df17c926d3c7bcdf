// Package retention erases what the centre may no longer keep: cases whose retention period
// ended, documents the case manager rejected, and cases whose erasure the data subject asked
// for (GDPR Art. 17, through the DPO). DESIGN §3 and §8.
//
// An erasure runs through the owners of the data, in an order that can be interrupted at any
// point and run again: the case store marks the case as being erased (from then on it is
// missing to everyone) and writes the erasure's audit entry; the vault crypto-shreds each
// document's key, then deletes its object, then the registry forgets it; the upload store
// erases the case's uploads, finished or not; last, in one transaction, the case store writes
// the tombstone (id, dates, last state, reason, no health data) and deletes the case's row,
// which deletes its history, requests, payments, extras, assignments, invitations and consent
// records. The audit entries stay: they hold no health data, and the log stays verifiable.
//
// A legal hold (cases.PlaceHold) blocks every erasure: the retention rules skip the case,
// the DPO's request is refused, and the database refuses to delete the case's row. A case in
// review is never erased.
//
// Rules are per state (SO_RETENTION, DefaultRules): how long a case is kept after it entered
// closed, withdrawn, refunded, draft, …; and how long a rejected document is kept. Run, daily
// on the job engine and from `secondopinion retention run [--dry-run]`, applies them with an
// injected clock; each run is audited with its counts.
package retention
