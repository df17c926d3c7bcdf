package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"github.com/tus/tusd/v2/pkg/s3store"
	xslog "golang.org/x/exp/slog"
)

// serveS3Store is `sobench tusd-s3store`: tusd with its own s3store on the bench's MinIO,
// plaintext, the baseline of the encrypted upload. It prints its address on the first line
// of stdout and serves tus at /files/ until it is signalled.
//
// Settings: s3store's defaults (50 MiB preferred parts, parts buffered in temporary files,
// 10 concurrent part uploads), except DisableContentHashes, so that parts are sent with
// UNSIGNED-PAYLOAD like the service's minio-go parts (DisableContentSha256); the AWS SDK
// computes no optional checksums (RequestChecksumCalculationWhenRequired), as minio-go
// without TrailingHeaders.
func serveS3Store(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tusd-s3store", flag.ContinueOnError)
	bucket := fs.String("bucket", "", "bucket to store uploads in")
	tmp := fs.String("tmp", os.TempDir(), "directory for s3store's part buffers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := minioFromEnv()
	if err != nil {
		return err
	}
	client := s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String("http://" + m.endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(m.accessKey, m.secretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	store := s3store.New(*bucket, client)
	store.DisableContentHashes = true
	store.TemporaryDirectory = *tmp
	store.ObjectPrefix = "tusd-s3store/"
	composer := handler.NewStoreComposer()
	store.UseIn(composer)
	memorylocker.New().UseIn(composer)
	h, err := handler.NewHandler(handler.Config{
		BasePath:        "/files/",
		StoreComposer:   composer,
		DisableDownload: true,
		Logger:          xslog.New(xslog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, ln.Addr())
	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files/", h))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 20 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// s3storeProc is `sobench tusd-s3store` running as a child process.
type s3storeProc struct {
	cmd  *exec.Cmd
	addr string
}

// startS3Store starts the baseline server on bucket and waits for its address.
func startS3Store(ctx context.Context, bucket, tmp string, logs io.Writer) (*s3storeProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "tusd-s3store", "-bucket", bucket, "-tmp", tmp) // #nosec G204 -- the benchmark runs the tusd it compares with
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
		cmd.Wait()         // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
		return nil, fmt.Errorf("tusd-s3store did not start: %w", err)
	}
	return &s3storeProc{cmd: cmd, addr: strings.TrimSpace(line)}, nil
}

func (p *s3storeProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	p.cmd.Wait()                          // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
}
