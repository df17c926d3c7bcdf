package vault

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// sealAll writes plaintext as one age file to id's recipient with a Sealer.
func sealAll(t testing.TB, id *age.HybridIdentity, plaintext []byte) []byte {
	t.Helper()
	return sealTo(t, id.Recipient(), id, plaintext)
}

func sealTo(t testing.TB, r age.Recipient, id age.Identity, plaintext []byte) []byte {
	t.Helper()
	hn, err := NewFileHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(hn, id)
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Clone(hn)
	for i := uint64(0); ; i++ {
		n := min(len(plaintext), ChunkSize)
		last := n == len(plaintext)
		if out, err = s.Seal(out, i, plaintext[:n], last); err != nil {
			t.Fatal(err)
		}
		plaintext = plaintext[n:]
		if last {
			return out
		}
	}
}

func newIdentity(t testing.TB) *age.HybridIdentity {
	t.Helper()
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

var testSizes = []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 3*ChunkSize + 12345}

// TestSealedFilesDecrypt proves a sealed file is a standard age file: age.Decrypt,
// age.DecryptReaderAt and the age command decrypt it to the same bytes.
func TestSealedFilesDecrypt(t *testing.T) {
	ageBin := testenv.Binary(t, "age")
	id := newIdentity(t)
	idFile := filepath.Join(t.TempDir(), "document-identity.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, size := range testSizes {
		plain := randomBytes(size)
		want := sha256.Sum256(plain)
		file := sealAll(t, id, plain)

		r, err := age.Decrypt(bytes.NewReader(file), id)
		if err != nil {
			t.Fatalf("size %d: age.Decrypt: %v", size, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || sha256.Sum256(got) != want {
			t.Fatalf("size %d: age.Decrypt returned %d bytes, err %v", size, len(got), err)
		}

		ra, n, err := age.DecryptReaderAt(bytes.NewReader(file), int64(len(file)), id)
		if err != nil || n != int64(size) {
			t.Fatalf("size %d: DecryptReaderAt: size %d, %v", size, n, err)
		}
		got = make([]byte, n)
		if _, err := ra.ReadAt(got, 0); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("size %d: ReadAt: %v", size, err)
		}
		if sha256.Sum256(got) != want {
			t.Fatalf("size %d: DecryptReaderAt returned other bytes", size)
		}

		cmd := exec.Command(ageBin, "-d", "-i", idFile)
		cmd.Stdin = bytes.NewReader(file)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		got, err = cmd.Output()
		if err != nil {
			t.Fatalf("size %d: age -d: %v: %s", size, err, stderr.String())
		}
		if sha256.Sum256(got) != want {
			t.Fatalf("size %d: age -d returned %d other bytes", size, len(got))
		}
	}
}

func TestSealRejectsChunksAgeForbids(t *testing.T) {
	id := newIdentity(t)
	hn, err := NewFileHeader(id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(hn, id)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		index uint64
		size  int
		last  bool
		ok    bool
	}{
		{"full middle chunk", 3, ChunkSize, false, true},
		{"short middle chunk", 3, ChunkSize - 1, false, false},
		{"empty middle chunk", 3, 0, false, false},
		{"oversized chunk", 0, ChunkSize + 1, true, false},
		{"empty last chunk after others", 1, 0, true, false},
		{"empty only chunk", 0, 0, true, true},
		{"short last chunk", 7, 1, true, true},
		{"full last chunk", 7, ChunkSize, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := s.Seal(nil, tt.index, make([]byte, tt.size), tt.last)
			if tt.ok {
				if err != nil || len(out) != tt.size+16 {
					t.Fatalf("Seal: %d bytes, %v", len(out), err)
				}
			} else if !errors.Is(err, ErrBadChunk) {
				t.Fatalf("Seal: got %v, want ErrBadChunk", err)
			}
		})
	}
}

// TestMisplacedChunksFail proves the chunk index and last flag are authenticated: a
// chunk sealed for another position, a reused index or a wrong flag fails decryption.
func TestMisplacedChunksFail(t *testing.T) {
	id := newIdentity(t)
	hn, err := NewFileHeader(id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(hn, id)
	if err != nil {
		t.Fatal(err)
	}
	a, b := randomBytes(ChunkSize), randomBytes(100)
	seal := func(i uint64, p []byte, last bool) []byte {
		out, err := s.Seal(nil, i, p, last)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name   string
		chunks [][]byte
		ok     bool
	}{
		{"in order", [][]byte{seal(0, a, false), seal(1, b, true)}, true},
		{"swapped indexes", [][]byte{seal(1, a, false), seal(0, b, true)}, false},
		{"index reused", [][]byte{seal(0, a, false), seal(0, b, true)}, false},
		{"index skipped", [][]byte{seal(0, a, false), seal(2, b, true)}, false},
		{"last flag missing", [][]byte{seal(0, a, false), seal(1, a, false)}, false},
		{"last flag early", [][]byte{seal(0, a, true), seal(1, b, true)}, false},
		{"final chunk dropped", [][]byte{seal(0, a, false)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := bytes.Join(append([][]byte{hn}, tt.chunks...), nil)
			r, err := age.Decrypt(bytes.NewReader(file), id)
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if (err == nil) != tt.ok {
				t.Fatalf("age.Decrypt: %v, want ok=%v", err, tt.ok)
			}
			ra, n, err := age.DecryptReaderAt(bytes.NewReader(file), int64(len(file)), id)
			if err == nil {
				if _, err = ra.ReadAt(make([]byte, n), 0); err == io.EOF {
					err = nil
				}
			}
			if (err == nil) != tt.ok {
				t.Fatalf("age.DecryptReaderAt: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNewSealerNeedsTheIdentity(t *testing.T) {
	id := newIdentity(t)
	hn, err := NewFileHeader(id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSealer(hn, newIdentity(t)); err == nil {
		t.Fatal("NewSealer with another identity succeeded")
	}
	if _, err := NewSealer(hn[:NonceSize], id); err == nil {
		t.Fatal("NewSealer with a truncated header succeeded")
	}
	if !strings.HasPrefix(string(hn), "age-encryption.org/v1\n") {
		t.Fatalf("header does not start with the age version line: %q", hn[:20])
	}
}
