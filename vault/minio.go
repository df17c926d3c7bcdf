package vault

import (
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
)

// MinIOObject is a RangeReader over one object: each ReadRange is one ranged GET.
type MinIOObject struct {
	Client *minio.Client
	Bucket string
	Key    string
}

// ReadRange implements RangeReader.
func (o MinIOObject) ReadRange(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, fmt.Errorf("vault: range %d+%d: %w", off, n, err)
	}
	rc, _, _, err := minio.Core{Client: o.Client}.GetObject(ctx, o.Bucket, o.Key, opts)
	if err != nil {
		return nil, fmt.Errorf("vault: get object: %w", err)
	}
	return rc, nil
}

// Size returns the object's size in bytes (its encrypted size).
func (o MinIOObject) Size(ctx context.Context) (int64, error) {
	info, err := o.Client.StatObject(ctx, o.Bucket, o.Key, minio.StatObjectOptions{})
	if err != nil {
		return 0, fmt.Errorf("vault: stat object: %w", err)
	}
	return info.Size, nil
}
