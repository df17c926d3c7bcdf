package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"

	"github.com/minio/minio-go/v7"
)

// Documents opens and erases stored documents: each is one age file in the bucket, encrypted
// to its own identity held (wrapped) by Keys.
type Documents struct {
	Keys   *Keys
	Client *minio.Client
	Bucket string
	Window int64 // read-ahead window; DefaultWindow when 0
}

// Open returns the document's plaintext with random access and its size. A document whose
// object fits the read-ahead window (Window) is fetched whole with one GET (none when its
// key cache entry keeps the object, see keyCache) and served from that buffer of
// ciphertext; a larger one is read in windows of ranged GETs (see OpenReaderAt), and
// opening it reads the header and the final chunk. Either way the final
// chunk, which authenticates the size, is checked before Open returns. ErrNotFound when the
// document's key is gone.
//
// The returned ReaderAt also has a method Stream() (io.ReadCloser, error): the whole plaintext
// from its first byte, decrypted as it is read — for a large document through one sequential
// GET, where the next megabytes are received while the current ones are decrypted; for one held
// in memory from that buffer, with no further request. A stream that ends early, or a damaged
// chunk, is a read error, never a short clean EOF. The object's header is opened once per Open
// and once per Stream of a large document (the identity is unwrapped once per Open, and not at
// all when the key cache remembers it, see Keys).
func (d *Documents) Open(ctx context.Context, docID, objectKey string, encryptedSize int64) (io.ReaderAt, int64, error) {
	id, err := d.Keys.openIdentity(ctx, docID)
	if err != nil {
		return nil, 0, err
	}
	w := d.Window
	if w <= 0 {
		w = DefaultWindow
	}
	src := MinIOObject{Client: d.Client, Bucket: d.Bucket, Key: objectKey}
	if encryptedSize > 0 && encryptedSize <= w {
		cache := d.Keys.keyCache()
		file := cache.object(id.e, objectKey, encryptedSize)
		if file == nil {
			if file, err = fetch(ctx, src, 0, encryptedSize); err != nil {
				return nil, 0, err
			}
		}
		ra, size, err := openInMemory(file, id)
		if err != nil {
			return nil, 0, err
		}
		cache.keep(docID, id.e, objectKey, file) // only once it opened: authenticated at its end
		return ra, size, nil
	}
	plain, ra, size, err := openReadAhead(ctx, src, encryptedSize, id, w)
	if err != nil {
		return nil, 0, err
	}
	stream := func() (io.ReadCloser, error) { return ra.Stream(id) }
	return &openDocument{ReaderAt: plain, stream: stream}, size, nil
}

// openInMemory opens a small object fetched whole with one GET (or kept by the key cache).
// The ciphertext stays in memory; plaintext is decrypted a chunk at a time as it is read,
// never stored.
func openInMemory(file []byte, id age.Identity) (io.ReaderAt, int64, error) {
	plain, size, err := age.DecryptReaderAt(bytes.NewReader(file), int64(len(file)), id)
	if err != nil {
		return nil, 0, fmt.Errorf("vault: open age object: %w", err)
	}
	stream := func() (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(plain, 0, size)), nil
	}
	return &openDocument{ReaderAt: plain, stream: stream}, size, nil
}

type openDocument struct {
	io.ReaderAt
	stream func() (io.ReadCloser, error)
}

// Stream reads the whole plaintext sequentially (see Open).
func (o *openDocument) Stream() (io.ReadCloser, error) { return o.stream() }

// Erase crypto-shreds the document (its key row is deleted first, so the ciphertext is
// unreadable from then on) and then deletes its object. Erasing a document whose key is
// already gone still deletes the object.
func (d *Documents) Erase(ctx context.Context, docID, objectKey string) error {
	if err := d.Keys.Shred(ctx, docID); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("shred document key: %w", err)
	}
	if err := d.Client.RemoveObject(ctx, d.Bucket, objectKey, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete document object: %w", err)
	}
	return nil
}
