package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/lib/pq"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// bench is one run: its servers, its figures.
type bench struct {
	sz       sizes
	quick    bool
	backends backends // PostgreSQL and MinIO processes, when known
	only     string   // comma-separated items to run; all when empty
	bin      string
	work     string
	repo     string
	out      io.Writer // results
	log      io.Writer // progress
	http     *http.Client

	m      minioServer
	mc     *minio.Client
	bucket string
	audit  string // the checkpoints' bucket: object locking, GOVERNANCE for a day
	db     *benchDB
	svc    *service
	token  string
	caseID string
	figs   []figure
}

// figure is one row of the final table; target is empty where DESIGN sets none; unsure
// says why the figure cannot be judged against its target.
type figure struct {
	name, value, target string
	met                 bool
	unsure              string
}

func (b *bench) progress(format string, args ...any) { fmt.Fprintf(b.log, "==> "+format+"\n", args...) }
func (b *bench) printf(format string, args ...any)   { fmt.Fprintf(b.out, format, args...) }

func (b *bench) run(ctx context.Context) error {
	if err := b.setup(ctx); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if b.selected("upload") {
		docID, plainKey, err := b.uploads(ctx)
		if err != nil {
			return fmt.Errorf("uploads: %w", err)
		}
		if err := b.downloads(ctx, docID, plainKey); err != nil {
			return fmt.Errorf("downloads: %w", err)
		}
	}
	if b.selected("big") {
		if err := b.bigUpload(ctx); err != nil {
			return fmt.Errorf("big upload: %w", err)
		}
	}
	if b.selected("concurrent") {
		if err := b.concurrentUploads(ctx); err != nil {
			return fmt.Errorf("concurrent uploads: %w", err)
		}
	}
	if b.selected("opens") {
		if err := b.opens(ctx); err != nil {
			return fmt.Errorf("document opens: %w", err)
		}
	}
	if b.selected("page") {
		if err := b.casePage(ctx); err != nil {
			return fmt.Errorf("case page: %w", err)
		}
	}
	if b.selected("viewer") {
		if err := b.pdfViewer(ctx); err != nil {
			return fmt.Errorf("PDF viewer: %w", err)
		}
	}
	b.svc.stop()
	if b.selected("audit") {
		if err := b.auditBenchmarks(ctx); err != nil {
			return fmt.Errorf("audit benchmarks: %w", err)
		}
	}
	return nil
}

func (b *bench) selected(item string) bool {
	return b.only == "" || slices.Contains(strings.Split(b.only, ","), item)
}

func (b *bench) setup(ctx context.Context) error {
	var err error
	if b.m, err = minioFromEnv(); err != nil {
		return err
	}
	adminURL := os.Getenv("SO_TEST_DATABASE_URL")
	if adminURL == "" {
		return errors.New("SO_TEST_DATABASE_URL must name a PostgreSQL superuser URL (make bench starts one)")
	}
	// The client settings of the service (cmd/secondopinion openMinIO): static V4 credentials,
	// plain HTTP, minio-go's default transport.
	b.mc, err = minio.New(b.m.endpoint, &minio.Options{Creds: credentials.NewStaticV4(b.m.accessKey, b.m.secretKey, "")})
	if err != nil {
		return err
	}
	b.bucket = "so-bench-" + randomHex(4)
	if err := b.mc.MakeBucket(ctx, b.bucket, minio.MakeBucketOptions{}); err != nil {
		b.bucket = ""
		return fmt.Errorf("make bucket: %w", err)
	}
	b.audit = b.bucket + "-audit"
	if err := makeLockedBucket(ctx, b.mc, b.audit); err != nil {
		b.audit = ""
		return err
	}
	b.progress("preparing a database, keys, an applicant, a token and a case")
	if b.db, err = createDB(ctx, adminURL); err != nil {
		return err
	}
	if b.svc, err = newService(ctx, b.bin, b.work, b.db, b.m, b.bucket, b.audit); err != nil {
		return err
	}
	if _, err := b.svc.cli(ctx, "migrate"); err != nil {
		return err
	}
	const email = "bench-applicant@example.org"
	if _, err := b.svc.cli(ctx, "users", "add", "--email", email, "--role", "applicant", "--name", "Bench Applicant"); err != nil {
		return err
	}
	out, err := b.svc.cli(ctx, "tokens", "issue", "--email", email, "--ttl", "24h")
	if err != nil {
		return err
	}
	b.token = lastLine(out)
	b.progress("starting secondopinion serve (logs: %s)", b.svc.logs)
	if err := b.svc.start(ctx); err != nil {
		return err
	}
	var created struct{ ID string }
	err = b.api(ctx, http.MethodPost, "/api/v1/cases", `{"patient":{"given_name":"Ada","family_name":"Bench","birth_date":"1970-01-01"},
		"applicant_relationship":"self","consultation_types":["oncological"],"clinical_question":"benchmark","language":"en"}`, http.StatusCreated, &created)
	if err != nil {
		return fmt.Errorf("create case: %w", err)
	}
	b.caseID = created.ID
	b.header(ctx)
	return nil
}

