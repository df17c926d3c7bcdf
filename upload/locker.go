package upload

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/lib/pq"
	"github.com/tus/tusd/v2/pkg/handler"
)

// lockChannel is the PostgreSQL NOTIFY channel on which a process that wants an upload lock
// asks the holder, in whatever process it lives, to release it. The payload is the decimal
// advisory lock key, never the upload id.
const lockChannel = "secondopinion_upload_lock"

// Default timings of a Locker.
const (
	DefaultLockRetryInterval = 200 * time.Millisecond
	DefaultLockCheckInterval = 5 * time.Second
	lockUnlockTimeout        = 5 * time.Second
	lockListenerPing         = 60 * time.Second
)

// ErrLockNotHeld is returned by Unlock when the lock's connection no longer held the advisory lock.
var ErrLockNotHeld = errors.New("upload: advisory lock was not held")

// Locker is a tusd handler.Locker on PostgreSQL session-level advisory locks, so that several
// service instances sharing one database never write the same upload at once. Two writers on
// one upload would seal two plaintexts under one nonce: this lock is a correctness requirement,
// not an optimisation.
//
// Each held lock owns one connection of the pool (pg_try_advisory_lock is bound to the session),
// returned when the lock is released. Size the pool for the number of concurrent uploads plus
// everything else, or give the Locker a pool of its own. Session locks do not survive a
// transaction-pooling proxy such as PgBouncer in transaction mode: connect directly.
//
// When a lock is held elsewhere, Lock sends a NOTIFY on a channel every instance LISTENs on;
// the instance holding the lock calls the holder's requestRelease callback (tusd then stops the
// running request, which unlocks), and Lock retries until its context is done, when it returns
// handler.ErrLockTimeout. A lock also ends when its session ends: a holder pings its connection
// every CheckInterval and is asked to release as soon as the connection is found dead.
type Locker struct {
	// RetryInterval is the longest wait between two attempts of a Lock that finds the lock
	// taken (attempts start 5 ms apart and back off). Default DefaultLockRetryInterval.
	// Set it, like CheckInterval, before the first NewLock.
	RetryInterval time.Duration
	// CheckInterval is how often a holder checks that its connection, and so its lock,
	// is still alive. Default DefaultLockCheckInterval.
	CheckInterval time.Duration

	db       *sql.DB
	listener *pq.Listener
	logger   *slog.Logger
	wg       sync.WaitGroup
	stop     chan struct{}
	stopOnce sync.Once

	mu      sync.Mutex
	holders map[int64]*pgLock // locks held in this process, by key
}

// NewLocker starts listening for release requests on a dedicated connection opened with
// connStr (a lib/pq connection string for the same database as db; it is never logged)
// and returns once the listener is connected, or with an error when the first connection
// attempt fails or ctx ends. Call Close when done.
func NewLocker(ctx context.Context, db *sql.DB, connStr string, logger *slog.Logger) (*Locker, error) {
	l := &Locker{
		RetryInterval: DefaultLockRetryInterval,
		CheckInterval: DefaultLockCheckInterval,
		db:            db,
		logger:        logger,
		stop:          make(chan struct{}),
		holders:       make(map[int64]*pgLock),
	}
	failed := make(chan error, 1)
	l.listener = pq.NewListener(connStr, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnectionAttemptFailed:
			select {
			case failed <- err:
			default:
			}
			logger.Warn("upload lock listener cannot connect", "error", err)
		case pq.ListenerEventDisconnected:
			logger.Warn("upload lock listener disconnected", "error", err)
		case pq.ListenerEventReconnected:
			logger.Info("upload lock listener reconnected")
		}
	})
	listened := make(chan error, 1)
	go func() { listened <- l.listener.Listen(lockChannel) }()
	var err error
	select {
	case err = <-listened:
	case err = <-failed:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		l.listener.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
		return nil, fmt.Errorf("upload: lock listener: %w", err)
	}
	l.wg.Add(2)
	go l.dispatch()
	go l.pingListener()
	return l, nil
}

// Close stops listening for release requests. Locks still held stay held until unlocked.
func (l *Locker) Close() error {
	var err error
	l.stopOnce.Do(func() {
		close(l.stop)
		err = l.listener.Close()
		l.wg.Wait()
	})
	return err
}

// UseIn registers the Locker with a tusd store composer.
func (l *Locker) UseIn(composer *handler.StoreComposer) { composer.UseLocker(l) }

// NewLock returns an unlocked lock for one upload; it does no I/O.
func (l *Locker) NewLock(id string) (handler.Lock, error) {
	return &pgLock{locker: l, key: lockKey(id)}, nil
}

// Held returns nil when this process holds the lock on upload id and the lock's session still
// answers, and otherwise an error wrapping ErrLockNotHeld. A data store may call it before
// making a write durable: a session that died (database restart, network failure) has freed
// the lock for another instance, and the holder's own check only runs every CheckInterval.
func (l *Locker) Held(ctx context.Context, id string) error {
	var conn *sql.Conn
	l.mu.Lock()
	if lk := l.holders[lockKey(id)]; lk != nil {
		conn = lk.conn
	}
	l.mu.Unlock()
	if conn == nil {
		return ErrLockNotHeld
	}
	if err := conn.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: its session is gone: %w", ErrLockNotHeld, err)
	}
	return nil
}

