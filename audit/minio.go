package audit

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
)

// maxCheckpointNote bounds a checkpoint object read back from the sink.
const maxCheckpointNote = 64 << 10

// MinIOSink keeps checkpoint copies as objects named Prefix + "checkpoints/" + the tree size
// as 20 zero-padded digits, so a listing is in size order. It is both a CheckpointSink and a
// CheckpointSource. Use a bucket (or prefix) the database owner cannot write to, ideally with
// object locking, so rewriting the database cannot also rewrite the copies.
type MinIOSink struct {
	Client *minio.Client
	Bucket string
	Prefix string // e.g. "audit/"; may be empty
}

func (s *MinIOSink) key(size int64) string {
	return fmt.Sprintf("%scheckpoints/%020d", s.Prefix, size)
}

// PutCheckpoint stores one signed checkpoint note.
func (s *MinIOSink) PutCheckpoint(ctx context.Context, size int64, signedNote []byte) error {
	_, err := s.Client.PutObject(ctx, s.Bucket, s.key(size), bytes.NewReader(signedNote), int64(len(signedNote)),
		minio.PutObjectOptions{ContentType: "text/plain; charset=utf-8"})
	if err != nil {
		return fmt.Errorf("put checkpoint %d: %w", size, err)
	}
	return nil
}

// Checkpoints returns every stored checkpoint note, in key order.
func (s *MinIOSink) Checkpoints(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	for obj := range s.Client.ListObjects(ctx, s.Bucket, minio.ListObjectsOptions{Prefix: s.Prefix + "checkpoints/"}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list checkpoints: %w", obj.Err)
		}
		o, err := s.Client.GetObject(ctx, s.Bucket, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			return nil, fmt.Errorf("get checkpoint %s: %w", obj.Key, err)
		}
		b, err := io.ReadAll(io.LimitReader(o, maxCheckpointNote+1))
		o.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
		if err != nil {
			return nil, fmt.Errorf("read checkpoint %s: %w", obj.Key, err)
		}
		if len(b) > maxCheckpointNote {
			return nil, fmt.Errorf("checkpoint %s is larger than %d bytes", obj.Key, maxCheckpointNote)
		}
		out = append(out, b)
	}
	return out, nil
}