// header prints what the figures depend on.
func (b *bench) header(ctx context.Context) {
	mode := "full sizes"
	if b.quick {
		mode = "QUICK: sizes ÷ 8, short loops (SO_BENCH_QUICK)"
	}
	b.printf("secondopinion benchmark (DESIGN §11), %s\n", mode)
	b.printf("machine: %d CPUs (%s), %s; load average %s at the start\n", runtime.NumCPU(), cpuModel(), runtime.Version(), loadAverage())
	if db, err := sql.Open("postgres", b.db.ownerURL); err == nil {
		var version, fsync, syncCommit string
		db.QueryRowContext(ctx, `SELECT split_part(version(), ' on ', 1), current_setting('fsync'), current_setting('synchronous_commit')`). // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
																			Scan(&version, &fsync, &syncCommit)
		db.Close() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
		b.printf("database: %s (fsync %s, synchronous_commit %s)\n", version, fsync, syncCommit)
	}
	b.printf("object storage: MinIO at %s over plain HTTP; clients sign with UNSIGNED-PAYLOAD (no SHA-256 of bodies)\n\n", b.m.endpoint)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func (b *bench) cleanup() {
	if b.svc != nil {
		b.svc.stop()
	}
	if b.bucket != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		b.mc.RemoveBucketWithOptions(ctx, b.bucket, minio.RemoveBucketOptions{ForceDelete: true}) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
		cancel()
	}
	if b.audit != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		purgeLockedBucket(ctx, b.mc, b.audit)
		cancel()
	}
	if b.db != nil {
		b.db.drop()
	}
}

// api sends a JSON request to the service as the applicant and decodes the answer into out.
func (b *bench) api(ctx context.Context, method, p, body string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+b.svc.addr+p, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s", method, p, describe(resp))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (b *bench) serviceTus() *tusClient {
	return &tusClient{http: b.http, token: b.token, chunk: b.sz.chunk}
}

func (b *bench) uploadsURL() string { return "http://" + b.svc.addr + "/api/v1/uploads/" }

func (b *bench) metricsURL() string { return "http://" + b.svc.addr + "/metrics" }

func imagingMeta(caseID, name string) map[string]string {
	return map[string]string{"case_id": caseID, "kind": "imaging_study", "filename": name, "filetype": "application/dicom"}
}

// checkStored compares the SHA-256 and size the service registered for documents with
// those of the sources they were uploaded from.
func (b *bench) checkStored(ctx context.Context, docs map[string]source) error {
	var list struct {
		Documents []struct {
			ID     string
			Size   *int64
			SHA256 string
			Status string
		}
	}
	if err := b.api(ctx, http.MethodGet, "/api/v1/cases/"+b.caseID+"/documents", "", http.StatusOK, &list); err != nil {
		return err
	}
	found := 0
	for _, d := range list.Documents {
		src, ok := docs[d.ID]
		if !ok {
			continue
		}
		found++
		if d.Status != "available" || d.Size == nil || *d.Size != src.size {
			return fmt.Errorf("document %s: status %s, size %v, want available and %d bytes", d.ID, d.Status, d.Size, src.size)
		}
		if want := src.sha256(); d.SHA256 != want {
			return fmt.Errorf("document %s: registered SHA-256 %s, the uploaded bytes have %s", d.ID, d.SHA256, want)
		}
	}
	if found != len(docs) {
		return fmt.Errorf("%d of %d documents are listed", found, len(docs))
	}
	return nil
}

