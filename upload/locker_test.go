package upload

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// newTestLocker stands in for one server process: a pool and a listener of its own,
// connected as the runtime role.
func newTestLocker(t *testing.T, d *testenv.DB) *Locker {
	t.Helper()
	db, err := sql.Open("postgres", d.RuntimeURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := NewLocker(ctx, db, d.RuntimeURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("NewLocker: %v", err)
	}
	l.CheckInterval = 50 * time.Millisecond
	t.Cleanup(func() { l.Close() })
	return l
}

func lockCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustLock(t *testing.T, l *Locker, id string, requestRelease func()) handler.Lock {
	t.Helper()
	lk, err := l.NewLock(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.Lock(lockCtx(t, 20*time.Second), requestRelease); err != nil {
		t.Fatalf("Lock(%s): %v", id, err)
	}
	return lk
}

// signal returns a requestRelease callback and the channel it closes.
func signal() (func(), chan struct{}) {
	ch := make(chan struct{})
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }, ch
}

func TestLockerAsksHolderInOtherProcessToRelease(t *testing.T) {
	d := testenv.NewDB(t)
	a, b := newTestLocker(t, d), newTestLocker(t, d)

	var aHolds atomic.Bool
	release, asked := signal()
	la := mustLock(t, a, "upload-1", release)
	aHolds.Store(true)
	aUnlocked := make(chan error, 1)
	go func() {
		<-asked // the holder does what tusd does: stop the request, then unlock
		aHolds.Store(false)
		aUnlocked <- la.Unlock()
	}()

	lb := mustLock(t, b, "upload-1", func() {})
	if aHolds.Load() {
		t.Fatal("B acquired the lock while A still held it")
	}
	if err := <-aUnlocked; err != nil {
		t.Fatalf("A Unlock: %v", err)
	}
	if err := lb.Unlock(); err != nil {
		t.Fatalf("B Unlock: %v", err)
	}
}

func TestLockerTimesOutWhileHolderKeepsLock(t *testing.T) {
	d := testenv.NewDB(t)
	a, b := newTestLocker(t, d), newTestLocker(t, d)

	release, asked := signal()
	la := mustLock(t, a, "upload-1", release)

	lb, _ := b.NewLock("upload-1")
	err := lb.Lock(lockCtx(t, 300*time.Millisecond), func() {})
	if !errors.Is(err, handler.ErrLockTimeout) {
		t.Fatalf("Lock on a held upload: got %v, want ErrLockTimeout", err)
	}
	select {
	case <-asked:
	default:
		t.Fatal("the holder was never asked to release")
	}
	if err := la.Unlock(); err != nil {
		t.Fatal(err)
	}
	lb2 := mustLock(t, b, "upload-1", func() {})
	if err := lb2.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestLockerDifferentUploadsDoNotInterfere(t *testing.T) {
	d := testenv.NewDB(t)
	a, b := newTestLocker(t, d), newTestLocker(t, d)

	releaseA, askedA := signal()
	la := mustLock(t, a, "upload-1", releaseA)
	lb := mustLock(t, b, "upload-2", func() {})
	lc := mustLock(t, a, "upload-3", func() {}) // same process, other upload

	select {
	case <-askedA:
		t.Fatal("locking other uploads asked the holder of upload-1 to release")
	default:
	}
	for _, lk := range []handler.Lock{la, lb, lc} {
		if err := lk.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLockerSameProcessContention(t *testing.T) {
	d := testenv.NewDB(t)
	a := newTestLocker(t, d)

	release, asked := signal()
	first := mustLock(t, a, "upload-1", release)
	go func() {
		<-asked
		first.Unlock()
	}()
	second := mustLock(t, a, "upload-1", func() {})
	if err := second.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := first.Unlock(); !errors.Is(err, ErrLockNotHeld) {
		t.Fatalf("second Unlock of a released lock: got %v, want ErrLockNotHeld", err)
	}
}

// TestLockerMutualExclusion races many holders in two processes on one upload: at no time
// may two of them be inside the critical section.
func TestLockerMutualExclusion(t *testing.T) {
	d := testenv.NewDB(t)
	lockers := []*Locker{newTestLocker(t, d), newTestLocker(t, d)}

	const workers, rounds = 6, 15
	var inside, entries, overlaps atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := lockers[w%2]
			for range rounds {
				lk, _ := l.NewLock("contended")
				release, asked := signal()
				if err := lk.Lock(lockCtx(t, 30*time.Second), release); err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				entries.Add(1)
				select { // work until asked to stop, or a little while
				case <-asked:
				case <-time.After(2 * time.Millisecond):
				}
				inside.Add(-1)
				if err := lk.Unlock(); err != nil {
					t.Errorf("Unlock: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("two holders were inside the critical section %d times", n)
	}
	if got := entries.Load(); got != workers*rounds {
		t.Errorf("entries = %d, want %d", got, workers*rounds)
	}
}

// TestLockerFreedWhenHolderConnectionDies kills the holder's session: the lock is gone with
// it, the holder is told to stop, and the other process acquires the lock.
func TestLockerFreedWhenHolderConnectionDies(t *testing.T) {
	d := testenv.NewDB(t)
	a, b := newTestLocker(t, d), newTestLocker(t, d)

	release, asked := signal()
	la := mustLock(t, a, "upload-1", release)
	ctx := lockCtx(t, 10*time.Second)
	if err := a.Held(ctx, "upload-1"); err != nil {
		t.Fatalf("Held by the holder: %v", err)
	}
	if err := b.Held(ctx, "upload-1"); !errors.Is(err, ErrLockNotHeld) {
		t.Fatalf("Held in the other process: %v", err)
	}
	if err := a.Held(ctx, "upload-2"); !errors.Is(err, ErrLockNotHeld) {
		t.Fatalf("Held for another upload: %v", err)
	}

	var killed int
	err := d.Runtime.QueryRowContext(lockCtx(t, 10*time.Second), `
		SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the holder's session: killed %d, %v", killed, err)
	}

	if err := a.Held(ctx, "upload-1"); !errors.Is(err, ErrLockNotHeld) {
		t.Fatalf("Held after the session died: %v", err)
	}
	select { // B has not asked yet: only the holder's own check can tell it
	case <-asked:
	case <-lockCtx(t, 10*time.Second).Done():
		t.Fatal("the holder whose connection died was never asked to stop")
	}
	lb := mustLock(t, b, "upload-1", func() {})
	if err := la.Unlock(); err == nil {
		t.Fatal("Unlock on a dead session reported success")
	}
	if err := lb.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestNewLockerFailsOnUnreachableDatabase(t *testing.T) {
	d := testenv.NewDB(t)
	u, err := url.Parse(d.RuntimeURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_database"
	l, err := NewLocker(lockCtx(t, 10*time.Second), d.Runtime.DB, u.String(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		l.Close()
		t.Fatal("NewLocker succeeded without a database to listen on")
	}
}

func TestLockKeyIsStableAndDistinct(t *testing.T) {
	if a1, a2 := lockKey("a"), lockKey("a"); a1 != a2 {
		t.Fatal("lockKey is not deterministic")
	}
	seen := map[int64]string{}
	for _, id := range []string{"", "a", "b", "upload-1", "upload-2", "01J0000000000000000000000"} {
		k := lockKey(id)
		if prev, dup := seen[k]; dup {
			t.Fatalf("lockKey(%q) == lockKey(%q)", id, prev)
		}
		seen[k] = id
	}
}
