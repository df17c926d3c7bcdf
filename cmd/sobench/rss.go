package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memStatus reads a process's resident set size and its peak (VmRSS, VmHWM) in bytes.
func memStatus(pid int) (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "VmRSS" && name != "VmHWM" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak, sc.Err()
}

// goHeap is what the service's Go runtime reports at /metrics (bytes).
type goHeap struct {
	inuse    int64 // go_memstats_heap_inuse_bytes: spans holding live or not yet collected objects
	retained int64 // go_memstats_heap_idle_bytes - _released_bytes: free, still resident
	gcs      int64 // go_gc_duration_seconds_count: completed collections
}

// readGoHeap reads the service's heap figures from its Prometheus endpoint.
func readGoHeap(ctx context.Context, client *http.Client, url string) (goHeap, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return goHeap{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return goHeap{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return goHeap{}, fmt.Errorf("%s: %s", url, resp.Status)
	}
	v := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && (strings.HasPrefix(f[0], "go_memstats_heap_") || f[0] == "go_gc_duration_seconds_count") {
			x, _ := strconv.ParseFloat(f[1], 64)
			v[f[0]] = int64(x)
		}
	}
	if err := sc.Err(); err != nil {
		return goHeap{}, err
	}
	if _, ok := v["go_memstats_heap_inuse_bytes"]; !ok {
		return goHeap{}, fmt.Errorf("%s: no go_memstats_heap_inuse_bytes", url)
	}
	return goHeap{inuse: v["go_memstats_heap_inuse_bytes"],
		retained: v["go_memstats_heap_idle_bytes"] - v["go_memstats_heap_released_bytes"],
		gcs:      v["go_gc_duration_seconds_count"]}, nil
}

// settle waits, at most limit, until the service's idle memory is its own: the garbage of
// its start collected (a collection since the call: at start the argon2id dummy hash leaves
// 64 MiB behind, and an idle Go process collects only every two minutes) and the free heap
// returned to the system (at most max(8 MiB, heap in use) kept). Without it, an upload
// reuses that memory and its growth over the idle RSS tells little. It polls /metrics,
// whose own small allocations let the runtime's pacing run. It reports whether the
// service settled, and the heap figures last read.
func settle(ctx context.Context, client *http.Client, url string, limit time.Duration) (bool, goHeap, error) {
	first, err := readGoHeap(ctx, client, url)
	if err != nil {
		return false, goHeap{}, err
	}
	h := first
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		if h.gcs > first.gcs && h.retained <= max(8<<20, h.inuse) {
			return true, h, nil
		}
		select {
		case <-ctx.Done():
			return false, h, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if h, err = readGoHeap(ctx, client, url); err != nil {
			return false, h, err
		}
	}
	return false, h, nil
}

// memReport is how a process's memory grew during a phase.
type memReport struct {
	idle, peak int64  // resident size at the start; peak resident size during the phase
	how        string // how the peak was read
	// From the Go runtime (zero when /metrics could not be read): the heap in use at the
	// start and at its highest (sampled), and the free heap kept resident at the start,
	// which the phase may reuse without growing the resident size.
	heapIdle, heapPeak, retainedIdle int64
}

func (r memReport) growth() int64 { return r.peak - r.idle }

// rssWatch measures how far a process's memory grows during a phase: the peak (VmHWM, reset
// at the start through /proc/<pid>/clear_refs) over the resident size at the start. A
// sampler reading VmRSS every 10 ms stands in when the peak cannot be reset; the Go heap
// is sampled from the service's /metrics every 250 ms.
type rssWatch struct {
	pid       int
	rep       memReport
	resetPeak bool
	stop      chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	sampled   int64
	heapPeak  int64
}

func watchRSS(ctx context.Context, pid int, client *http.Client, metricsURL string) (*rssWatch, error) {
	w := &rssWatch{pid: pid, stop: make(chan struct{})}
	w.resetPeak = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	if h, err := readGoHeap(ctx, client, metricsURL); err == nil {
		w.rep.heapIdle, w.rep.retainedIdle, w.heapPeak = h.inuse, h.retained, h.inuse
	}
	var err error
	if w.rep.idle, _, err = memStatus(pid); err != nil {
		return nil, err
	}
	w.sampled = w.rep.idle
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			rss, _, err := memStatus(pid)
			var h goHeap
			if i%25 == 0 && w.rep.heapIdle > 0 {
				h, _ = readGoHeap(ctx, client, metricsURL)
			}
			w.mu.Lock()
			if err == nil {
				w.sampled = max(w.sampled, rss)
			}
			w.heapPeak = max(w.heapPeak, h.inuse)
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// peakSoFar returns the peak resident size since the phase started.
func (w *rssWatch) peakSoFar() int64 {
	w.mu.Lock()
	peak := w.sampled
	w.mu.Unlock()
	if _, hwm, err := memStatus(w.pid); err == nil && w.resetPeak {
		peak = max(peak, hwm)
	}
	return peak
}

// done ends the phase.
func (w *rssWatch) done() (memReport, error) {
	close(w.stop)
	w.wg.Wait()
	_, hwm, err := memStatus(w.pid)
	if err != nil {
		return memReport{}, err
	}
	r := w.rep
	r.heapPeak = w.heapPeak
	if w.resetPeak {
		r.peak, r.how = max(hwm, w.sampled), "VmHWM"
	} else {
		r.peak, r.how = w.sampled, "VmRSS sampled every 10 ms (VmHWM could not be reset)"
	}
	return r, nil
}

// String describes the report on two lines.
func (r memReport) String() string {
	s := fmt.Sprintf("service RSS idle %s, peak %s (%s): growth %s", fmtSize(r.idle), fmtSize(r.peak), r.how, fmtSize(r.growth()))
	if r.heapIdle > 0 {
		s += fmt.Sprintf("\n    Go heap in use idle %s, peak %s (sampled); at idle the runtime kept %s of free heap resident,\n"+
			"    which the phase may reuse: growth over the idle RSS less that, %s",
			fmtSize(r.heapIdle), fmtSize(r.heapPeak), fmtSize(r.retainedIdle), fmtSize(r.growth()+r.retainedIdle))
	}
	return s
}
