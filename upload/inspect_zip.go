package upload

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

var errZIPDirectoryTooLarge = errors.New("zip central directory over budget")

func unsafeArchive(format string, args ...any) *RejectError {
	return &RejectError{Status: http.StatusUnprocessableEntity, Code: "unsafe_archive", Message: fmt.Sprintf(format, args...)}
}

var unreadableArchive = &RejectError{Status: http.StatusUnprocessableEntity, Code: "unreadable_file",
	Message: "the ZIP archive is damaged or uses features that are not supported"}

// inspectZIP reads the central directory of the archive (never the entries' data) and judges
// it by the sizes and names it declares. Read errors are left in r for the caller.
func inspectZIP(r io.ReaderAt, size int64, lim inspectLimits) ([]string, *RejectError) {
	// archive/zip reads directory records until one fails to parse, whatever the archive
	// declares: the budget (which also covers finding the end record, at most 64 KiB) bounds
	// that, and the memory the records take.
	zr, err := zip.NewReader(&budgetReaderAt{r: r, left: lim.zipDirBytes}, size)
	switch {
	case errors.Is(err, errZIPDirectoryTooLarge):
		return nil, unsafeArchive("the archive's directory is larger than %s", formatSize(lim.zipDirBytes))
	case errors.Is(err, zip.ErrInsecurePath): // only with GODEBUG=zipinsecurepath=0; judged below
	case err != nil:
		return nil, unreadableArchive
	}
	if len(zr.File) > lim.zipEntries {
		return nil, unsafeArchive("the archive has more than %d entries", lim.zipEntries)
	}
	var flags []string
	var total uint64
	for _, f := range zr.File {
		if unsafeZIPName(f.Name) || f.Mode()&fs.ModeSymlink != 0 {
			return nil, unsafeArchive("the archive has an entry that could be written outside its folder when extracted (an absolute or parent path, a backslash, a control character or a symbolic link)")
		}
		if f.CompressedSize64 > uint64(size) { // #nosec G115 -- size is a document's length, never negative
			return nil, unreadableArchive
		}
		if bomb(f.UncompressedSize64, f.CompressedSize64, lim) {
			return nil, unsafeArchive("the archive has an entry that expands more than %d times (a \"zip bomb\")", lim.zipRatio)
		}
		if total += f.UncompressedSize64; total < f.UncompressedSize64 || total > lim.zipUncompressed {
			return nil, unsafeArchive("the archive expands to more than %s", formatSize(int64(lim.zipUncompressed))) // #nosec G115 -- a configured limit of a few GiB
		}
		if f.Flags&0x1 != 0 {
			flags = append(flags, FlagZIPEncrypted)
		}
		switch strings.ToLower(path.Ext(f.Name)) {
		case ".zip", ".7z", ".rar", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".zst":
			flags = append(flags, FlagZIPNested)
		}
	}
	if bomb(total, uint64(size), lim) { // #nosec G115 -- size is a document's length, never negative
		return nil, unsafeArchive("the archive expands more than %d times (a \"zip bomb\")", lim.zipRatio)
	}
	return flags, nil
}

// bomb reports an expansion beyond the floor and more than the ratio allows.
func bomb(uncompressed, compressed uint64, lim inspectLimits) bool {
	return uncompressed > lim.zipRatioFloor && uncompressed/max(compressed, 1) > lim.zipRatio
}

// unsafeZIPName reports a name that extracts outside the target folder on some system, or
// hides its real form: absolute (/x, C:x), with a ".." component, a backslash, NUL or another
// control character.
func unsafeZIPName(name string) bool {
	if strings.HasPrefix(name, "/") || strings.ContainsRune(name, '\\') || len(name) >= 2 && name[1] == ':' {
		return true
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return true
		}
	}
	for part := range strings.SplitSeq(name, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// budgetReaderAt fails once more than left bytes have been asked for.
type budgetReaderAt struct {
	r    io.ReaderAt
	left int64
}

func (b *budgetReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if int64(len(p)) > b.left {
		return 0, errZIPDirectoryTooLarge
	}
	b.left -= int64(len(p))
	return b.r.ReadAt(p, off)
}
