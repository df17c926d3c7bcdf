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
// CheckpointSource.
//
// The bucket should be one of its own, created with object locking (versioning and a default
// retention; `secondopinion storage setup` makes it), written with credentials that may put
// and read objects there but not delete them nor change their retention: then neither the
// database owner nor the service itself can rewrite a copy. A second put of a key adds a
// version and leaves the first readable, and Checkpoints returns every version, so a
// rewritten copy is compared too. On a bucket without versioning it works the same, without
// that protection.
type MinIOSink struct {
	Client *minio.Client
	Bucket string
	Prefix string // e.g. "audit/"; may be empty
}

func (s *MinIOSink) key(size int64) string {
	return fmt.Sprintf("%scheckpoints/%020d", s.Prefix, size)
}

// PutCheckpoint stores one signed checkpoint note. When the object holds exactly this note
// already, nothing is written: on a versioned bucket every put would otherwise add a version
// kept for the whole retention period.
func (s *MinIOSink) PutCheckpoint(ctx context.Context, size int64, signedNote []byte) error {
	key := s.key(size)
	if b, err := s.read(ctx, key, ""); err == nil && bytes.Equal(b, signedNote) {
		return nil
	}
	// Any failure to read (most often: no such key) leads to the put, which reports its own.
	_, err := s.Client.PutObject(ctx, s.Bucket, key, bytes.NewReader(signedNote), int64(len(signedNote)),
		minio.PutObjectOptions{ContentType: "text/plain; charset=utf-8", SendContentMd5: true})
	if err != nil {
		return fmt.Errorf("put checkpoint %d: %w", size, err)
	}
	return nil
}

// Checkpoints returns every stored checkpoint note, in key order, every version of each
// key (the oldest first) where the bucket keeps versions.
func (s *MinIOSink) Checkpoints(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	var versions [][]byte // of the current key, newest first as listed
	var current string
	flush := func() {
		for i := len(versions) - 1; i >= 0; i-- {
			out = append(out, versions[i])
		}
		versions = versions[:0]
	}
	for obj := range s.Client.ListObjects(ctx, s.Bucket, minio.ListObjectsOptions{Prefix: s.Prefix + "checkpoints/", WithVersions: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list checkpoints: %w", obj.Err)
		}
		if obj.Key != current {
			flush()
			current = obj.Key
		}
		if obj.IsDeleteMarker {
			continue // hides nothing from us: the versions under it are listed too
		}
		b, err := s.read(ctx, obj.Key, obj.VersionID)
		if err != nil {
			return nil, err
		}
		versions = append(versions, b)
	}
	flush()
	return out, nil
}

// read returns one object (version: "" for the newest), bounded by maxCheckpointNote.
func (s *MinIOSink) read(ctx context.Context, key, version string) ([]byte, error) {
	o, err := s.Client.GetObject(ctx, s.Bucket, key, minio.GetObjectOptions{VersionID: version})
	if err != nil {
		return nil, fmt.Errorf("get checkpoint %s: %w", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(io.LimitReader(o, maxCheckpointNote+1))
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", key, err)
	}
	if len(b) > maxCheckpointNote {
		return nil, fmt.Errorf("checkpoint %s is larger than %d bytes", key, maxCheckpointNote)
	}
	return b, nil
}
