package access_test

import (
	"bytes"
	"encoding/base32"
)

func b32decode(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

func containsBytes(b, sub []byte) bool { return bytes.Contains(b, sub) }
