package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"filippo.io/age"
)

// decryptCPU measures what decrypting costs on this machine, alone: the CPU time of
// age.DecryptReaderAt reading size bytes from memory in 1 MiB reads on one goroutine,
// scaled to one GiB. Nothing else is sent or received meanwhile.
func (b *bench) decryptCPU(ctx context.Context, size int64) (time.Duration, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return 0, err
	}
	var sealed bytes.Buffer
	w, err := age.Encrypt(&sealed, id.Recipient())
	if err != nil {
		return 0, err
	}
	src := source{seed: 9, size: size}
	if _, err := io.Copy(w, src.reader(0, size)); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	ct := sealed.Bytes()
	_, usage, err := b.measure("", 0, func() error {
		plain, n, err := age.DecryptReaderAt(bytes.NewReader(ct), int64(len(ct)), id)
		if err != nil {
			return err
		}
		buf := make([]byte, 1<<20)
		var off int64
		for off < n && ctx.Err() == nil {
			m, err := plain.ReadAt(buf[:min(int64(len(buf)), n-off)], off)
			off += int64(m)
			if err != nil && err != io.EOF {
				return err
			}
		}
		if off != size {
			return fmt.Errorf("decrypted %d bytes of %d", off, size)
		}
		return ctx.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("decrypting alone: %w", err)
	}
	return time.Duration(float64(usage.self) * float64(1<<30) / float64(size)), nil
}

// downloadFloor is the least time a decrypting download of size bytes can take on this
// machine, whatever the service does: the CPU time the whole machine spent on the proxied
// GetObject (MinIO sending, one process relaying, the client receiving) plus decrypting
// alone, spread evenly over every core. A decrypting download does all of that work.
func downloadFloor(hop cpuUsage, decrypt time.Duration, size int64) (work, floor time.Duration) {
	work = hop.machine + time.Duration(float64(decrypt)*float64(size)/float64(1<<30))
	return work, work / time.Duration(runtime.NumCPU())
}
