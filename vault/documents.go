package vault

import (
	"context"
	"errors"
	"fmt"
	"io"

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
func (d *Documents) Open(ctx context.Context, docID, objectKey string, encryptedSize int64) (io.ReaderAt, int64, error) {
	id, err := d.Keys.Identity(ctx, docID)
	if err != nil {
		return nil, 0, err
	}
	w := d.Window
	if w <= 0 {
		w = DefaultWindow
	}
	return OpenReaderAt(ctx, MinIOObject{Client: d.Client, Bucket: d.Bucket, Key: objectKey}, encryptedSize, id, w)
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
