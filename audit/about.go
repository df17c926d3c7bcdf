package audit

import (
	"context"
	"fmt"

	"github.com/lib/pq"
)

// About selects the entries about one person, for their subject-access export (GDPR Art. 15)
// and the "who opened my files" page: every entry of their cases, whoever the actor; their
// own entries that name no case (signing in, …); and the entries about their account itself
// (created, disabled, a password link sent, their data exported by the DPO). Entries of other
// people's cases are never selected, even when the person is the actor (a refused attempt on
// someone else's case names that case).
type About struct {
	// ActorID is the person's actor id ("account:<id>"): their own entries without a case.
	ActorID string
	// CaseIDs are the person's cases: every entry naming one of them.
	CaseIDs []string
	// ObjectIDs name the person's account in entries about it without a case: its id, and the
	// email address an account.create or token.issue entry names it by.
	ObjectIDs []string
}

// AccountActions are the actions whose object may be a person's account (AboutObjects).
var AccountActions = []string{ActionAccountCreate, ActionAccountDisable, ActionAccountTOTPReset, ActionPasswordLink,
	ActionRoleChange, ActionTokenIssue, ActionSubjectExport}

// where is the condition of the entries a selects, with its arguments from the first
// placeholder on; ok is false when it selects none.
func (a About) where() (cond string, args []any, ok bool) {
	var conds []string
	if len(a.CaseIDs) > 0 {
		args = append(args, pq.StringArray(a.CaseIDs))
		conds = append(conds, fmt.Sprintf("(case_id <> '' AND case_id = ANY($%d))", len(args)))
	}
	if a.ActorID != "" {
		args = append(args, a.ActorID)
		conds = append(conds, fmt.Sprintf("(actor_id = $%d AND case_id = '')", len(args)))
	}
	if len(a.ObjectIDs) > 0 {
		args = append(args, pq.StringArray(a.ObjectIDs), pq.StringArray(AccountActions))
		conds = append(conds, fmt.Sprintf("(action = ANY($%d) AND object_id = ANY($%d) AND case_id = '')", len(args), len(args)-1))
	}
	if len(conds) == 0 {
		return "", nil, false
	}
	cond = conds[0]
	for _, c := range conds[1:] {
		cond += " OR " + c
	}
	return "(" + cond + ")", args, true
}

// EachAbout calls fn for every entry about the person a describes, oldest first, up to the
// log's size when it started. It reads in pages, holding no connection while fn runs; an
// error from fn stops it and is returned.
func (r *Reader) EachAbout(ctx context.Context, a About, fn func(Entry) error) error {
	cond, args, ok := a.where()
	if !ok {
		return nil
	}
	size, err := r.Size(ctx)
	if err != nil {
		return err
	}
	return r.each(ctx, cond, args, size, fn)
}

// LatestAbout returns the newest entries about the person a describes, newest first, at
// most limit (DefaultLimit when 0, at most MaxLimit), and whether older ones exist.
func (r *Reader) LatestAbout(ctx context.Context, a About, limit int) ([]Entry, bool, error) {
	cond, args, ok := a.where()
	if !ok {
		return nil, false, nil
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	args = append(args, limit+1)
	page, err := r.page(ctx, fmt.Sprintf(`SELECT %s FROM audit_entries WHERE %s ORDER BY seq DESC LIMIT $%d`,
		entryColumns, cond, len(args)), args)
	if err != nil {
		return nil, false, err
	}
	if len(page) > limit {
		return page[:limit], true, nil
	}
	return page, false, nil
}

// CSVCell is s as a CSV cell a spreadsheet shows as text: a cell starting with =, +, -, @,
// tab or CR gets a leading single quote, so that it is never run as a formula.
func CSVCell(s string) string { return csvSafe(s) }
