package retention

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
)

// Cases is what erasure needs of the case store (*cases.Cases).
type Cases interface {
	BeginErasure(ctx context.Context, by cases.Actor, caseID string, reason cases.ErasureReason, rule string, expiry *cases.Expiry) (*cases.Erasure, error)
	ForgetErased(ctx context.Context, er *cases.Erasure, docID string) error
	FinishErasure(ctx context.Context, er *cases.Erasure) (cases.Tombstone, error)
	ExpiredCases(ctx context.Context, cutoffs map[so.CaseStatus]time.Time, limit int) ([]cases.Expired, error)
	ExpiredRejections(ctx context.Context, cutoff time.Time, limit int) ([]cases.RejectedDocument, error)
	PrepareRejectionErasure(ctx context.Context, by cases.Actor, d cases.RejectedDocument, cutoff time.Time) error
	Forget(ctx context.Context, docID string) error
}

// Vault crypto-shreds a document's key and then deletes its object (*vault.Documents).
type Vault interface {
	Erase(ctx context.Context, docID, objectKey string) error
}

// Uploads erases the uploads to a case, finished or not (*upload.Store).
type Uploads interface {
	EraseCase(ctx context.Context, caseID string) (int, error)
}

// Auditor appends an entry to the audit log (*audit.Writer).
type Auditor interface {
	Log(ctx context.Context, e audit.Entry) (int64, error)
}

// Config is what the eraser needs; all but Logger are required.
type Config struct {
	Rules   Rules
	Cases   Cases
	Vault   Vault
	Uploads Uploads
	Audit   Auditor
	Logger  *slog.Logger
}

// Eraser erases cases (GDPR Art. 17, retention) and runs the retention rules.
type Eraser struct {
	cfg Config
	log *slog.Logger
}

// New returns the eraser of cfg.
func New(cfg Config) *Eraser {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Eraser{cfg: cfg, log: log}
}

// Rules returns the retention rules the eraser runs.
func (e *Eraser) Rules() Rules { return e.cfg.Rules }

// Erase erases the case: BeginErasure (refused under legal hold, cases.ErrHeld, or while in
// review; audited), then for each document its key is shredded and its object deleted before
// its registry row, then the case's uploads, then FinishErasure (tombstone; the case's rows).
// Interrupted, it can be run again and carries on. The caller authorized by.
func (e *Eraser) Erase(ctx context.Context, by cases.Actor, caseID string, reason cases.ErasureReason, rule string) (cases.Tombstone, error) {
	return e.erase(ctx, by, caseID, reason, rule, nil)
}

func (e *Eraser) erase(ctx context.Context, by cases.Actor, caseID string, reason cases.ErasureReason, rule string, expiry *cases.Expiry) (cases.Tombstone, error) {
	er, err := e.cfg.Cases.BeginErasure(ctx, by, caseID, reason, rule, expiry)
	if err != nil {
		return cases.Tombstone{}, err
	}
	for _, d := range er.Documents {
		if err := e.cfg.Vault.Erase(ctx, d.DocumentID, d.ObjectKey); err != nil {
			return cases.Tombstone{}, fmt.Errorf("erase case %s: %w", caseID, err)
		}
		if err := e.cfg.Cases.ForgetErased(ctx, er, d.DocumentID); err != nil {
			return cases.Tombstone{}, fmt.Errorf("erase case %s: %w", caseID, err)
		}
	}
	if _, err := e.cfg.Uploads.EraseCase(ctx, caseID); err != nil {
		return cases.Tombstone{}, fmt.Errorf("erase case %s: %w", caseID, err)
	}
	t, err := e.cfg.Cases.FinishErasure(ctx, er)
	if err != nil {
		return cases.Tombstone{}, fmt.Errorf("erase case %s: %w", caseID, err)
	}
	e.log.InfoContext(ctx, "case erased", "case", caseID, "reason", string(reason), "documents", t.Documents)
	return t, nil
}

// Report is what a run erased, or would erase (a dry run).
type Report struct {
	At       time.Time                `json:"at"`
	DryRun   bool                     `json:"dry_run"`
	Rules    string                   `json:"rules"`
	Cases    []cases.Expired          `json:"cases"`    // expired, or whose erasure was interrupted
	Rejected []cases.RejectedDocument `json:"rejected"` // rejected documents past their period
	Erased   int                      `json:"erased"`   // cases erased
	Removed  int                      `json:"removed"`  // rejected documents erased
	Failures []string                 `json:"failures"` // case or document ids whose erasure failed (details in the log)
}