// timed runs f and returns how long it took.
func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// uploads is item 1: the same bytes through the service (encrypted tus), minio-go's
// PutObject and tusd's s3store. It keeps the document and the plaintext object for item 2.
func (b *bench) uploads(ctx context.Context) (docID, plainKey string, err error) {
	size := b.sz.upload
	src := source{seed: 1, size: size, prefix: dicomPrefix}
	b.printf("upload of %s\n", fmtSize(size))
	b.printf("    tus client (both tus servers): a creation POST, then PATCH requests of %s, in sequence\n", fmtSize(b.sz.chunk))
	b.printf("    minio-go PutObject: the service's client settings (static V4 credentials, plain HTTP), DisableContentSha256\n")
	b.printf("      (UNSIGNED-PAYLOAD, as the service's parts), PartSize %s, parts sent in sequence from the stream, no MD5\n", fmtSize(int64(b.sz.partSize))) // #nosec G115 -- a part size of a few MiB
	b.printf("    tusd s3store: its defaults (50 MiB parts buffered in temporary files, 10 part uploads at a time),\n")
	b.printf("      DisableContentHashes (UNSIGNED-PAYLOAD), AWS SDK checksums only when required\n")

	b.progress("encrypted tus upload of %s through the service", fmtSize(size))
	var (
		loc     string
		patches []time.Duration
	)
	enc, encCPU, err := b.measure("service", b.svc.pid(), func() (err error) {
		loc, patches, err = b.serviceTus().uploadTimed(ctx, b.uploadsURL(), src, imagingMeta(b.caseID, "study-1.dcm"))
		return err
	})
	if err != nil {
		return "", "", err
	}
	docID = path.Base(loc)

	b.progress("minio-go PutObject of the same bytes")
	plainKey = "bench/plaintext-" + randomHex(4)
	put, putCPU, err := b.putObject(ctx, src, plainKey, b.sz.partSize)
	if err != nil {
		return "", "", err
	}
	b.progress("minio-go PutObject of the same bytes in parts of the service's size")
	put5, put5CPU, err := b.putObject(ctx, src, plainKey+"-5m", servicePartSize)
	if err != nil {
		return "", "", err
	}
	b.mc.RemoveObject(ctx, b.bucket, plainKey+"-5m", minio.RemoveObjectOptions{}) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure

	b.progress("tus upload of the same bytes to tusd's s3store")
	s3, s3CPU, err := b.s3storeUpload(ctx, src)
	if err != nil {
		return "", "", err
	}

	b.progress("checking the stored document's SHA-256")
	if err := b.checkStored(ctx, map[string]source{docID: src}); err != nil {
		return "", "", err
	}
	b.printf("    encrypted tus upload through the service  %8.2f s  %s\n      %s\n", enc.Seconds(), fmtRate(size, enc), encCPU)
	b.printf("    minio-go PutObject, plaintext               %8.2f s  %s\n      %s\n", put.Seconds(), fmtRate(size, put), putCPU)
	b.printf("    tusd s3store tus upload, plaintext          %8.2f s  %s\n      %s\n", s3.Seconds(), fmtRate(size, s3), s3CPU)
	b.printf("    minio-go PutObject, plaintext, %s parts    %8.2f s  %s (the service's part size: encryption aside, %.2f×)\n      %s\n",
		fmtSize(servicePartSize), put5.Seconds(), fmtRate(size, put5), ratio(enc, put5), put5CPU)
	if finish, ok := finishTime(patches); ok {
		b.printf("    the encrypted upload includes finishing (completing the multipart upload, verifying, content checks)\n")
		b.printf("    in its last PATCH: about %.2f s (that PATCH's time less a typical one's); without it, %.2f× PutObject's time\n",
			finish.Seconds(), ratio(enc-finish, put))
	}
	b.printf("\n")
	b.figs = append(b.figs,
		figure{name: "1. encrypted tus upload ÷ minio-go PutObject (" + fmtSize(size) + ", time)",
			value:  fmt.Sprintf("%.2f× (%.2f s vs %.2f s)", ratio(enc, put), enc.Seconds(), put.Seconds()),
			target: "≤ 1.25× (≥ 0.8× its speed)", met: ratio(enc, put) <= 1.25, unsure: disturbed(encCPU, putCPU)},
		figure{name: "2. encrypted tus upload ÷ tusd s3store upload (" + fmtSize(size) + ", time)",
			value:  fmt.Sprintf("%.2f× (%.2f s vs %.2f s)", ratio(enc, s3), enc.Seconds(), s3.Seconds()),
			target: "≤ 1.00× (≥ 1.0× its speed)", met: ratio(enc, s3) <= 1, unsure: disturbed(encCPU, s3CPU)},
	)
	return docID, plainKey, nil
}

