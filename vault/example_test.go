package vault_test

import (
	"bytes"
	"fmt"
	"io"

	"filippo.io/age"

	"github.com/secondopinion/secondopinion/vault"
)

// A file written chunk by chunk with a Sealer is an ordinary age file.
func Example() {
	id, _ := age.GenerateHybridIdentity()
	headerAndNonce, _ := vault.NewFileHeader(id.Recipient())

	s, _ := vault.NewSealer(headerAndNonce, id)
	file := bytes.Clone(headerAndNonce)
	file, _ = s.Seal(file, 0, []byte("a second opinion"), true)

	r, _ := age.Decrypt(bytes.NewReader(file), id)
	plain, _ := io.ReadAll(r)
	fmt.Println(string(plain))
	// Output: a second opinion
}
