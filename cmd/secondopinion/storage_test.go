package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/madmin-go/v3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/internal/miniosetup"
	"github.com/secondopinion/secondopinion/internal/testenv"
)

// storageEnv is what `storage setup` is given in a test: fresh names on srv, whose root
// credentials it uses; the cleanup removes the user, the policy and both buckets.
type storageEnv struct {
	srv                *testenv.MinIO
	vars               map[string]string
	docs, checkpoints  string
	user, secretFile   string
	rootPasswordFile   string
	lastOutput, secret string
}

func newStorageEnv(t *testing.T, srv *testenv.MinIO) *storageEnv {
	t.Helper()
	id := strings.ToLower(rand.Text()[:10])
	dir := t.TempDir()
	e := &storageEnv{srv: srv, docs: "so-st-" + id, checkpoints: "so-st-" + id + "-audit", user: "so-svc-" + id,
		secretFile: filepath.Join(dir, "minio-service-secret"), rootPasswordFile: filepath.Join(dir, "minio-root-password")}
	if err := os.WriteFile(e.rootPasswordFile, []byte(srv.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := srv.Admin(t)
	t.Cleanup(func() {
		ctx := context.Background()
		admin.RemoveUser(ctx, e.user)                                // #nosec G104 -- test cleanup
		admin.RemoveCannedPolicy(ctx, miniosetup.PolicyName(e.user)) // #nosec G104 -- test cleanup
		srv.Purge(e.docs)                                            // #nosec G104 -- test cleanup
		srv.Purge(e.checkpoints)                                     // #nosec G104 -- test cleanup
	})
	e.vars = map[string]string{
		"SO_MINIO_ENDPOINT":           srv.Endpoint,
		"SO_MINIO_ROOT_USER":          srv.AccessKey,
		"SO_MINIO_ROOT_PASSWORD_FILE": e.rootPasswordFile,
		"SO_MINIO_ACCESS_KEY":         e.user,
		"SO_MINIO_BUCKET":             e.docs,
		"SO_MINIO_CHECKPOINT_BUCKET":  e.checkpoints,
	}
	return e
}

// setup runs `storage setup ARGS` and keeps its output and the service's secret.
func (e *storageEnv) setup(t *testing.T, args ...string) error {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"storage", "setup"}, args...), &out, &out, env(e.vars))
	e.lastOutput = out.String()
	if b, rerr := os.ReadFile(e.secretFile); rerr == nil {
		e.secret = strings.TrimSpace(string(b))
	}
	return err
}

func (e *storageEnv) mustSetup(t *testing.T, args ...string) {
	t.Helper()
	if err := e.setup(t, args...); err != nil {
		t.Fatalf("storage setup: %v\n%s", err, e.lastOutput)
	}
	t.Logf("storage setup:\n%s", e.lastOutput)
}

func accessDenied(err error) bool {
	return err != nil && minio.ToErrorResponse(err).Code == "AccessDenied"
}

