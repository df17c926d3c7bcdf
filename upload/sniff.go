package upload

import (
	"bytes"
	"slices"

	so "github.com/secondopinion/secondopinion"
)

// Content types Sniff recognises.
const (
	TypePDF     = "pdf"
	TypeDICOM   = "dicom"
	TypeZIP     = "zip"
	TypeJPEG    = "jpeg"
	TypePNG     = "png"
	TypeTIFF    = "tiff"
	TypeUnknown = "unknown"
)

// SniffLen is how many leading bytes Sniff needs to tell every type apart (DICOM's marker
// ends at byte 132).
const SniffLen = 132

var allTypes = []string{TypePDF, TypeDICOM, TypeZIP, TypeJPEG, TypePNG, TypeTIFF}

// kindTypes is the allowlist of content types per checklist kind, and the list of kinds.
var kindTypes = map[so.DocumentKind][]string{
	so.KindIdentityDocument:          {TypePDF, TypeJPEG, TypePNG},
	so.KindApplicantIdentityDocument: {TypePDF, TypeJPEG, TypePNG},
	so.KindProofOfAuthority:          {TypePDF, TypeJPEG, TypePNG},
	so.KindConsentForm:               {TypePDF},
	so.KindReport:                    {TypePDF},
	so.KindCoverLetter:               {TypePDF, TypeJPEG, TypePNG, TypeTIFF},
	so.KindClinicalHistory:           {TypePDF, TypeJPEG, TypePNG, TypeTIFF},
	so.KindHistologyReport:           {TypePDF, TypeJPEG, TypePNG, TypeTIFF},
	so.KindImagingReport:             {TypePDF, TypeJPEG, TypePNG, TypeTIFF},
	so.KindRadiotherapyPlan:          {TypePDF, TypeJPEG, TypePNG, TypeTIFF, TypeDICOM, TypeZIP},
	so.KindImagingStudy:              {TypeDICOM, TypeZIP},
	so.KindOther:                     allTypes,
}

// AllowedTypes returns the content types a document of kind may have, nil for an unknown kind.
func AllowedTypes(kind so.DocumentKind) []string { return slices.Clone(kindTypes[kind]) }

// MediaType returns the Content-Type to serve a document of a sniffed type with.
func MediaType(typ string) string {
	switch typ {
	case TypePDF:
		return "application/pdf"
	case TypeDICOM:
		return "application/dicom"
	case TypeZIP:
		return "application/zip"
	case TypeJPEG:
		return "image/jpeg"
	case TypePNG:
		return "image/png"
	case TypeTIFF:
		return "image/tiff"
	}
	return "application/octet-stream"
}

// Sniff names the type of a file from its first bytes (SniffLen are enough): a DICOM Part 10
// file has "DICM" after its 128-byte preamble, whatever the preamble holds, so it is tested
// first; then PDF ("%PDF-" at the start), ZIP (a local file header, or the end record of an
// empty archive), JPEG, PNG and TIFF (either byte order, classic or BigTIFF). Anything else
// is TypeUnknown.
func Sniff(head []byte) string {
	switch {
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		return TypeDICOM
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return TypePDF
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return TypeZIP
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return TypeJPEG
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return TypePNG
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")),
		bytes.HasPrefix(head, []byte("II+\x00")), bytes.HasPrefix(head, []byte("MM\x00+")):
		return TypeTIFF
	}
	return TypeUnknown
}
