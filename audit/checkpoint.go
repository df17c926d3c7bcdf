package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed tree head in the C2SP tlog-checkpoint format: a note whose text is
// the origin line, the tree size in decimal and the base64 root hash, each ending in "\n",
// signed with an Ed25519 note key whose name is the origin.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Note   []byte    // the signed note, exactly as stored
	Time   time.Time // when it was made (from the database; not signed)
}

// ErrMalformedCheckpoint is returned for a checkpoint body that does not parse.
var ErrMalformedCheckpoint = errors.New("audit: malformed checkpoint")

// ErrEmptyLog is returned when a checkpoint or proof is asked of a log with no entries.
var ErrEmptyLog = errors.New("audit: log is empty")

// FormatCheckpoint returns the unsigned checkpoint body for a tree.
func FormatCheckpoint(origin string, size int64, root tlog.Hash) []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// ParseCheckpoint parses an unsigned checkpoint body. Extension lines after the root hash
// are allowed and ignored, as the C2SP format says.
func ParseCheckpoint(text []byte) (origin string, size int64, root tlog.Hash, err error) {
	if !bytes.HasSuffix(text, []byte("\n")) {
		return "", 0, root, fmt.Errorf("%w: no final newline", ErrMalformedCheckpoint)
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return "", 0, root, fmt.Errorf("%w: %d lines, want at least 3", ErrMalformedCheckpoint, len(lines))
	}
	origin = lines[0]
	if origin == "" {
		return "", 0, root, fmt.Errorf("%w: empty origin", ErrMalformedCheckpoint)
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, root, fmt.Errorf("%w: tree size %q", ErrMalformedCheckpoint, lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize || base64.StdEncoding.EncodeToString(h) != lines[2] {
		return "", 0, root, fmt.Errorf("%w: root hash %q", ErrMalformedCheckpoint, lines[2])
	}
	for _, l := range lines[3:] {
		if l == "" {
			return "", 0, root, fmt.Errorf("%w: empty extension line", ErrMalformedCheckpoint)
		}
	}
	return origin, size, tlog.Hash(h), nil
}

// OpenCheckpoint verifies a signed checkpoint note with v and parses it. The origin must be
// the key's name.
func OpenCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint signature: %w", err)
	}
	origin, size, root, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: origin %q, key %q", ErrMalformedCheckpoint, origin, v.Name())
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: signed}, nil
}

// CheckInclusion checks a proof that e is entry e.Seq of the tree cp signs.
func CheckInclusion(p tlog.RecordProof, cp Checkpoint, e Entry) error {
	if err := tlog.CheckRecord(p, cp.Size, cp.Root, e.Seq, e.Hash()); err != nil {
		return fmt.Errorf("audit: entry %d is not in the tree of size %d: %w", e.Seq, cp.Size, err)
	}
	return nil
}

// GenerateCheckpointKey makes an Ed25519 note key pair for checkpoints. name is the log's
// origin, e.g. "hospital.example/secondopinion/audit". skey is secret: it belongs in the
// file SO_CHECKPOINT_KEY_FILE names. vkey may be published for auditors.
func GenerateCheckpointKey(name string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("audit: generate checkpoint key: %w", err)
	}
	return skey, vkey, nil
}

// ParseCheckpointKey returns the signer of an encoded private key and its verifier, derived
// from the same key, so one secret file serves both signing and `audit verify`.
func ParseCheckpointKey(skey string) (note.Signer, note.Verifier, error) {
	skey = strings.TrimSpace(skey)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: checkpoint key: %w", err)
	}
	// PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>; NewSigner has validated it.
	parts := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, nil, errors.New("audit: checkpoint key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: checkpoint key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: checkpoint key: %w", err)
	}
	return s, v, nil
}

// ReadCheckpointKeyFile reads an encoded private key from a file (SO_CHECKPOINT_KEY_FILE).
func ReadCheckpointKeyFile(path string) (note.Signer, note.Verifier, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the signing key file named by the operator (SO_CHECKPOINT_KEY_FILE)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: read checkpoint key: %w", err)
	}
	return ParseCheckpointKey(string(b))
}

// CheckpointSink keeps a copy of every checkpoint outside the database (MinIO in
// production), so a database rolled back or rewritten by its owner is caught by comparing.
type CheckpointSink interface {
	PutCheckpoint(ctx context.Context, size int64, signedNote []byte) error
}

// CheckpointSource lists the signed notes a sink holds, for Verify. The notes are not
// trusted: Verify checks every signature.
type CheckpointSource interface {
	Checkpoints(ctx context.Context) ([][]byte, error)
}

