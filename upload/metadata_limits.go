package upload

import (
	"cmp"
	"fmt"
	"net/http"

	so "github.com/secondopinion/secondopinion"
)

// Default limits. An imaging study is a whole DICOM study (CT, MRI, PET), a radiotherapy plan
// may carry its planning CT and dose objects; everything else is a scanned or digital document.
const (
	DefaultImagingStudyMaxSize     int64 = 50 << 30  // 50 GiB
	DefaultRadiotherapyPlanMaxSize int64 = 10 << 30  // 10 GiB
	DefaultDocumentMaxSize         int64 = 200 << 20 // 200 MiB, every other kind
	DefaultCaseQuota               int64 = 100 << 30 // 100 GiB per case
)

// Limits bound upload sizes, checked by the pre-create hook. A zero field takes its default.
type Limits struct {
	// MaxSize is the largest upload per kind; kinds not listed get DefaultMaxSize.
	// Nil means the defaults (imaging_study 50 GiB, radiotherapy_plan 10 GiB).
	MaxSize map[so.DocumentKind]int64
	// DefaultMaxSize is the largest upload of a kind MaxSize does not list. Default 200 MiB.
	DefaultMaxSize int64
	// CaseQuota is the most one case may hold: its documents plus uploads in progress at
	// their declared length. Default 100 GiB.
	CaseQuota int64
}

// DefaultLimits returns the defaults, spelled out.
func DefaultLimits() Limits {
	return Limits{
		MaxSize: map[so.DocumentKind]int64{
			so.KindImagingStudy:     DefaultImagingStudyMaxSize,
			so.KindRadiotherapyPlan: DefaultRadiotherapyPlanMaxSize,
		},
		DefaultMaxSize: DefaultDocumentMaxSize,
		CaseQuota:      DefaultCaseQuota,
	}
}

// MaxSizeFor returns the largest upload allowed for kind.
func (l Limits) MaxSizeFor(kind so.DocumentKind) int64 {
	sizes := l.MaxSize
	if sizes == nil {
		sizes = DefaultLimits().MaxSize
	}
	if n, ok := sizes[kind]; ok && n > 0 {
		return n
	}
	return cmp.Or(max(l.DefaultMaxSize, 0), DefaultDocumentMaxSize)
}

func (l Limits) caseQuota() int64 { return cmp.Or(max(l.CaseQuota, 0), DefaultCaseQuota) }

// Remaining returns how large an upload of kind may grow in a case already holding caseUsed
// bytes: the bound to enforce on an upload whose length was deferred.
func (l Limits) Remaining(kind so.DocumentKind, caseUsed int64) int64 {
	return max(0, min(l.MaxSizeFor(kind), l.caseQuota()-caseUsed))
}

// Check decides whether an upload of kind and size (Upload-Length) may start in a case that
// already holds caseUsed bytes. With deferred set (Upload-Defer-Length) the size is unknown
// and only the case's remaining room is checked; the data store must then stop the upload at
// Remaining. Refusals are *RejectError with status 413 (400 for a negative size).
func (l Limits) Check(kind so.DocumentKind, size int64, deferred bool, caseUsed int64) error {
	quota := l.caseQuota()
	if deferred {
		size = 0
	} else {
		if size < 0 {
			return invalidMetadata("Upload-Length must not be negative")
		}
		if limit := l.MaxSizeFor(kind); size > limit {
			return &RejectError{Status: http.StatusRequestEntityTooLarge, Code: "file_too_large",
				Message: fmt.Sprintf("a document of this kind may be at most %s", formatSize(limit))}
		}
	}
	// A deferred upload needs at least one byte of room.
	if size > quota-caseUsed || deferred && caseUsed >= quota {
		return &RejectError{Status: http.StatusRequestEntityTooLarge, Code: "case_quota_exceeded",
			Message: fmt.Sprintf("the documents of one case may total at most %s", formatSize(quota))}
	}
	return nil
}

// formatSize writes n bytes in the largest binary unit that divides it, or in bytes.
func formatSize(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
