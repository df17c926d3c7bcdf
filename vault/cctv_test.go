package vault

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"strings"
	"testing"

	agetest "c2sp.org/CCTV/age"
	"filippo.io/age"
)

// cctvVector is one C2SP CCTV age test vector (c2sp.org/CCTV/age).
type cctvVector struct {
	expect      string
	payloadHash []byte
	identities  []age.Identity
	armored     bool
	file        []byte
}

func parseCCTV(t *testing.T, b []byte) cctvVector {
	t.Helper()
	var v cctvVector
	compressed := false
	for {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok {
			t.Fatal("vector without payload")
		}
		b = rest
		if len(line) == 0 {
			break
		}
		key, value, _ := strings.Cut(string(line), ": ")
		switch key {
		case "expect":
			v.expect = value
		case "payload":
			h, err := hex.DecodeString(value)
			if err != nil {
				t.Fatal(err)
			}
			v.payloadHash = h
		case "identity":
			ks, err := parseKEKs(strings.NewReader(value))
			if err != nil {
				t.Fatal(err)
			}
			v.identities = append(v.identities, ks[0].id)
		case "armored":
			v.armored = true
		case "compressed":
			compressed = true
		}
	}
	v.file = b
	if compressed {
		r, err := zlib.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if v.file, err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// TestCCTVVectors runs the C2SP CCTV age vectors that apply to this package: binary
// (not armored) files for X25519 or hybrid identities (not scrypt passphrases). Every
// success vector is re-sealed from its plaintext with a Sealer built from its header and
// nonce, and must come out bit for bit identical; every vector goes through OpenReaderAt
// over a ReadAhead, which must reproduce the expected plaintext or fail as expected.
func TestCCTVVectors(t *testing.T) {
	entries, err := fs.ReadDir(agetest.Vectors, ".")
	if err != nil {
		t.Fatal(err)
	}
	resealed, failed := 0, 0
	for _, e := range entries {
		b, err := fs.ReadFile(agetest.Vectors, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		v := parseCCTV(t, b)
		if v.armored || len(v.identities) == 0 {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			src := &memObject{data: v.file}
			ra, n, err := OpenReaderAt(t.Context(), src, int64(len(v.file)), v.identities[0], 2*SealedChunkSize)
			for _, id := range v.identities[1:] {
				if err == nil {
					break
				}
				ra, n, err = OpenReaderAt(t.Context(), src, int64(len(v.file)), id, 2*SealedChunkSize)
			}
			var plain []byte
			if err == nil {
				plain, err = io.ReadAll(io.NewSectionReader(ra, 0, n))
			}
			if v.expect != "success" {
				if err == nil {
					t.Fatalf("expected %s, OpenReaderAt read %d bytes", v.expect, len(plain))
				}
				failed++
				return
			}
			if err != nil {
				t.Fatalf("OpenReaderAt: %v", err)
			}
			if sum := sha256.Sum256(plain); !bytes.Equal(sum[:], v.payloadHash) {
				t.Fatal("plaintext hash differs from the vector's")
			}

			hdr, err := age.ExtractHeader(bytes.NewReader(v.file))
			if err != nil {
				t.Fatal(err)
			}
			hn := v.file[:len(hdr)+NonceSize]
			var s *Sealer
			for _, id := range v.identities {
				if s, err = NewSealer(hn, id); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatalf("NewSealer: %v", err)
			}
			out := bytes.Clone(hn)
			for i := uint64(0); ; i++ {
				c := min(len(plain), ChunkSize)
				last := c == len(plain)
				if out, err = s.Seal(out, i, plain[:c], last); err != nil {
					t.Fatal(err)
				}
				plain = plain[c:]
				if last {
					break
				}
			}
			if !bytes.Equal(out, v.file) {
				t.Fatal("re-sealed file differs from the vector")
			}
			resealed++
		})
	}
	if resealed < 10 || failed < 30 {
		t.Fatalf("only %d vectors re-sealed and %d failures checked", resealed, failed)
	}
	t.Logf("%d vectors re-sealed bit for bit, %d expected failures detected", resealed, failed)
}
