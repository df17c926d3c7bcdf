// Package miniosetup prepares MinIO for the service, once, with credentials that may
// administer it (MinIO's root): the documents' bucket; a bucket of its own for the audit
// checkpoints' copies, created with object locking (versioning and a default retention, so
// that no copy can be deleted or overwritten before the retention ends); a policy granting
// the service only what it does; and the service's user, with that policy alone.
//
// The service then runs with its user, never with root credentials. In the documents'
// bucket it may read, write and delete objects and run multipart uploads; in the checkpoints'
// bucket it may only add objects and read them (every version): no deletion, no change of
// retention or legal hold, no bypass of GOVERNANCE retention, no bucket configuration. A
// second put of a checkpoint's key adds a version, and the first stays readable.
//
// Setup is idempotent: it creates what is missing, sets the policy and the user's secret key
// again, and says what it did.
package miniosetup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/minio/madmin-go/v3"
	"github.com/minio/minio-go/v7"
)

// DefaultRetentionDays is the default retention of the checkpoints' bucket: ten years.
const DefaultRetentionDays = 3650

// Config says what Setup makes. Every field is required but CopyPrefix.
type Config struct {
	Admin *madmin.AdminClient // credentials that may manage users and policies (root)
	S3    *minio.Client       // the same credentials, for the buckets

	DocumentsBucket   string
	CheckpointsBucket string // must differ from DocumentsBucket

	AccessKey string // the service's user
	SecretKey string // its secret key (8 characters or more)

	Mode          minio.RetentionMode // the checkpoints' default retention: minio.Compliance or minio.Governance
	RetentionDays uint

	// CopyPrefix: objects of the documents' bucket under this prefix are copied to the
	// checkpoints' bucket under the same name, unless there already (checkpoint copies were
	// kept in the documents' bucket before). Empty: none.
	CopyPrefix string
}

// PolicyName is the name of the service's policy: its user's name and "-storage".
func PolicyName(accessKey string) string { return accessKey + "-storage" }