// servicePartSize is the plaintext in each part of the service's uploads up to 5 TiB: 80
// age chunks of 64 KiB (upload.storeChunksPerPart), the least that makes a 5 MiB part.
const servicePartSize = 80 << 16

// putObject stores src with minio-go's PutObject in parts of partSize, with the service's
// client settings and DisableContentSha256 (UNSIGNED-PAYLOAD, as the service's parts).
func (b *bench) putObject(ctx context.Context, src source, key string, partSize uint64) (time.Duration, cpuUsage, error) {
	return b.measure("", 0, func() error {
		info, err := b.mc.PutObject(ctx, b.bucket, key, src.reader(0, src.size), src.size, minio.PutObjectOptions{
			PartSize: partSize, DisableContentSha256: true, ContentType: "application/octet-stream",
		})
		if err == nil && info.Size != src.size {
			err = fmt.Errorf("PutObject stored %d bytes of %d", info.Size, src.size)
		}
		return err
	})
}

// finishTime estimates the time the service spends finishing an upload in its last PATCH:
// that PATCH's time less the median of the others (which carried as many bytes).
func finishTime(patches []time.Duration) (time.Duration, bool) {
	if len(patches) < 3 {
		return 0, false
	}
	others := slices.Sorted(slices.Values(patches[:len(patches)-1]))
	return max(0, patches[len(patches)-1]-others[len(others)/2]), true
}

// s3storeUpload uploads src to tusd's s3store in its own process, checks the stored object's
// size and removes it.
func (b *bench) s3storeUpload(ctx context.Context, src source) (time.Duration, cpuUsage, error) {
	p, err := startS3Store(ctx, b.bucket, b.work, b.log)
	if err != nil {
		return 0, cpuUsage{}, err
	}
	defer p.stop()
	client := &tusClient{http: b.http, chunk: b.sz.chunk}
	var loc string
	d, usage, err := b.measure("tusd", p.cmd.Process.Pid, func() (err error) {
		loc, err = client.upload(ctx, "http://"+p.addr+"/files/", src, imagingMeta(b.caseID, "study-1.dcm"))
		return err
	})
	if err != nil {
		return 0, usage, fmt.Errorf("s3store: %w", err)
	}
	objectID, _, _ := strings.Cut(path.Base(loc), "+")
	key := "tusd-s3store/" + objectID
	st, err := b.mc.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if err != nil || st.Size != src.size {
		return 0, usage, fmt.Errorf("s3store object %s: %d bytes of %d (%v)", key, st.Size, src.size, err)
	}
	b.mc.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{})         // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	b.mc.RemoveObject(ctx, b.bucket, key+".info", minio.RemoveObjectOptions{}) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	return d, usage, nil
}

// content requests a document's content, with a Range when rng is set.
func (b *bench) content(ctx context.Context, docID, rng string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.svc.addr+"/api/v1/documents/"+docID+"/content", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	return b.http.Do(req)
}