// lockKey maps an upload id to a 64-bit advisory lock key. The id is hashed behind a prefix
// no other user of advisory locks shares, so upload locks live in a key space of their own.
func lockKey(id string) int64 {
	h := sha256.Sum256([]byte("secondopinion/upload-lock\x00" + id))
	return int64(binary.BigEndian.Uint64(h[:8])) // #nosec G115 -- a lock key: any 64-bit pattern of the hash will do
}

// dispatch hands release requests to the holders in this process until the listener closes.
func (l *Locker) dispatch() {
	defer l.wg.Done()
	for n := range l.listener.NotificationChannel() {
		if n == nil {
			// The listener reconnected and may have missed requests; waiters repeat theirs
			// on every attempt, so there is nothing to replay.
			continue
		}
		key, err := strconv.ParseInt(n.Extra, 10, 64)
		if err != nil {
			continue
		}
		var ask func()
		l.mu.Lock()
		if lk := l.holders[key]; lk != nil {
			ask = lk.askRelease
		}
		l.mu.Unlock()
		if ask != nil {
			l.logger.Debug("upload lock release requested")
			ask()
		}
	}
}

// pingListener detects a listener connection that died silently, so that it reconnects.
func (l *Locker) pingListener() {
	defer l.wg.Done()
	t := time.NewTicker(lockListenerPing)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := l.listener.Ping(); err != nil {
				l.logger.Warn("upload lock listener ping failed", "error", err)
			}
		}
	}
}

// pgLock is one upload's lock. tusd uses it from one goroutine: Lock, then Unlock.
type pgLock struct {
	locker     *Locker
	key        int64
	conn       *sql.Conn // the session holding the advisory lock, while held
	askRelease func()    // the holder's requestRelease, called at most once
	stopWatch  chan struct{}
	watchDone  chan struct{}
}

// Lock takes the advisory lock, asking the current holder to release it and retrying until
// ctx is done, then it returns handler.ErrLockTimeout.
func (lk *pgLock) Lock(ctx context.Context, requestRelease func()) error {
	if lk.conn != nil {
		return errors.New("upload: lock is already held by this lock")
	}
	l := lk.locker
	maxWait := cmp.Or(max(l.RetryInterval, 0), DefaultLockRetryInterval)
	wait := 5 * time.Millisecond
	for {
		conn, err := l.db.Conn(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return handler.ErrLockTimeout
			}
			return fmt.Errorf("upload: lock connection: %w", err)
		}
		var ok bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, lk.key).Scan(&ok); err != nil {
			// The server may have granted the lock before the error: never pool that session.
			discardConn(conn)
			if ctx.Err() != nil {
				return handler.ErrLockTimeout
			}
			return fmt.Errorf("upload: try advisory lock: %w", err)
		}
		if ok {
			lk.hold(conn, requestRelease)
			return nil
		}
		_, err = conn.ExecContext(ctx, `SELECT pg_notify($1, $2)`, lockChannel, strconv.FormatInt(lk.key, 10))
		conn.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
		if err != nil && ctx.Err() == nil {
			l.logger.Warn("upload lock release request failed", "error", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return handler.ErrLockTimeout
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// hold records a lock just taken on conn and starts watching its connection.
func (lk *pgLock) hold(conn *sql.Conn, requestRelease func()) {
	l := lk.locker
	lk.conn = conn
	lk.askRelease = sync.OnceFunc(requestRelease)
	lk.stopWatch = make(chan struct{})
	lk.watchDone = make(chan struct{})
	l.mu.Lock()
	l.holders[lk.key] = lk
	l.mu.Unlock()
	go lk.watch(conn, lk.stopWatch, lk.watchDone)
}

// watch pings the lock's session; if it died, the lock is gone and the holder must stop.
func (lk *pgLock) watch(conn *sql.Conn, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	interval := cmp.Or(max(lk.locker.CheckInterval, 0), DefaultLockCheckInterval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			err := conn.PingContext(ctx)
			cancel()
			if err != nil {
				lk.locker.logger.Warn("upload lock connection lost; stopping the holder", "error", err)
				lk.askRelease()
				return
			}
		}
	}
}

// Unlock releases the advisory lock and returns its connection to the pool. If the release
// cannot be confirmed, the connection is closed instead, which ends the session and with it
// the lock, and the error says so.
func (lk *pgLock) Unlock() error {
	if lk.conn == nil {
		return ErrLockNotHeld
	}
	close(lk.stopWatch)
	<-lk.watchDone
	l := lk.locker
	l.mu.Lock()
	if l.holders[lk.key] == lk {
		delete(l.holders, lk.key)
	}
	l.mu.Unlock()

	conn := lk.conn
	lk.conn = nil
	ctx, cancel := context.WithTimeout(context.Background(), lockUnlockTimeout)
	defer cancel()
	var released bool
	err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, lk.key).Scan(&released)
	if err != nil || !released {
		discardConn(conn)
		if err != nil {
			return fmt.Errorf("upload: advisory unlock (connection closed instead): %w", err)
		}
		return ErrLockNotHeld
	}
	return conn.Close()
}

// discardConn closes conn's session instead of returning it to the pool.
func discardConn(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn }) // #nosec G104 -- marks a pooled connection bad so that it is dropped
	conn.Close()                                           // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
}