// CheckpointConfig configures a Checkpointer. Signer is required.
type CheckpointConfig struct {
	Signer note.Signer
	// Sink receives a copy of each checkpoint after it is stored in the database. Optional.
	Sink CheckpointSink
	// Every: a checkpoint is made once this many entries follow the last one. Default 1000.
	Every int64
	// Interval: Run makes a checkpoint this often when entries were added. Default 1 min;
	// negative: never on a timer (a job engine calls Checkpoint on schedule instead, and Run
	// only answers Committed).
	Interval time.Duration
	Now      func() time.Time // default time.Now
	Logger   *slog.Logger     // default slog.Default()
}

// Checkpointer signs the log's tree head every Every entries or Interval, and on demand.
type Checkpointer struct {
	db   *sqlx.DB
	cfg  CheckpointConfig
	kick chan struct{}

	mu   sync.Mutex   // serializes Checkpoint within the process
	last atomic.Int64 // size of the newest checkpoint known; -1 before the first look
}

// NewCheckpointer returns a Checkpointer over db (the runtime connection).
func NewCheckpointer(db *sqlx.DB, cfg CheckpointConfig) *Checkpointer {
	if cfg.Every <= 0 {
		cfg.Every = 1000
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Checkpointer{db: db, cfg: cfg, kick: make(chan struct{}, 1)}
	c.last.Store(-1)
	return c
}

// Committed tells the checkpointer the log has size entries; when Every entries have
// accumulated since the last checkpoint it wakes Run. It never blocks: pass it as
// WriterConfig.Committed.
func (c *Checkpointer) Committed(size int64) {
	if last := c.last.Load(); last < 0 || size-last >= c.cfg.Every {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// Run makes checkpoints until ctx ends: when Committed reports Every new entries, and every
// Interval if the log grew. Failures are logged and retried at the next occasion.
func (c *Checkpointer) Run(ctx context.Context) error {
	var tick <-chan time.Time
	if c.cfg.Interval > 0 {
		t := time.NewTicker(c.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		if _, err := c.Checkpoint(ctx); err != nil && !errors.Is(err, ErrEmptyLog) && ctx.Err() == nil {
			c.cfg.Logger.Error("audit checkpoint failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
		case <-c.kick:
		}
	}
}

// Checkpoint signs the current tree head, stores it in audit_checkpoints and copies it to
// the sink, and returns it. If the newest checkpoint already covers the whole log, it is
// returned (and copied to the sink again, which is idempotent).
func (c *Checkpointer) Checkpoint(ctx context.Context) (Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, err := c.store(ctx)
	if errors.Is(err, ErrEmptyLog) {
		c.last.Store(0)
	}
	if err != nil {
		return Checkpoint{}, err
	}
	c.last.Store(cp.Size)
	if c.cfg.Sink != nil {
		if err := c.cfg.Sink.PutCheckpoint(ctx, cp.Size, cp.Note); err != nil {
			return cp, fmt.Errorf("audit: copy checkpoint %d to sink: %w", cp.Size, err)
		}
	}
	return cp, nil
}

func (c *Checkpointer) store(ctx context.Context) (Checkpoint, error) {
	tx, err := c.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: begin: %w", err)
	}
	defer tx.Rollback()
	var size int64
	if err := tx.GetContext(ctx, &size, `SELECT coalesce(max(seq) + 1, 0) FROM audit_entries`); err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: size: %w", err)
	}
	if size == 0 {
		return Checkpoint{}, ErrEmptyLog
	}
	var row checkpointRow
	switch err := tx.GetContext(ctx, &row, `SELECT size, root_hash, note, created_at FROM audit_checkpoints WHERE size = $1`, size); {
	case err == nil:
		return row.checkpoint(c.cfg.Signer.Name())
	case !errors.Is(err, sql.ErrNoRows):
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: read: %w", err)
	}
	root, err := tlog.TreeHash(size, &dbHashes{ctx: ctx, q: tx})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: tree hash: %w", err)
	}
	signed, err := note.Sign(&note.Note{Text: string(FormatCheckpoint(c.cfg.Signer.Name(), size, root))}, c.cfg.Signer)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: sign: %w", err)
	}
	now := c.cfg.Now().UTC().Truncate(time.Microsecond)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (size, root_hash, note, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (size) DO NOTHING`, size, root[:], string(signed), now); err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: insert: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: commit: %w", err)
	}
	return Checkpoint{Origin: c.cfg.Signer.Name(), Size: size, Root: root, Note: signed, Time: now}, nil
}

type checkpointRow struct {
	Size    int64     `db:"size"`
	Root    []byte    `db:"root_hash"`
	Note    string    `db:"note"`
	Created time.Time `db:"created_at"`
}

func (r checkpointRow) checkpoint(origin string) (Checkpoint, error) {
	if len(r.Root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("%w: stored root of checkpoint %d has %d bytes", ErrMalformedCheckpoint, r.Size, len(r.Root))
	}
	return Checkpoint{Origin: origin, Size: r.Size, Root: tlog.Hash(r.Root), Note: []byte(r.Note), Time: r.Created.UTC()}, nil
}