// consume reads r to its end through buf and checks that it held size bytes; what names r
// in the error.
func consume(r io.Reader, buf []byte, size int64, what string) error {
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		switch {
		case err == io.EOF && n != size:
			return fmt.Errorf("%s: %d bytes of %d", what, n, size)
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// downloads is item 2: the whole document through the service vs a plain GetObject.
func (b *bench) downloads(ctx context.Context, docID, plainKey string) error {
	size := b.sz.upload
	buf := make([]byte, 256<<10)
	b.progress("full download of the document, decrypted by the service")
	dl, dlCPU, err := b.measure("service", b.svc.pid(), func() error {
		return b.openOnce(ctx, docID, size, buf)
	})
	if err != nil {
		return err
	}
	b.progress("minio-go GetObject of the plaintext object")
	get, getCPU, err := b.measure("", 0, func() error {
		obj, err := b.mc.GetObject(ctx, b.bucket, plainKey, minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer obj.Close()
		return consume(obj, buf, size, "GetObject")
	})
	if err != nil {
		return err
	}
	b.progress("the plaintext object through a plain loopback HTTP proxy (one more hop, no decryption)")
	hop, hopCPU, err := b.measure("", 0, func() error { return b.proxiedGet(ctx, plainKey, size, buf) })
	if err != nil {
		return err
	}
	b.mc.RemoveObject(ctx, b.bucket, plainKey, minio.RemoveObjectOptions{}) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	b.progress("decrypting %s in memory, nothing sent: what decryption alone costs here", fmtSize(size/4))
	dec, err := b.decryptCPU(ctx, size/4)
	if err != nil {
		return err
	}
	work, floor := downloadFloor(hopCPU, dec, size)
	b.printf("full download of %s\n", fmtSize(size))
	b.printf("    GET /api/v1/documents/{id}/content (decrypting)  %8.2f s  %s\n      %s\n", dl.Seconds(), fmtRate(size, dl), dlCPU)
	b.printf("    minio-go GetObject, plaintext                    %8.2f s  %s\n      %s\n", get.Seconds(), fmtRate(size, get), getCPU)
	b.printf("    GetObject through a plain proxy, plaintext       %8.2f s  %s (%.2f× GetObject's time: the extra hop alone)\n      %s\n\n",
		hop.Seconds(), fmtRate(size, hop), ratio(hop, get), hopCPU)
	b.printf("    the least a decrypting download can take on this machine: %.2f s (%.2f× GetObject's time)\n", floor.Seconds(), ratio(floor, get))
	b.printf("      = the whole machine's CPU during the proxied GetObject, %.2f s, + decrypting alone, %.2f s per GiB\n",
		hopCPU.machine.Seconds(), dec.Seconds())
	b.printf("      (age.DecryptReaderAt over memory, one goroutine): %.2f CPU-s, spread evenly over %d cores\n\n", work.Seconds(), runtime.NumCPU())
	b.figs = append(b.figs, figure{name: "3. decrypting download ÷ plain GetObject (" + fmtSize(size) + ", time)",
		value:  fmt.Sprintf("%.2f× (%.2f s vs %.2f s)", ratio(dl, get), dl.Seconds(), get.Seconds()),
		target: "≤ 1.25× (≥ 0.8× its speed)", met: ratio(dl, get) <= 1.25, unsure: disturbed(dlCPU, getCPU)},
		figure{name: "3b. the least a decrypting download can take here ÷ GetObject (all CPU ÷ cores)",
			value: fmt.Sprintf("%.2f× (%.2f s vs %.2f s)", ratio(floor, get), floor.Seconds(), get.Seconds())})
	return nil
}

// proxiedGet downloads the object through a minimal HTTP proxy on loopback, run in this process:
// GetObject copied to the response in 1 MiB writes, as the service sends a document. It measures
// what one more hop costs on this machine with no decryption at all; item 3b's floor builds on it.
func (b *bench) proxiedGet(ctx context.Context, key string, size int64, buf []byte) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { // #nosec G112 -- a loopback proxy of the benchmark, for one measured download
		obj, _, _, err := minio.Core{Client: b.mc}.GetObject(r.Context(), b.bucket, key, minio.GetObjectOptions{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer obj.Close()
		w.Header().Set("Content-Length", fmt.Sprint(size))
		io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{obj}, make([]byte, 1<<20)) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	})}
	go srv.Serve(ln)
	defer srv.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
	if err != nil {
		return err
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return consume(resp.Body, buf, size, "proxied GET")
}

// bigUpload is items 3 and 5a: the service's memory during one big upload, then Range
// reads at the end of that document.
func (b *bench) bigUpload(ctx context.Context) error {
	size := b.sz.big
	src := source{seed: 2, size: size, prefix: dicomPrefix}
	b.progress("restarting the service; one encrypted upload of %s, watching its memory", fmtSize(size))
	settled, w, err := b.freshService(ctx)
	if err != nil {
		return err
	}
	var (
		loc        string
		streamPeak int64 // before the last PATCH, which finishes the upload
	)
	c := b.serviceTus()
	c.beforeLast = func() { streamPeak = w.peakSoFar() }
	d, usage, err := b.measure("service", b.svc.pid(), func() (err error) {
		loc, err = c.upload(ctx, b.uploadsURL(), src, imagingMeta(b.caseID, "study-2.dcm"))
		return err
	})
	mem, werr := w.done()
	if err = errors.Join(err, werr); err != nil {
		return err
	}
	docID := path.Base(loc)
	b.progress("checking the stored document's SHA-256")
	if err := b.checkStored(ctx, map[string]source{docID: src}); err != nil {
		return err
	}
	b.printf("one encrypted upload of %s: %.2f s, %s\n    %s\n", fmtSize(size), d.Seconds(), fmtRate(size, d), usage)
	b.printf("    %s\n    peak RSS before the last PATCH (the one that finishes) %s\n", mem, fmtSize(streamPeak))
	b.figs = append(b.figs, figure{name: "5a. peak RSS growth, one " + fmtSize(size) + " upload",
		value:  fmt.Sprintf("%s (idle %s, peak %s)", fmtSize(mem.growth()), fmtSize(mem.idle), fmtSize(mem.peak)),
		target: "< 64 MiB", met: mem.growth() < 64<<20, unsure: unsettled(settled)})

	b.progress("%d Range reads of %s at the end of the document", b.sz.rangeReads, fmtSize(b.sz.rangeLen))
	off := size - b.sz.rangeLen
	want := make([]byte, b.sz.rangeLen)
	if _, err := io.ReadFull(src.reader(off, b.sz.rangeLen), want); err != nil {
		return err
	}
	rng := fmt.Sprintf("bytes=%d-%d", off, size-1)
	var times []time.Duration
	for range b.sz.rangeReads {
		var got []byte
		t, err := timed(func() error {
			resp, err := b.content(ctx, docID, rng)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent {
				return fmt.Errorf("range: %s", describe(resp))
			}
			got, err = io.ReadAll(resp.Body)
			return err
		})
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("range read returned %d bytes that differ from the uploaded ones", len(got))
		}
		times = append(times, t)
	}
	slices.Sort(times)
	med := times[len(times)/2]
	b.printf("    %s Range read at the end: median %s, min %s, max %s (%d reads, each a full open: policy, key, header, final chunk, audit commit)\n\n",
		fmtSize(b.sz.rangeLen), fmtMs(med), fmtMs(times[0]), fmtMs(times[len(times)-1]), len(times))
	b.figs = append(b.figs, figure{name: "4. 1 MiB Range read at the end of a " + fmtSize(size) + " document (median)",
		value: fmtMs(med), target: "< 100 ms", met: med < 100*time.Millisecond})
	return nil
}

func unsettled(settled bool) string {
	if settled {
		return ""
	}
	return "idle memory not settled"
}

// settle waits for the freshly started service's idle memory to be its own (see settle).
func (b *bench) settle(ctx context.Context) (bool, error) {
	b.progress("waiting (at most %s) for the service's start-up garbage to be collected and returned", b.sz.settle)
	start := time.Now()
	ok, h, err := settle(ctx, b.http, b.metricsURL(), b.sz.settle)
	if err != nil {
		return false, err
	}
	rss, _, _ := memStatus(b.svc.pid())
	if ok {
		b.printf("idle service settled in %.0f s: RSS %s, Go heap in use %s, free heap kept %s\n",
			time.Since(start).Seconds(), fmtSize(rss), fmtSize(h.inuse), fmtSize(h.retained))
	} else {
		b.printf("idle service NOT settled after %s (RSS %s, Go heap in use %s, free heap kept %s): the growth below is understated\n",
			b.sz.settle, fmtSize(rss), fmtSize(h.inuse), fmtSize(h.retained))
	}
	return ok, nil
}

// freshService restarts the service, waits for its idle memory to settle, and starts watching
// its memory.
func (b *bench) freshService(ctx context.Context) (settled bool, w *rssWatch, err error) {
	if err := b.svc.restart(ctx); err != nil {
		return false, nil, err
	}
	if settled, err = b.settle(ctx); err != nil {
		return false, nil, err
	}
	w, err = watchRSS(ctx, b.svc.pid(), b.http, b.metricsURL())
	return settled, w, err
}

// concurrentUploads is item 5b: the service's memory during concurrent uploads.
func (b *bench) concurrentUploads(ctx context.Context) error {
	n, size := b.sz.concurrent, b.sz.each
	b.progress("restarting the service; %d concurrent encrypted uploads of %s, watching its memory", n, fmtSize(size))
	settled, w, err := b.freshService(ctx)
	if err != nil {
		return err
	}
	docs := make(map[string]source, n)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	d, usage, _ := b.measure("service", b.svc.pid(), func() error {
		for i := range n {
			src := source{seed: uint64(100 + i), size: size, prefix: dicomPrefix}
			wg.Go(func() {
				loc, err := b.serviceTus().upload(ctx, b.uploadsURL(), src, imagingMeta(b.caseID, fmt.Sprintf("series-%d.dcm", i)))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				docs[path.Base(loc)] = src
			})
		}
		wg.Wait()
		return nil
	})
	mem, werr := w.done()
	if err := errors.Join(append(errs, werr)...); err != nil {
		return err
	}
	b.progress("checking the stored documents' SHA-256")
	if err := b.checkStored(ctx, docs); err != nil {
		return err
	}
	growth, total := mem.growth(), int64(n)*size
	b.printf("%d concurrent encrypted uploads of %s: %.2f s, %s in total\n    %s\n", n, fmtSize(size), d.Seconds(), fmtRate(total, d), usage)
	b.printf("    %s\n    growth per upload %s\n\n", mem, fmtSize(growth/int64(n)))
	b.figs = append(b.figs, figure{name: fmt.Sprintf("5b. peak RSS growth, %d concurrent %s uploads", n, fmtSize(size)),
		value:  fmt.Sprintf("%s (%s per upload; idle %s, peak %s)", fmtSize(growth), fmtSize(growth/int64(n)), fmtSize(mem.idle), fmtSize(mem.peak)),
		unsure: unsettled(settled)})
	return nil
}

// opens is item 6: concurrent reads of a small PDF, each committing an audit entry.
func (b *bench) opens(ctx context.Context) error {
	srcs := map[string]source{}
	var docIDs []string
	for i := range openDocuments {
		src := source{seed: uint64(300 + i), size: b.sz.pdf, prefix: pdfPrefix}
		loc, err := b.serviceTus().upload(ctx, b.uploadsURL(), src, map[string]string{
			"case_id": b.caseID, "kind": "clinical_history", "filename": "history.pdf", "filetype": "application/pdf"})
		if err != nil {
			return err
		}
		srcs[path.Base(loc)] = src
		docIDs = append(docIDs, path.Base(loc))
	}
	if err := b.checkStored(ctx, srcs); err != nil {
		return err
	}
	db, err := sql.Open("postgres", b.db.ownerURL)
	if err != nil {
		return err
	}
	defer db.Close()

	b.progress("%d workers opening %d PDFs of %s for %s", b.sz.workers, len(docIDs), fmtSize(b.sz.pdf), b.sz.opens)
	r, err := b.openLoad(ctx, db, docIDs, b.sz.pdf, b.sz.opens)
	if err != nil {
		return err
	}
	b.printf("audited document opens: %d workers, %d PDFs of %s, %.1f s, %d opens (%d audit entries committed): %.0f/s\n",
		b.sz.workers, len(docIDs), fmtSize(b.sz.pdf), r.elapsed.Seconds(), r.ok, r.ok, r.rate())
	r.print(b)

	// The same with no objects kept by the key cache: every open fetches its object from MinIO.
	b.progress("the same with SO_DOCUMENT_CACHE_MIB=0 (every open GETs its object), for %s", b.sz.opens/2)
	b.svc.vars["SO_DOCUMENT_CACHE_MIB"] = "0"
	defer func() {
		delete(b.svc.vars, "SO_DOCUMENT_CACHE_MIB")
		b.svc.restart(ctx) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	}()
	if err := b.svc.restart(ctx); err != nil {
		return err
	}
	cold, err := b.openLoad(ctx, db, docIDs, b.sz.pdf, b.sz.opens/2)
	if err != nil {
		return err
	}
	b.printf("    with SO_DOCUMENT_CACHE_MIB=0 (one GET per open): %.0f/s\n", cold.rate())
	cold.print(b)
	b.figs = append(b.figs, figure{name: "6. audited document opens per second (" + fmt.Sprint(b.sz.workers) + " workers)",
		value:  fmt.Sprintf("%.0f/s (p50 %s, p99 %s; %.0f/s with no objects kept)", r.rate(), fmtMs(r.p(50)), fmtMs(r.p(99)), cold.rate()),
		target: "≥ 2,000/s", met: r.rate() >= 2000, unsure: disturbed(r.usage)})
	return nil
}

// openDocuments is how many different documents the opens of item 6 read.
const openDocuments = 16

// openResult is what one run of openLoad measured.
type openResult struct {
	ok      int64
	elapsed time.Duration
	lat     []time.Duration // sorted
	usage   cpuUsage
}

func (r openResult) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r openResult) p(pct int) time.Duration { return r.lat[len(r.lat)*pct/100] }