// After `storage setup` (finding 3), the service's own user may do in the documents' bucket
// what the service does, and nothing else anywhere: in the checkpoints' bucket it may add
// and read, but neither delete a copy nor destroy it by writing the key again, nor unlock
// it; it may not create buckets, read other buckets or administer MinIO. Setup is
// idempotent and the secret file is the operator's, mode 0600.
func TestStorageSetupLeastPrivilege(t *testing.T) {
	other := testenv.NewBucket(t) // a bucket the service has nothing to do with
	ctx := context.Background()
	if _, err := other.Client.PutObject(ctx, other.Bucket, "private", strings.NewReader("not yours"), 9, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	e := newStorageEnv(t, other)
	lock := []string{"--lock-mode", "governance", "--retention-days", "1", "--secret-out", e.secretFile}
	e.mustSetup(t, lock...)
	for _, want := range []string{"bucket " + e.docs + ": created", "bucket " + e.checkpoints + ": created, with object locking",
		"default retention GOVERNANCE, 1 days", "user " + e.user + ": created", "policy " + miniosetup.PolicyName(e.user) + " (only)",
		"SO_MINIO_SECRET_KEY_FILE=" + e.secretFile} {
		if !strings.Contains(e.lastOutput, want) {
			t.Errorf("first setup does not say %q", want)
		}
	}
	if fi, err := os.Stat(e.secretFile); err != nil || fi.Mode().Perm() != 0o600 || len(e.secret) != 40 {
		t.Fatalf("secret file: %v %v, %d characters", fi.Mode(), err, len(e.secret))
	}
	if strings.Contains(e.lastOutput, e.secret) || strings.Contains(e.lastOutput, other.SecretKey) {
		t.Fatal("setup printed a secret")
	}
	first := e.secret

	// Idempotent: a second run finds everything, keeps the secret, and copies checkpoint
	// copies kept in the documents' bucket before; a policy attached by hand is detached.
	legacy := "audit/checkpoints/00000000000000000007"
	if _, err := other.Client.PutObject(ctx, e.docs, legacy, strings.NewReader("old copy"), 8, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Admin(t).AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{"readwrite"}, User: e.user}); err != nil {
		t.Fatal(err)
	}
	e.mustSetup(t, lock...)
	for _, want := range []string{"bucket " + e.docs + ": exists", "bucket " + e.checkpoints + ": exists, with object locking",
		"user " + e.user + ": exists", "policies readwrite detached", "1 objects copied"} {
		if !strings.Contains(e.lastOutput, want) {
			t.Errorf("second setup does not say %q", want)
		}
	}
	if e.secret != first {
		t.Fatal("the second setup changed the secret file")
	}
	if info, err := other.Admin(t).GetUserInfo(ctx, e.user); err != nil || info.PolicyName != miniosetup.PolicyName(e.user) {
		t.Fatalf("the user's policies: %q %v", info.PolicyName, err)
	}
	if _, err := other.Client.StatObject(ctx, e.checkpoints, legacy, minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the old checkpoint copy was not copied: %v", err)
	}

	svc := other.As(t, e.user, e.secret)
	core := minio.Core{Client: svc}

	// The documents' bucket: what the service does there.
	put := func(bucket, key, body string) (minio.UploadInfo, error) {
		return svc.PutObject(ctx, bucket, key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{SendContentMd5: true})
	}
	read := func(c *minio.Client, bucket, key, version string) (string, error) {
		o, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{VersionID: version})
		if err != nil {
			return "", err
		}
		defer o.Close()
		b, err := io.ReadAll(o)
		return string(b), err
	}
	if _, err := put(e.docs, "doc", "ciphertext"); err != nil {
		t.Fatalf("put a document: %v", err)
	}
	if got, err := read(svc, e.docs, "doc", ""); err != nil || got != "ciphertext" {
		t.Fatalf("read a document: %q %v", got, err)
	}
	for o := range svc.ListObjects(ctx, e.docs, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list documents: %v", o.Err)
		}
	}
	id, err := core.NewMultipartUpload(ctx, e.docs, "big", minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("multipart upload: %v", err)
	}
	part, err := core.PutObjectPart(ctx, e.docs, "big", id, 1, strings.NewReader("part"), 4, minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatalf("put part: %v", err)
	}
	if _, err := core.ListObjectParts(ctx, e.docs, "big", id, 0, 100); err != nil {
		t.Fatalf("list parts: %v", err)
	}
	if _, err := core.CompleteMultipartUpload(ctx, e.docs, "big", id, []minio.CompletePart{{PartNumber: 1, ETag: part.ETag}}, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("complete: %v", err)
	}
	id, err = core.NewMultipartUpload(ctx, e.docs, "abandoned", minio.PutObjectOptions{})
	if err != nil || core.AbortMultipartUpload(ctx, e.docs, "abandoned", id) != nil {
		t.Fatalf("abort a multipart upload: %v", err)
	}
	for _, key := range []string{"doc", "big"} {
		if err := svc.RemoveObject(ctx, e.docs, key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("delete a document: %v", err)
		}
	}

	// The checkpoints' bucket: add and read, never destroy.
	key := "audit/checkpoints/00000000000000000042"
	v1, err := put(e.checkpoints, key, "first")
	if err != nil {
		t.Fatalf("put a checkpoint copy: %v", err)
	}
	if v1.VersionID == "" {
		t.Fatal("the checkpoints' bucket keeps no versions")
	}
	if err := svc.RemoveObject(ctx, e.checkpoints, key, minio.RemoveObjectOptions{VersionID: v1.VersionID}); !accessDenied(err) {
		t.Errorf("the service deleted a version of a checkpoint copy: %v", err)
	}
	if err := svc.RemoveObject(ctx, e.checkpoints, key, minio.RemoveObjectOptions{VersionID: v1.VersionID, GovernanceBypass: true}); !accessDenied(err) {
		t.Errorf("the service deleted a version bypassing governance: %v", err)
	}
	if err := svc.RemoveObject(ctx, e.checkpoints, key, minio.RemoveObjectOptions{}); !accessDenied(err) {
		t.Errorf("the service hid a checkpoint copy under a delete marker: %v", err)
	}
	sooner := time.Now().Add(time.Hour)
	mode := minio.Governance
	if err := svc.PutObjectRetention(ctx, e.checkpoints, key, minio.PutObjectRetentionOptions{Mode: &mode,
		RetainUntilDate: &sooner, VersionID: v1.VersionID, GovernanceBypass: true}); !accessDenied(err) {
		t.Errorf("the service shortened a copy's retention: %v", err)
	}
	if _, err := put(e.checkpoints, key, "rewritten"); err != nil {
		t.Fatalf("put the key again: %v", err)
	}
	if got, err := read(svc, e.checkpoints, key, v1.VersionID); err != nil || got != "first" {
		t.Fatalf("the first version after a rewrite: %q %v", got, err)
	}
	versions := 0
	for o := range svc.ListObjects(ctx, e.checkpoints, minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
		if o.Err != nil {
			t.Fatalf("list versions: %v", o.Err)
		}
		versions++
	}
	if versions != 2 {
		t.Fatalf("%d versions of the rewritten key, want 2", versions)
	}
	// The lock itself, not only the policy: root cannot delete the version without bypassing.
	if err := other.Client.RemoveObject(ctx, e.checkpoints, key, minio.RemoveObjectOptions{VersionID: v1.VersionID}); err == nil {
		t.Error("root deleted a locked version without bypassing governance")
	}
	days, unit := uint(1), minio.Days
	if err := svc.SetObjectLockConfig(ctx, e.checkpoints, &mode, &days, &unit); !accessDenied(err) {
		t.Errorf("the service changed the default retention: %v", err)
	}
	if err := svc.SuspendVersioning(ctx, e.checkpoints); !accessDenied(err) {
		t.Errorf("the service suspended versioning: %v", err)
	}

	// Nothing else.
	if err := svc.MakeBucket(ctx, "so-st-"+strings.ToLower(rand.Text()[:10]), minio.MakeBucketOptions{}); !accessDenied(err) {
		t.Errorf("the service made a bucket: %v", err)
	}
	if _, err := read(svc, other.Bucket, "private", ""); !accessDenied(err) {
		t.Errorf("the service read another bucket: %v", err)
	}
	for o := range svc.ListObjects(ctx, other.Bucket, minio.ListObjectsOptions{}) {
		if !accessDenied(o.Err) {
			t.Errorf("the service listed another bucket: %+v", o)
		}
	}
	if _, err := put(other.Bucket, "planted", "x"); !accessDenied(err) {
		t.Errorf("the service wrote to another bucket: %v", err)
	}
	svcAdmin, err := madmin.NewWithOptions(other.Endpoint, &madmin.Options{Creds: credentials.NewStaticV4(e.user, e.secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := svcAdmin.AddUser(ctx, e.user+"x", "another-secret"); err == nil {
		t.Error("the service added a MinIO user")
	}
	if err := svcAdmin.AddCannedPolicy(ctx, miniosetup.PolicyName(e.user), []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}`)); err == nil {
		t.Error("the service rewrote its own policy")
	}
}

// Without flags the checkpoints' bucket is locked in COMPLIANCE mode for ten years: not
// even root may delete a copy early. On a MinIO of the test's own, which goes with it.
func TestStorageSetupCompliesByDefault(t *testing.T) {
	mp := testenv.StartMinIO(t)
	e := newStorageEnv(t, &mp.MinIO)
	e.vars["SO_MINIO_SECRET_KEY"] = "service-secret-" + strings.ToLower(rand.Text()[:8])
	e.mustSetup(t)
	lock, mode, validity, unit, err := mp.Client.GetObjectLockConfig(context.Background(), e.checkpoints)
	if err != nil || lock != "Enabled" || *mode != minio.Compliance || *validity != miniosetup.DefaultRetentionDays || *unit != minio.Days {
		t.Fatalf("object lock: %s %v %v %v %v", lock, mode, validity, unit, err)
	}
	svc := mp.As(t, e.user, e.vars["SO_MINIO_SECRET_KEY"])
	info, err := svc.PutObject(context.Background(), e.checkpoints, "audit/checkpoints/1", strings.NewReader("x"), 1, minio.PutObjectOptions{SendContentMd5: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.Client.RemoveObject(context.Background(), e.checkpoints, "audit/checkpoints/1",
		minio.RemoveObjectOptions{VersionID: info.VersionID, GovernanceBypass: true}); err == nil {
		t.Fatal("root deleted a copy under COMPLIANCE retention")
	}
}

// storage setup refuses what would not give the service a user of its own and locked
// checkpoint copies, naming the variable.
func TestStorageSetupRefuses(t *testing.T) {
	srv := testenv.NewBucket(t) // a bucket without object locking
	tests := []struct {
		name string
		edit func(e *storageEnv)
		args []string
		want []string
	}{
		{"no root credentials", func(e *storageEnv) {
			delete(e.vars, "SO_MINIO_ROOT_USER")
			delete(e.vars, "SO_MINIO_ROOT_PASSWORD_FILE")
		}, nil, []string{"SO_MINIO_ROOT_USER", "SO_MINIO_ROOT_PASSWORD"}},
		{"the root user as the service's", func(e *storageEnv) { e.vars["SO_MINIO_ACCESS_KEY"] = srv.AccessKey }, nil, []string{"SO_MINIO_ACCESS_KEY"}},
		{"the root password as the service's", func(e *storageEnv) { e.vars["SO_MINIO_SECRET_KEY"] = srv.SecretKey }, nil, []string{"SO_MINIO_SECRET_KEY"}},
		{"no service secret", func(*storageEnv) {}, nil, []string{"SO_MINIO_SECRET_KEY", "--secret-out"}},
		{"a lock mode that does not exist", func(e *storageEnv) { e.vars["SO_MINIO_SECRET_KEY"] = "service-secret" },
			[]string{"--lock-mode", "loose"}, []string{"--lock-mode"}},
		{"an existing checkpoints' bucket without object locking", func(e *storageEnv) {
			e.vars["SO_MINIO_SECRET_KEY"] = "service-secret"
			e.vars["SO_MINIO_CHECKPOINT_BUCKET"] = srv.Bucket
		}, nil, []string{"without object locking", "SO_MINIO_CHECKPOINT_BUCKET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newStorageEnv(t, srv)
			tt.edit(e)
			err := e.setup(t, tt.args...)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to name %s", err, w)
				}
			}
			if err != nil && strings.Contains(err.Error(), srv.SecretKey) {
				t.Fatal("the error shows the root password")
			}
			if ok, _ := srv.Client.BucketExists(context.Background(), e.docs); ok {
				t.Error("a refused setup made a bucket")
			}
		})
	}
}

// The service runs whole with the least-privilege user of `storage setup` (finding 3):
// uploads with a tail and several PATCHes, reads, erasure, a terminated upload; and the audit
// checkpoint's copy lands in the checkpoints' bucket, nowhere in the documents' bucket.
// Before, the copies went to the documents' bucket, with root credentials.
func TestServiceRunsWithLeastPrivilegeUser(t *testing.T) {
	srv := testenv.NewBucket(t)
	e := newStorageEnv(t, srv)
	e.mustSetup(t, "--lock-mode", "governance", "--retention-days", "1", "--secret-out", e.secretFile)
	a := bootAPIWith(t, testenv.NewDB(t), srv, func(v map[string]string) {
		v["SO_MINIO_ACCESS_KEY"], v["SO_MINIO_SECRET_KEY"] = e.user, e.secret
		v["SO_MINIO_BUCKET"], v["SO_MINIO_CHECKPOINT_BUCKET"] = e.docs, e.checkpoints
	})
	if got := status(t, a.base+"/readyz"); got != 200 {
		t.Fatalf("/readyz = %d", got)
	}
	ann, _ := a.tokenFor("ann@example.org", so.RoleApplicant)
	caseID := a.newCase(ann, "Maria")

	// 6 MiB in two PATCHes: the first leaves a tail object, the second a part and the end.
	content := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("0"), 6<<20)...)
	content = append(content, "\n%%EOF\n"...)
	loc := createUpload(a, ann, caseID, len(content))
	patchUpload(a, ann, loc, 0, content[:1<<20])
	if off := a.do(ann, "HEAD", loc, nil, tusHeaders).want(t, 200, "HEAD").header.Get("Upload-Offset"); off != strconv.Itoa(1<<20) {
		t.Fatalf("offset %s after the first PATCH", off)
	}
	patchUpload(a, ann, loc, 1<<20, content[1<<20:])
	doc := path.Base(loc)
	got := a.do(ann, "GET", "/api/v1/documents/"+doc+"/content", nil).want(t, 200, "read the document").body
	if !bytes.Equal(got, content) {
		t.Fatalf("read back %d bytes, want the %d uploaded", len(got), len(content))
	}
	a.do(ann, "DELETE", "/api/v1/documents/"+doc, nil).want(t, 204, "erase the document")

	// A terminated upload: its multipart upload is aborted and its tail deleted.
	loc = createUpload(a, ann, caseID, 6<<20)
	patchUpload(a, ann, loc, 0, content[:1<<20])
	a.do(ann, "DELETE", loc, nil, tusHeaders).want(t, 204, "terminate an upload")

	ctx := context.Background()
	for o := range srv.Client.ListObjects(ctx, e.docs, minio.ListObjectsOptions{Recursive: true}) {
		t.Errorf("left in the documents' bucket: %s %v", o.Key, o.Err)
	}
	for u := range srv.Client.ListIncompleteUploads(ctx, e.docs, "", true) {
		t.Errorf("multipart upload left: %s %v", u.Key, u.Err)
	}

	cp, err := a.m.checkpointer.Checkpoint(ctx)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if _, err := srv.Client.StatObject(ctx, e.checkpoints, fmt.Sprintf("audit/checkpoints/%020d", cp.Size), minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the checkpoint's copy is not in the checkpoints' bucket: %v", err)
	}
	for o := range srv.Client.ListObjects(ctx, e.docs, minio.ListObjectsOptions{Prefix: "audit/", Recursive: true}) {
		t.Errorf("a checkpoint copy in the documents' bucket: %s %v", o.Key, o.Err)
	}
	if out, err := a.verifyCLI(); err != nil || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("audit verify with the service's user: %v\n%s", err, out)
	}
}

// The service is not ready while its checkpoints' bucket does not lock what is put there.
func TestReadinessNeedsLockedCheckpointBucket(t *testing.T) {
	mb := testenv.NewBucket(t)
	vars := baseVars(t, testenv.NewDB(t), mb)
	vars["SO_MINIO_CHECKPOINT_BUCKET"] = testenv.NewBucket(t).Bucket // on the same server, without object locking
	m := boot(t, vars, nil)
	waitStatus(t, "http://"+m.Addr+"/readyz", 503)
}

func tusHeaders(req *http.Request) { req.Header.Set("Tus-Resumable", "1.0.0") }

// createUpload creates an upload of a clinical history as w and returns its path.
func createUpload(a *apiServer, w who, caseID string, size int) string {
	a.t.Helper()
	r := a.do(w, "POST", "/api/v1/uploads/", nil, tusCreate(caseID, "clinical_history", size)).want(a.t, 201, "create upload")
	return strings.TrimPrefix(r.header.Get("Location"), a.base)
}

func patchUpload(a *apiServer, w who, loc string, offset int, body []byte) {
	a.t.Helper()
	a.do(w, "PATCH", loc, string(body), tusPatch(offset)).want(a.t, 204, "PATCH at "+strconv.Itoa(offset))
}
