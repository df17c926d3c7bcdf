package vault

import (
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

// Open returns the document's plaintext with random access and its size. Reading fetches the
// object in windows of ranged GETs (see OpenReaderAt); opening reads the header and the final
// chunk, which authenticates the size. ErrNotFound when the document's key is gone.
//
// The returned ReaderAt also has a method Stream() (io.ReadCloser, error): the whole plaintext
// from its first byte through one sequential GET, decrypted with age.Decrypt as it arrives —
// the fast path for reading a document whole. A stream that ends early, or a damaged chunk,
// is a read error, never a short clean EOF. The object's header is opened once per Open (and
// not at all when the key cache remembers it, see Keys).
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
	ra, size, err := OpenReaderAt(ctx, src, encryptedSize, id, w)
	if err != nil {
		return nil, 0, err
	}
	stream := func() (io.ReadCloser, error) {
		obj, err := d.Client.GetObject(ctx, d.Bucket, objectKey, minio.GetObjectOptions{})
		if err != nil {
			return nil, fmt.Errorf("get document object: %w", err)
		}
		plain, err := age.Decrypt(obj, id)
		if err != nil {
			obj.Close()
			return nil, fmt.Errorf("decrypt document: %w", err)
		}
		return &streamReader{Reader: plain, Closer: obj, left: size}, nil
	}
	return &openDocument{ReaderAt: ra, stream: stream}, size, nil
}

type openDocument struct {
	io.ReaderAt
	stream func() (io.ReadCloser, error)
}

// Stream reads the whole plaintext sequentially (see Open).
func (o *openDocument) Stream() (io.ReadCloser, error) { return o.stream() }

// streamReader checks the stream yields exactly the authenticated size.
type streamReader struct {
	io.Reader
	io.Closer
	left int64
}

func (s *streamReader) Read(p []byte) (int, error) {
	n, err := s.Reader.Read(p)
	s.left -= int64(n)
	if s.left < 0 || (err == io.EOF && s.left != 0) {
		return n, errors.New("vault: document stream does not match its authenticated size")
	}
	return n, err
}

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
