package upload

import (
	"archive/zip"
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"slices"
	"strings"
	"testing"

	so "github.com/secondopinion/secondopinion"
)

// dicomFile returns a DICOM Part 10 file with the given preamble (zero-padded to 128 bytes).
func dicomFile(preamble string) []byte {
	b := make([]byte, 128, 256)
	copy(b, preamble)
	b = append(b, "DICM"...)
	return append(b, "\x02\x00\x00\x00UL\x04\x00\x00\x00\x00\x00"...) // (0002,0000) group length
}

func encodedImage(t testing.TB, enc func(*bytes.Buffer, image.Image) error) []byte {
	var b bytes.Buffer
	if err := enc(&b, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSniff(t *testing.T) {
	var emptyZip bytes.Buffer
	zip.NewWriter(&emptyZip).Close()
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), TypePDF},
		{"pdf header not at start", []byte(" %PDF-1.7\n"), TypeUnknown},
		{"truncated pdf header", []byte("%PDF"), TypeUnknown},
		{"dicom", dicomFile(""), TypeDICOM},
		{"dicom with a pdf preamble is dicom", dicomFile("%PDF-1.4"), TypeDICOM},
		{"dicom with a tiff preamble is dicom", dicomFile("II*\x00"), TypeDICOM},
		{"DICM one byte early", append(make([]byte, 127), "DICM...."...), TypeUnknown},
		{"DICM cut short", append(make([]byte, 128), "DIC"...), TypeUnknown},
		{"zip", zipOf(t, zipEntry{name: "a.txt", data: "x"}), TypeZIP},
		{"empty zip", emptyZip.Bytes(), TypeZIP},
		{"zip spanning marker alone", []byte("PK\x07\x08PK\x03\x04"), TypeUnknown},
		{"jpeg", encodedImage(t, func(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, nil) }), TypeJPEG},
		{"jpeg cut short", []byte("\xff\xd8"), TypeUnknown},
		{"png", encodedImage(t, func(b *bytes.Buffer, m image.Image) error { return png.Encode(b, m) }), TypePNG},
		{"png signature damaged", []byte("\x89PNG\r\n\x1a\x00"), TypeUnknown},
		{"tiff little endian", []byte("II*\x00\x08\x00\x00\x00"), TypeTIFF},
		{"tiff big endian", []byte("MM\x00*\x00\x00\x00\x08"), TypeTIFF},
		{"bigtiff", []byte("II+\x00\x08\x00\x00\x00"), TypeTIFF},
		{"executable", []byte("MZ\x90\x00"), TypeUnknown},
		{"text", []byte("Referto istologico"), TypeUnknown},
		{"empty", nil, TypeUnknown},
	}
	for _, tt := range tests {
		if got := Sniff(tt.head); got != tt.want {
			t.Errorf("%s: Sniff = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestAllowedTypes(t *testing.T) {
	kinds := so.Kinds
	if len(kindTypes) != len(kinds) {
		t.Fatalf("%d kinds, want the %d checklist kinds", len(kindTypes), len(kinds))
	}
	for _, k := range kinds {
		if len(AllowedTypes(k)) == 0 {
			t.Errorf("kind %s allows nothing", k)
		}
	}
	for kind, want := range map[so.DocumentKind][]string{
		"identity_document": {TypePDF, TypeJPEG, TypePNG},
		"consent_form":      {TypePDF},
		"report":            {TypePDF},
		"imaging_study":     {TypeDICOM, TypeZIP},
		"histology_report":  {TypePDF, TypeJPEG, TypePNG, TypeTIFF},
		"radiotherapy_plan": {TypePDF, TypeJPEG, TypePNG, TypeTIFF, TypeDICOM, TypeZIP},
		"other":             {TypePDF, TypeDICOM, TypeZIP, TypeJPEG, TypePNG, TypeTIFF},
	} {
		if got := AllowedTypes(kind); !slices.Equal(got, want) {
			t.Errorf("AllowedTypes(%s) = %v, want %v", kind, got, want)
		}
	}
	if AllowedTypes("x-ray") != nil {
		t.Error("an unknown kind allows something")
	}
	got := AllowedTypes("other")
	got[0] = "exe"
	if AllowedTypes("other")[0] != TypePDF {
		t.Error("AllowedTypes returned its own table, not a copy")
	}
}

func TestMediaType(t *testing.T) {
	for typ, want := range map[string]string{TypePDF: "application/pdf", TypeDICOM: "application/dicom",
		TypeZIP: "application/zip", TypeJPEG: "image/jpeg", TypePNG: "image/png", TypeTIFF: "image/tiff",
		TypeUnknown: "application/octet-stream"} {
		if got := MediaType(typ); got != want {
			t.Errorf("MediaType(%s) = %s, want %s", typ, got, want)
		}
	}
}

func FuzzSniff(f *testing.F) {
	f.Add([]byte("%PDF-1.7"))
	f.Add(dicomFile("%PDF-"))
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte("\xff\xd8\xff"))
	f.Add([]byte("MM\x00*"))
	f.Fuzz(func(t *testing.T, head []byte) {
		got := Sniff(head)
		if got != TypeUnknown && !slices.Contains(allTypes, got) {
			t.Fatalf("Sniff returned %q", got)
		}
		if short := Sniff(head[:min(len(head), SniffLen)]); short != got {
			t.Fatalf("Sniff depends on bytes after SniffLen: %s vs %s", short, got)
		}
		if got == TypePDF && !strings.HasPrefix(string(head), "%PDF-") {
			t.Fatal("PDF without its header")
		}
	})
}

func ExampleSniff() {
	dicom := make([]byte, 132)
	copy(dicom[128:], "DICM")
	fmt.Println(Sniff([]byte("%PDF-1.4\n")), Sniff(dicom), Sniff([]byte("GIF89a")))
	fmt.Println(AllowedTypes("imaging_study"), MediaType(TypeDICOM))
	// Output:
	// pdf dicom unknown
	// [dicom zip] application/dicom
}