// batch bounds one run's work: what remains is the next run's.
const batch = 500

// systemActor is the retention job in the case history and the audit log.
func systemActor() cases.Actor {
	return cases.Actor{Subject: access.Subject{Role: so.RoleSystem},
		Entry: audit.Entry{ActorID: "system:retention", ActorRole: string(so.RoleSystem)}}
}

// RunOptions are a run's clock, whether it is a dry run, and who runs it (the zero Actor: the
// retention job itself, so.RoleSystem).
type RunOptions struct {
	Now    time.Time
	DryRun bool
	By     cases.Actor
}

// Run applies the rules at opt.Now: it erases every case expired under them and every rejected
// document past its period, except those under legal hold (up to batch of each; the rest
// waits for the next run), and carries on erasures that were interrupted. A dry run erases
// nothing and reports what a run would erase. Every run writes one audit entry with its
// counts, before it erases anything; a failure to erase one case is reported and does not
// stop the others.
func (e *Eraser) Run(ctx context.Context, opt RunOptions) (Report, error) {
	now, dryRun, by := opt.Now, opt.DryRun, opt.By
	if by.Subject.Role == "" && by.Entry.ActorID == "" {
		by = systemActor()
	}
	r := Report{At: now.UTC(), DryRun: dryRun, Rules: e.cfg.Rules.String(), Failures: []string{}}
	var err error
	if r.Cases, err = e.cfg.Cases.ExpiredCases(ctx, e.cfg.Rules.Cutoffs(now), batch); err != nil {
		return r, err
	}
	var cutoff time.Time
	r.Rejected = []cases.RejectedDocument{}
	if e.cfg.Rules.Rejected != nil {
		cutoff = e.cfg.Rules.Rejected.Before(now)
		if r.Rejected, err = e.cfg.Cases.ExpiredRejections(ctx, cutoff, batch); err != nil {
			return r, err
		}
	}
	entry := by.Entry
	entry.Action, entry.ObjectType, entry.Purpose = audit.ActionRetentionRun, "retention", audit.PurposeLegal
	entry.ObjectID = fmt.Sprintf("dry_run=%t cases=%d rejected=%d", dryRun, len(r.Cases), len(r.Rejected))
	if _, err := e.cfg.Audit.Log(ctx, entry); err != nil {
		return r, fmt.Errorf("%w: audit: %w", so.ErrUnavailable, err)
	}
	if dryRun {
		return r, nil
	}
	cutoffs := e.cfg.Rules.Cutoffs(now)
	for _, c := range r.Cases {
		rule := "retention: " + string(c.Status)
		var expiry *cases.Expiry
		if p, ok := e.cfg.Rules.States[c.Status]; ok {
			rule += "=" + p.String()
			expiry = &cases.Expiry{Status: c.Status, Cutoff: cutoffs[c.Status]}
		}
		if _, err := e.erase(ctx, by, c.CaseID, cases.ErasureRetention, rule, expiry); err != nil {
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
			if kept(err) {
				continue
			}
			e.log.ErrorContext(ctx, "retention: case not erased", "case", c.CaseID, "err", err)
			r.Failures = append(r.Failures, c.CaseID)
			continue
		}
		r.Erased++
	}
	for _, d := range r.Rejected {
		if err := e.eraseRejected(ctx, by, d, cutoff); err != nil {
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
			if kept(err) {
				continue
			}
			e.log.ErrorContext(ctx, "retention: rejected document not erased", "document", d.DocumentID, "err", err)
			r.Failures = append(r.Failures, d.DocumentID)
			continue
		}
		r.Removed++
	}
	if len(r.Failures) > 0 {
		return r, fmt.Errorf("retention: %d erasures failed (see the log)", len(r.Failures))
	}
	return r, nil
}

// kept reports whether an erasure the rules asked for was refused because what it would erase
// changed meanwhile (put under hold, moved on, reviewed again: kept) or is gone already.
func kept(err error) bool {
	return so.ErrorCode(err) == so.EConflict || errors.Is(err, so.ErrNotFound)
}

func (e *Eraser) eraseRejected(ctx context.Context, by cases.Actor, d cases.RejectedDocument, cutoff time.Time) error {
	if err := e.cfg.Cases.PrepareRejectionErasure(ctx, by, d, cutoff); err != nil {
		return err
	}
	if err := e.cfg.Vault.Erase(ctx, d.DocumentID, d.ObjectKey); err != nil {
		return err
	}
	return e.cfg.Cases.Forget(ctx, d.DocumentID)
}