type statement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// Policy is the IAM policy of the service's user over the two buckets.
func Policy(documents, checkpoints string) []byte {
	bucket := func(b string) []string { return []string{"arn:aws:s3:::" + b} }
	objects := func(b string) []string { return []string{"arn:aws:s3:::" + b + "/*"} }
	doc := struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{Version: "2012-10-17", Statement: []statement{
		// Documents: uploads (multipart, with a tail object), reads, erasure; listing finds an
		// upload's tail objects.
		{"DocumentsBucket", "Allow", []string{"s3:GetBucketLocation", "s3:ListBucket"}, bucket(documents)},
		{"Documents", "Allow", []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject",
			"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, objects(documents)},
		// Checkpoints: add a copy, read every version back for `audit verify`, and see that
		// the bucket is locked (/readyz).
		{"CheckpointsBucket", "Allow", []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketVersions",
			"s3:GetBucketObjectLockConfiguration"}, bucket(checkpoints)},
		{"Checkpoints", "Allow", []string{"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"}, objects(checkpoints)},
		// Never, whatever another policy (of a group, say) grants: what would destroy or
		// unlock a copy.
		{"CheckpointsWriteOnce", "Deny", []string{"s3:DeleteObject", "s3:DeleteObjectVersion",
			"s3:PutObjectRetention", "s3:BypassGovernanceRetention", "s3:PutObjectLegalHold",
			"s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration",
			"s3:PutReplicationConfiguration", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:DeleteBucket"},
			append(bucket(checkpoints), objects(checkpoints)...)},
	}}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return b
}

func (c Config) check() error {
	var errs []error
	if c.Admin == nil || c.S3 == nil {
		errs = append(errs, errors.New("no MinIO clients"))
	}
	if c.DocumentsBucket == "" || c.CheckpointsBucket == "" || c.DocumentsBucket == c.CheckpointsBucket {
		errs = append(errs, errors.New("the documents' and the checkpoints' buckets must be two buckets"))
	}
	if len(c.AccessKey) < 3 || strings.ContainsAny(c.AccessKey, ",=") {
		errs = append(errs, errors.New("the service's access key must have 3 characters or more, and no , or ="))
	}
	if len(c.SecretKey) < 8 {
		errs = append(errs, errors.New("the service's secret key must have 8 characters or more"))
	}
	if !c.Mode.IsValid() {
		errs = append(errs, fmt.Errorf("retention mode %q is neither COMPLIANCE nor GOVERNANCE", c.Mode))
	}
	if c.RetentionDays < 1 {
		errs = append(errs, errors.New("the retention must be one day or more"))
	}
	return errors.Join(errs...)
}

// Setup makes the buckets, the policy and the user, and writes a line to out for each thing
// it made, changed or found in place. It never writes a secret.
func Setup(ctx context.Context, c Config, out io.Writer) error {
	if err := c.check(); err != nil {
		return fmt.Errorf("storage setup: %w", err)
	}
	// The checkpoints' bucket first: one there without object locking stops Setup before it
	// has made anything.
	if err := checkpointsBucket(ctx, c, out); err != nil {
		return err
	}
	if err := documentsBucket(ctx, c, out); err != nil {
		return err
	}
	if err := copyCheckpoints(ctx, c, out); err != nil {
		return err
	}
	return user(ctx, c, out)
}

func documentsBucket(ctx context.Context, c Config, out io.Writer) error {
	ok, err := c.S3.BucketExists(ctx, c.DocumentsBucket)
	if err != nil {
		return fmt.Errorf("storage setup: bucket %s: %w", c.DocumentsBucket, err)
	}
	if ok {
		fmt.Fprintf(out, "bucket %s: exists\n", c.DocumentsBucket)
		return nil
	}
	if err := c.S3.MakeBucket(ctx, c.DocumentsBucket, minio.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("storage setup: make bucket %s: %w", c.DocumentsBucket, err)
	}
	fmt.Fprintf(out, "bucket %s: created\n", c.DocumentsBucket)
	return nil
}

// checkpointsBucket creates the bucket with object locking, or checks that the one there has
// it (it can only be chosen when a bucket is made), and sets its default retention.
func checkpointsBucket(ctx context.Context, c Config, out io.Writer) error {
	b := c.CheckpointsBucket
	ok, err := c.S3.BucketExists(ctx, b)
	if err != nil {
		return fmt.Errorf("storage setup: bucket %s: %w", b, err)
	}
	var mode *minio.RetentionMode
	var validity *uint
	var unit *minio.ValidityUnit
	if ok {
		var lock string
		lock, mode, validity, unit, err = c.S3.GetObjectLockConfig(ctx, b)
		if err != nil || lock != "Enabled" {
			return fmt.Errorf("storage setup: bucket %s exists without object locking, which can only be chosen when a bucket is created: name a new bucket for the checkpoints (SO_MINIO_CHECKPOINT_BUCKET)", b)
		}
		fmt.Fprintf(out, "bucket %s: exists, with object locking\n", b)
	} else {
		if err := c.S3.MakeBucket(ctx, b, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
			return fmt.Errorf("storage setup: make bucket %s: %w", b, err)
		}
		fmt.Fprintf(out, "bucket %s: created, with object locking (and versioning)\n", b)
	}
	want := fmt.Sprintf("%s, %d days", c.Mode, c.RetentionDays)
	was := "none"
	if mode != nil && validity != nil && unit != nil {
		was = fmt.Sprintf("%s, %d %s", *mode, *validity, strings.ToLower(string(*unit)))
	}
	if was == want {
		fmt.Fprintf(out, "bucket %s: default retention %s\n", b, want)
		return nil
	}
	days, m, u := c.RetentionDays, c.Mode, minio.Days
	if err := c.S3.SetObjectLockConfig(ctx, b, &m, &days, &u); err != nil {
		return fmt.Errorf("storage setup: bucket %s: default retention: %w", b, err)
	}
	fmt.Fprintf(out, "bucket %s: default retention %s (was %s)\n", b, want, was)
	return nil
}

// copyCheckpoints copies the objects under CopyPrefix of the documents' bucket that the
// checkpoints' bucket lacks. The originals stay.
func copyCheckpoints(ctx context.Context, c Config, out io.Writer) error {
	if c.CopyPrefix == "" {
		return nil
	}
	n := 0
	for obj := range c.S3.ListObjects(ctx, c.DocumentsBucket, minio.ListObjectsOptions{Prefix: c.CopyPrefix, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("storage setup: list %s/%s: %w", c.DocumentsBucket, c.CopyPrefix, obj.Err)
		}
		_, err := c.S3.StatObject(ctx, c.CheckpointsBucket, obj.Key, minio.StatObjectOptions{})
		if err == nil {
			continue
		}
		if minio.ToErrorResponse(err).Code != minio.NoSuchKey {
			return fmt.Errorf("storage setup: %s/%s: %w", c.CheckpointsBucket, obj.Key, err)
		}
		if _, err := c.S3.CopyObject(ctx, minio.CopyDestOptions{Bucket: c.CheckpointsBucket, Object: obj.Key},
			minio.CopySrcOptions{Bucket: c.DocumentsBucket, Object: obj.Key}); err != nil {
			return fmt.Errorf("storage setup: copy %s/%s: %w", c.DocumentsBucket, obj.Key, err)
		}
		n++
	}
	if n > 0 {
		fmt.Fprintf(out, "bucket %s: %d objects copied from %s/%s (the originals stay)\n", c.CheckpointsBucket, n, c.DocumentsBucket, c.CopyPrefix)
	}
	return nil
}

// user sets the policy, the user's secret key, and makes the policy the user's only one.
func user(ctx context.Context, c Config, out io.Writer) error {
	name := PolicyName(c.AccessKey)
	if err := c.Admin.AddCannedPolicy(ctx, name, Policy(c.DocumentsBucket, c.CheckpointsBucket)); err != nil {
		return fmt.Errorf("storage setup: policy %s: %w", name, err)
	}
	fmt.Fprintf(out, "policy %s: set\n", name)

	_, err := c.Admin.GetUserInfo(ctx, c.AccessKey)
	existed := err == nil
	if err != nil && madmin.ToErrorResponse(err).Code != "XMinioAdminNoSuchUser" {
		return fmt.Errorf("storage setup: user %s: %w", c.AccessKey, err)
	}
	if err := c.Admin.AddUser(ctx, c.AccessKey, c.SecretKey); err != nil {
		return fmt.Errorf("storage setup: user %s: %w", c.AccessKey, err)
	}
	if existed {
		fmt.Fprintf(out, "user %s: exists; secret key set again, enabled\n", c.AccessKey)
	} else {
		fmt.Fprintf(out, "user %s: created\n", c.AccessKey)
	}
	info, err := c.Admin.GetUserInfo(ctx, c.AccessKey)
	if err != nil {
		return fmt.Errorf("storage setup: user %s: %w", c.AccessKey, err)
	}
	var others []string
	has := false
	for _, p := range strings.Split(info.PolicyName, ",") {
		switch p = strings.TrimSpace(p); p {
		case "":
		case name:
			has = true
		default:
			others = append(others, p)
		}
	}
	if !has {
		if _, err := c.Admin.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{name}, User: c.AccessKey}); err != nil {
			return fmt.Errorf("storage setup: attach policy %s to %s: %w", name, c.AccessKey, err)
		}
	}
	if len(others) > 0 {
		slices.Sort(others)
		if _, err := c.Admin.DetachPolicy(ctx, madmin.PolicyAssociationReq{Policies: others, User: c.AccessKey}); err != nil {
			return fmt.Errorf("storage setup: detach policies %s from %s: %w", strings.Join(others, ", "), c.AccessKey, err)
		}
		fmt.Fprintf(out, "user %s: policies %s detached\n", c.AccessKey, strings.Join(others, ", "))
	}
	fmt.Fprintf(out, "user %s: policy %s (only)\n", c.AccessKey, name)
	if len(info.MemberOf) > 0 {
		fmt.Fprintf(out, "warning: user %s is a member of the groups %s, whose policies apply too (their deletions in %s are denied whatever they say)\n",
			c.AccessKey, strings.Join(info.MemberOf, ", "), c.CheckpointsBucket)
	}
	return nil
}
