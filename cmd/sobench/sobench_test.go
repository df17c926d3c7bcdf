package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// The bench's tus client uploads to tusd's s3store (the baseline server, run in-process here)
// on a real MinIO: the stored object holds exactly the source's bytes, and the metadata
// arrives decoded.
func TestTusClientUploadsToS3Store(t *testing.T) {
	bucket := testenv.NewBucket(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	served := make(chan error, 1)
	go func() { served <- serveS3Store(ctx, []string{"-bucket", bucket.Bucket, "-tmp", t.TempDir()}, pw) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	addr, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)

	src := source{seed: 42, size: 11<<20 + 3, prefix: dicomPrefix}
	c := &tusClient{http: &http.Client{Timeout: time.Minute}, chunk: 4 << 20}
	meta := map[string]string{"filename": "série 1.dcm", "kind": "imaging_study"}
	loc, patches, err := c.uploadTimed(ctx, "http://"+strings.TrimSpace(addr)+"/files/", src, meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(patches) != 3 {
		t.Fatalf("%d PATCH requests, want 3 of at most 4 MiB", len(patches))
	}
	objectID, _, _ := strings.Cut(path.Base(loc), "+")
	obj, err := bucket.Client.GetObject(ctx, bucket.Bucket, "tusd-s3store/"+objectID, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	h := sha256.New()
	if n, err := io.Copy(h, obj); err != nil || n != src.size {
		t.Fatalf("stored object: %d bytes of %d, %v", n, src.size, err)
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), src.sha256(); got != want {
		t.Fatalf("stored object's SHA-256 %s, the source's %s", got, want)
	}
	info, err := bucket.Client.GetObject(ctx, bucket.Bucket, "tusd-s3store/"+objectID+".info", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer info.Close()
	b, err := io.ReadAll(info)
	if err != nil || !strings.Contains(string(b), `"filename":"série 1.dcm"`) {
		t.Fatalf("upload info %s (%v) lacks the file name", b, err)
	}
}

func TestEncodeMetadata(t *testing.T) {
	got := encodeMetadata(map[string]string{"kind": "imaging_study", "case_id": "c1", "empty": ""})
	enc := base64.StdEncoding.EncodeToString
	want := "case_id " + enc([]byte("c1")) + ",empty,kind " + enc([]byte("imaging_study"))
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestBenchMetric(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/secondopinion/secondopinion/audit
cpu: AMD EPYC
BenchmarkVerify-2   	       1	607092470 ns/op	         4.857 s/1M-entries
BenchmarkWriter-2   	    9621	    109203 ns/op	      9157 entries/s
PASS
`
	tests := []struct {
		unit    string
		want    float64
		wantErr bool
	}{
		{"s/1M-entries", 4.857, false},
		{"entries/s", 9157, false},
		{"ns/op", 607092470, false},
		{"B/op", 0, true},
	}
	for _, tt := range tests {
		got, err := benchMetric(out, tt.unit)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("benchMetric(%q) = %v, %v; want %v (error: %v)", tt.unit, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestFinishTime(t *testing.T) {
	s := time.Second
	tests := []struct {
		patches []time.Duration
		want    time.Duration
		ok      bool
	}{
		{[]time.Duration{s, s}, 0, false},
		{[]time.Duration{s, 2 * s, s, 4 * s}, 3 * s, true},
		{[]time.Duration{3 * s, 2 * s, s}, 0, true}, // a last PATCH faster than the others
	}
	for _, tt := range tests {
		got, ok := finishTime(tt.patches)
		if got != tt.want || ok != tt.ok {
			t.Errorf("finishTime(%v) = %v, %v; want %v, %v", tt.patches, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFmtSize(t *testing.T) {
	tests := map[int64]string{4 << 30: "4 GiB", 256 << 20: "256 MiB", 5<<20 + 1<<19: "5.5 MiB", 16 << 10: "16 KiB"}
	for n, want := range tests {
		if got := fmtSize(n); got != want {
			t.Errorf("fmtSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// The process accounting reads this very process: it is alive, has a parent, uses memory.
func TestProcReadsThisProcess(t *testing.T) {
	rss, peak, err := memStatus(os.Getpid())
	if err != nil || rss <= 0 || peak < rss {
		t.Fatalf("memStatus: rss %d, peak %d, %v", rss, peak, err)
	}
	for deadline := time.Now().Add(time.Second); pidCPU(os.Getpid()) == 0 && time.Now().Before(deadline); {
		sha256.Sum256(make([]byte, 1<<20)) // burn a little CPU time
	}
	if pidCPU(os.Getpid()) == 0 {
		t.Fatal("no CPU time read for this process")
	}
	if _, ppid, _ := procStat(os.Getpid()); ppid != os.Getppid() {
		t.Fatalf("parent %d, want %d", ppid, os.Getppid())
	}
	if busy, steal, err := machineBusy(); err != nil || busy <= 0 || steal < 0 {
		t.Fatalf("machineBusy: %v, %v, %v", busy, steal, err)
	}
}

// A phase is unsure when other processes or the hypervisor took a tenth of the machine.
func TestDisturbed(t *testing.T) {
	cores := time.Duration(runtime.NumCPU())
	wall := 10 * time.Second
	tenth := wall * cores / 10
	for _, tc := range []struct {
		name string
		u    cpuUsage
		want string // a word the verdict holds; "" for none
	}{
		{"quiet", cpuUsage{known: true, wall: wall, server: wall, machine: wall, steal: tenth / 2}, ""},
		{"other processes", cpuUsage{known: true, wall: wall, server: wall, machine: wall + tenth + time.Second}, "other processes"},
		{"others unknown apart are not judged", cpuUsage{wall: wall, server: wall, machine: wall + tenth + time.Second}, ""},
		{"stolen", cpuUsage{known: true, wall: wall, server: wall, machine: wall, steal: tenth + time.Second}, "hypervisor"},
		{"stolen, others unknown apart", cpuUsage{wall: wall, machine: wall, steal: tenth + time.Second}, "hypervisor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := disturbed(tc.u)
			if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
				t.Errorf("disturbed = %q, want one naming %q", got, tc.want)
			}
		})
	}
}

// The download floor counts the proxied GET's work and decryption, spread over every core.
func TestDownloadFloor(t *testing.T) {
	hop := cpuUsage{machine: 1500 * time.Millisecond, steal: time.Second}
	work, floor := downloadFloor(hop, 400*time.Millisecond, 2<<30)
	if work != 2300*time.Millisecond {
		t.Errorf("work = %v, want 2.3s: 1.5 s of the hop and 0.4 s per GiB for 2 GiB, steal left out", work)
	}
	if want := work / time.Duration(runtime.NumCPU()); floor != want {
		t.Errorf("floor = %v, want %v", floor, want)
	}
}
