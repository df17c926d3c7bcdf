package testenv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minio/madmin-go/v3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// NewLockedBucket creates a fresh bucket with object locking on m's server, as `secondopinion
// storage setup` makes the audit checkpoints' bucket, but with a default retention of one day
// in GOVERNANCE mode: the test's cleanup removes every version with m's root credentials,
// which may bypass it. It returns the bucket's name.
func NewLockedBucket(t testing.TB, m *MinIO) string {
	t.Helper()
	bucket := strings.ReplaceAll(randomName("so-tl-"), "_", "-")
	ctx := context.Background()
	if err := m.Client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatalf("make locked bucket: %v", err)
	}
	t.Cleanup(func() { m.Purge(bucket) }) // #nosec G104 -- test cleanup: nothing to do about a failure
	mode, days, unit := minio.Governance, uint(1), minio.Days
	if err := m.Client.SetObjectLockConfig(ctx, bucket, &mode, &days, &unit); err != nil {
		t.Fatalf("object lock configuration: %v", err)
	}
	return bucket
}

// Purge removes a bucket with every object version in it, bypassing GOVERNANCE retention
// (m's credentials must be root's). A bucket that does not exist is no error.
func (m *MinIO) Purge(bucket string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for obj := range m.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			if minio.ToErrorResponse(obj.Err).Code == minio.NoSuchBucket {
				return nil
			}
			return obj.Err
		}
		errs = append(errs, m.Client.RemoveObject(ctx, bucket, obj.Key,
			minio.RemoveObjectOptions{VersionID: obj.VersionID, GovernanceBypass: true}))
	}
	for u := range m.Client.ListIncompleteUploads(ctx, bucket, "", true) {
		if u.Err == nil {
			errs = append(errs, m.Client.RemoveIncompleteUpload(ctx, bucket, u.Key))
		}
	}
	errs = append(errs, m.Client.RemoveBucket(ctx, bucket))
	return errors.Join(errs...)
}

// Admin returns a MinIO admin client with m's (root) credentials.
func (m *MinIO) Admin(t testing.TB) *madmin.AdminClient {
	t.Helper()
	a, err := madmin.NewWithOptions(m.Endpoint, &madmin.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatalf("madmin client: %v", err)
	}
	return a
}

// As returns a client of m's server with other credentials (e.g. the service's user).
func (m *MinIO) As(t testing.TB, accessKey, secretKey string) *minio.Client {
	t.Helper()
	c, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, "")})
	if err != nil {
		t.Fatalf("minio client: %v", err)
	}
	return c
}
