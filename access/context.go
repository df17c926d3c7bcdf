package access

import "context"

type subjectKey struct{}

// WithSubject returns ctx carrying s: the web layer sets it once per request, and packages
// that see only a context (the tus hooks) read it with SubjectFrom.
func WithSubject(ctx context.Context, s Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, s)
}

// SubjectFrom returns the subject ctx carries; the zero Subject (nobody) when none.
func SubjectFrom(ctx context.Context) Subject {
	s, _ := ctx.Value(subjectKey{}).(Subject)
	return s
}