func (r openResult) print(b *bench) {
	b.printf("    latency p50 %s, p99 %s\n    %s\n", fmtMs(r.p(50)), fmtMs(r.p(99)), r.usage)
	perOpen := func(d time.Duration) string { return fmtMs(d / time.Duration(max(1, r.ok))) }
	if r.usage.known {
		b.printf("    CPU per open: service %s, PostgreSQL %s, MinIO %s, bench client %s\n\n",
			perOpen(r.usage.server), perOpen(r.usage.pg), perOpen(r.usage.minio), perOpen(r.usage.self))
	} else {
		b.printf("    CPU per open: service %s, bench client %s\n\n", perOpen(r.usage.server), perOpen(r.usage.self))
	}
}

// openLoad has the workers open the documents, each worker going through them in turn from
// its own starting point, for d. Every 200 must have committed its audit entry.
func (b *bench) openLoad(ctx context.Context, db *sql.DB, docIDs []string, size int64, d time.Duration) (openResult, error) {
	audited := func() (n int64, err error) {
		err = db.QueryRowContext(ctx, `SELECT count(*) FROM audit_entries
			WHERE action = 'document.open' AND object_id = ANY($1) AND outcome = 0`, pq.Array(docIDs)).Scan(&n)
		return n, err
	}
	before, err := audited()
	if err != nil {
		return openResult{}, err
	}
	var (
		ok       atomic.Int64
		failed   atomic.Int64
		firstErr atomic.Value
		mu       sync.Mutex
		lat      []time.Duration
		wg       sync.WaitGroup
	)
	meter := b.startCPU("service", b.svc.pid())
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range b.sz.workers {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			var mine []time.Duration
			for i := w; time.Now().Before(deadline); i++ {
				t := time.Now()
				err := b.openOnce(ctx, docIDs[i%len(docIDs)], size, buf)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r := openResult{ok: ok.Load(), elapsed: time.Since(start), usage: meter.stop()}
	after, err := audited()
	if err != nil {
		return r, err
	}
	if e := firstErr.Load(); e != nil {
		return r, fmt.Errorf("%d opens failed, the first: %v", failed.Load(), e)
	}
	if after-before != r.ok {
		return r, fmt.Errorf("%d opens answered 200 but %d audit entries were committed", r.ok, after-before)
	}
	slices.Sort(lat)
	r.lat = lat
	return r, nil
}

// openOnce reads the whole document once and checks it came back whole.
func (b *bench) openOnce(ctx context.Context, docID string, size int64, buf []byte) error {
	resp, err := b.content(ctx, docID, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("content: %s", describe(resp))
	}
	return consume(resp.Body, buf, size, "content")
}

// table prints the final table.
func (b *bench) table() {
	b.printf("\nsummary (ratios are times: encrypted path ÷ baseline; 1.00× is as fast); load average %s at the end\n", loadAverage())
	slices.SortStableFunc(b.figs, func(x, y figure) int { return strings.Compare(x.name, y.name) }) // by number
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\ttarget\tresult")
	for _, f := range b.figs {
		target, result := f.target, "met"
		switch {
		case f.unsure != "":
			result = "unsure: " + f.unsure
			if target == "" {
				target = "—"
			}
		case target == "":
			target, result = "—", "(reported)"
		case !f.met:
			result = "NOT MET"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.name, f.value, target, result)
	}
	tw.Flush() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
}

func ratio(a, b time.Duration) float64 { return a.Seconds() / b.Seconds() }

func fmtSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20 || n <= -1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

func fmtRate(n int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MiB/s", float64(n)/(1<<20)/d.Seconds())
}

func fmtMs(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// makeLockedBucket makes a bucket as `storage setup` makes the checkpoints' one, but with a
// retention of one day in GOVERNANCE mode, which purgeLockedBucket bypasses.
func makeLockedBucket(ctx context.Context, mc *minio.Client, bucket string) error {
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		return fmt.Errorf("make bucket: %w", err)
	}
	mode, days, unit := minio.Governance, uint(1), minio.Days
	if err := mc.SetObjectLockConfig(ctx, bucket, &mode, &days, &unit); err != nil {
		purgeLockedBucket(ctx, mc, bucket)
		return fmt.Errorf("object lock: %w", err)
	}
	return nil
}

// purgeLockedBucket removes every version in the bucket, bypassing GOVERNANCE retention (the
// bench has root credentials), and the bucket.
func purgeLockedBucket(ctx context.Context, mc *minio.Client, bucket string) {
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if o.Err == nil {
			mc.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID, GovernanceBypass: true}) // #nosec G104 -- benchmark cleanup: nothing to do about a failure
		}
	}
	mc.RemoveBucket(ctx, bucket) // #nosec G104 -- benchmark cleanup: nothing to do about a failure
}
