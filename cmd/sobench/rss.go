package main

import (
	"bufio"
	"fmt"
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

// rssWatch measures how far a process's memory grows during a phase: the peak (VmHWM, reset
// at the start through /proc/<pid>/clear_refs) over the resident size at the start. A
// sampler reading VmRSS every 10 ms stands in when the peak cannot be reset.
type rssWatch struct {
	pid       int
	idle      int64
	resetPeak bool
	stop      chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	sampled   int64
}

func watchRSS(pid int) (*rssWatch, error) {
	w := &rssWatch{pid: pid, stop: make(chan struct{})}
	w.resetPeak = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	var err error
	if w.idle, _, err = memStatus(pid); err != nil {
		return nil, err
	}
	w.sampled = w.idle
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				if rss, _, err := memStatus(pid); err == nil {
					w.mu.Lock()
					w.sampled = max(w.sampled, rss)
					w.mu.Unlock()
				}
			}
		}
	}()
	return w, nil
}

// done ends the phase and returns the idle and peak resident sizes, and how the peak was read.
func (w *rssWatch) done() (idle, peak int64, how string, err error) {
	close(w.stop)
	w.wg.Wait()
	_, hwm, err := memStatus(w.pid)
	if err != nil {
		return 0, 0, "", err
	}
	if w.resetPeak {
		return w.idle, max(hwm, w.sampled), "VmHWM", nil
	}
	return w.idle, w.sampled, "VmRSS sampled every 10 ms (VmHWM could not be reset)", nil
}
