package objectstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/berth/berth/internal/content"
)

// Defaults for the options.
const (
	// DefaultInlineLimit is the largest object kept inside the index instead of a blob file: small objects cost one
	// index write (grouped with concurrent ones into one commit) instead of a file creation and two fsyncs.
	DefaultInlineLimit = 64 << 10
	// DefaultSweepInterval is how often unreferenced blobs are looked for while the store is open.
	DefaultSweepInterval = time.Hour
	// MaxObjectSize is the largest single PUT (and part) S3 accepts: 5 GiB.
	MaxObjectSize = 5 << 30
	// MaxMultipartSize is the largest object a multipart upload may assemble: 5 TiB.
	MaxMultipartSize = 5 << 40
	// MinPartSize is the smallest part but the last of a multipart upload.
	MinPartSize = 5 << 20
	// MaxParts is the highest part number.
	MaxParts = 10000
	// blockSize is the granularity of the CRC32C kept for every blob and checked on every read.
	blockSize = 64 << 10
	// maxBatch bounds how many writes share one index commit.
	maxBatch = 512
)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that stamps creation and modification times; the default is time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithLogger sets the structured logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithInlineLimit sets the largest object kept inside the index (0 keeps none there).
func WithInlineLimit(n int64) Option { return func(s *Store) { s.inlineLimit = n } }

// WithSweepInterval sets how often unreferenced blobs are collected while open (0: only when opening).
func WithSweepInterval(d time.Duration) Option { return func(s *Store) { s.sweepEvery = d } }

// Store is the object store in a directory: index.db (bbolt) and content/ (the blob store). It is safe for
// concurrent use; one process at a time may open a directory.
type Store struct {
	dir         string
	db          *bolt.DB
	blobs       *content.Store
	now         func() time.Time
	log         *slog.Logger
	inlineLimit int64
	sweepEvery  time.Duration
	// lifecycleEvery is how often lifecycle rules are applied (0: never in the background).
	lifecycleEvery time.Duration
	// completedKept bounds the completed uploads a bucket remembers for retried Completes (completed.go).
	completedKept int
	// largeWrites counts the bodies being written to blobs, which decides whether one may hash on a core of its
	// own (ingest).
	largeWrites atomic.Int32

	// Writes to the index go through one committer goroutine that gathers whatever writes are waiting into one
	// transaction: one fsync for many small PUTs, and no added latency for a lone writer.
	closeMu sync.RWMutex
	closed  bool
	ops     chan *txOp
	stop    chan struct{}
	done    sync.WaitGroup

	// pins counts in-flight writes and open readers of each blob. A blob file is deleted only when it has no
	// index references (blobrefs) and no pins, checked under pinMu with a fresh transaction (release).
	pinMu sync.Mutex
	pins  map[blobID]int
}

// Open opens (creating if needed) the store in dir and starts collecting unreferenced blobs in the background.
func Open(dir string, opts ...Option) (*Store, error) {
	s := &Store{
		dir:            dir,
		now:            time.Now,
		log:            slog.Default(),
		inlineLimit:    DefaultInlineLimit,
		sweepEvery:     DefaultSweepInterval,
		lifecycleEvery: DefaultLifecycleInterval,
		completedKept:  completedUploadsKept,
		ops:            make(chan *txOp, maxBatch),
		stop:           make(chan struct{}),
		pins:           map[blobID]int{},
	}
	for _, o := range opts {
		o(s)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "index.db"), 0o600, &bolt.Options{
		Timeout: time.Second,
		// The free list is rebuilt on open rather than written with every commit: commits stay small as the
		// index grows.
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("object store %s is in use by another process: %w", dir, errdefs.ErrUnavailable)
		}
		return nil, fmt.Errorf("object store index: %w", err)
	}
	s.db = db
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketsName, blobRefsName, blobSumsName} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("object store index: %w", err)
	}
	// The content store removes the writes a crash interrupted; the bbolt lock above makes sure they were ours.
	blobs, err := content.Open(filepath.Join(dir, "content"))
	if err != nil {
		db.Close()
		return nil, err
	}
	s.blobs = blobs
	// The files and directories just created must survive a power cut as the data written into them will:
	// sync the directories that name them.
	for _, d := range []string{filepath.Join(dir, "content", "blobs"), filepath.Join(dir, "content"), dir, filepath.Dir(dir)} {
		if err := syncDir(d); err != nil {
			db.Close()
			return nil, fmt.Errorf("object store: %w", err)
		}
	}
	s.done.Add(3)
	go s.committer()
	go s.sweeper()
	go s.lifecycler()
	return s, nil
}

// Close waits for pending writes and closes the index. Readers must be closed first.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	close(s.stop)
	s.closeMu.Unlock()
	s.done.Wait()
	return s.db.Close()
}

var errClosed = fmt.Errorf("object store is closed: %w", errdefs.ErrUnavailable)

type txOp struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// update runs fn in a write transaction, committed (fsynced) before update returns nil. fn may run more than once
// (when another write in its group fails, the others are retried without it), so it must keep its results in
// variables it resets, and act outside the transaction only after update returned.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	op := &txOp{fn: fn, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return errClosed
	}
	s.ops <- op
	s.closeMu.RUnlock()
	return <-op.done
}

// commitLinger is how long a commit waits for the rest of a group of concurrent writers once some arrived: the
// writers of the previous group are busy for a moment after it committed (answering, receiving the next body),
// and one commit with all of them costs an fsync where two would cost two.
const commitLinger = 300 * time.Microsecond

func (s *Store) committer() {
	defer s.done.Done()
	group := 1 // how many writers the previous commit served
	var linger *time.Timer
	for op := range s.ops {
		batch := []*txOp{op}
	gather:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break gather
				}
				batch = append(batch, o)
			default:
				break gather
			}
		}
		if len(batch) < group {
			if linger == nil {
				linger = time.NewTimer(commitLinger)
			} else {
				linger.Reset(commitLinger)
			}
		wait:
			for len(batch) < group {
				select {
				case o, ok := <-s.ops:
					if !ok {
						break wait
					}
					batch = append(batch, o)
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		group = len(batch)
		s.commit(batch)
	}
}

// errInBatch stops a group transaction when one of its writes fails.
var errInBatch = errors.New("a write in the batch failed")

func (s *Store) commit(batch []*txOp) {
	for len(batch) > 0 {
		if len(batch) == 1 {
			batch[0].done <- s.db.Update(batch[0].fn)
			return
		}
		failed := -1
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, op := range batch {
				if err := op.fn(tx); err != nil {
					failed = i
					return errInBatch
				}
			}
			return nil
		})
		if failed < 0 {
			for _, op := range batch {
				op.done <- err
			}
			return
		}
		// The failed write runs alone to get its own answer; the others go again together.
		solo := batch[failed]
		solo.done <- s.db.Update(solo.fn)
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(*bolt.Tx) error) error { return s.db.View(fn) }

// pin keeps blobs from being deleted until unpin.
func (s *Store) pin(ids ...blobID) {
	s.pinMu.Lock()
	for _, id := range ids {
		s.pins[id]++
	}
	s.pinMu.Unlock()
}

// unpin drops pins and deletes the blobs nothing references any more.
func (s *Store) unpin(ids ...blobID) {
	s.pinMu.Lock()
	for _, id := range ids {
		if s.pins[id]--; s.pins[id] <= 0 {
			delete(s.pins, id)
		}
	}
	s.pinMu.Unlock()
	s.release(ids...)
}

// release deletes the blobs among ids that no index entry references and nobody pins. The check and the deletion
// happen under pinMu, with a transaction begun after the pins were seen: a write pins its blob before the blob is
// linked into place and unpins only after its index transaction committed, so a blob that looks unreferenced here
// cannot become referenced before it is gone (a later write links it anew).
func (s *Store) release(ids ...blobID) {
	if len(ids) == 0 {
		return
	}
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	var dead []blobID
	err := s.view(func(tx *bolt.Tx) error {
		refs := tx.Bucket(blobRefsName)
		for _, id := range ids {
			if s.pins[id] == 0 && refs.Get(id[:]) == nil {
				dead = append(dead, id)
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("object store: checking blob references", "error", err)
		return
	}
	for _, id := range dead {
		if err := s.blobs.Delete(context.Background(), digest.Digest(id.String())); err != nil && !errdefs.IsNotFound(err) {
			s.log.Error("object store: removing unreferenced blob", "blob", id.String(), "error", err)
		}
	}
}

// addRef records one more reference to a blob, creating its index entry (with its block checksums) on the first.
func addRef(tx *bolt.Tx, id blobID, size int64, sums []byte) error {
	refs := tx.Bucket(blobRefsName)
	n, _ := decodeRefs(refs.Get(id[:]))
	if n == 0 {
		if sums == nil {
			return fmt.Errorf("index: blob %s has no block checksums", id)
		}
		if err := tx.Bucket(blobSumsName).Put(id[:], sums); err != nil {
			return err
		}
	}
	return refs.Put(id[:], encodeRefs(n+1, size))
}

// dropRef removes one reference; it reports whether that was the last, in which case the caller releases the blob
// after the transaction committed.
func dropRef(tx *bolt.Tx, id blobID) (bool, error) {
	refs := tx.Bucket(blobRefsName)
	n, size := decodeRefs(refs.Get(id[:]))
	switch {
	case n == 0:
		return false, fmt.Errorf("index: blob %s is not referenced", id)
	case n == 1:
		if err := tx.Bucket(blobSumsName).Delete(id[:]); err != nil {
			return false, err
		}
		return true, refs.Delete(id[:])
	}
	return false, refs.Put(id[:], encodeRefs(n-1, size))
}

func encodeRefs(n uint64, size int64) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, n), uint64(size))
}

func decodeRefs(b []byte) (uint64, int64) {
	if b == nil {
		return 0, 0
	}
	n, w := binary.Uvarint(b)
	size, _ := binary.Uvarint(b[w:])
	return n, int64(size)
}

func (s *Store) sweeper() {
	defer s.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("object store: collecting unreferenced blobs", "error", err)
	}
	if s.sweepEvery <= 0 {
		return
	}
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("object store: collecting unreferenced blobs", "error", err)
			}
		}
	}
}

// Sweep deletes the blob files no index entry references and no write or reader holds: what a crash between a
// blob's commit and its index transaction, or between an index transaction and a file removal, left behind. It
// is safe while the store serves.
func (s *Store) Sweep(ctx context.Context) error {
	var candidates []blobID
	var batch []blobID
	check := func() error {
		return s.view(func(tx *bolt.Tx) error {
			refs := tx.Bucket(blobRefsName)
			for _, id := range batch {
				if refs.Get(id[:]) == nil {
					candidates = append(candidates, id)
				}
			}
			batch = batch[:0]
			return nil
		})
	}
	err := s.blobs.Walk(ctx, func(info content.Info) error {
		if info.Digest.Algorithm() != digest.SHA256 {
			return nil
		}
		b, err := hex.DecodeString(info.Digest.Encoded())
		if err != nil || len(b) != 32 {
			return nil
		}
		batch = append(batch, blobID(b))
		if len(batch) == 1024 {
			return check()
		}
		return nil
	})
	if err == nil {
		err = check()
	}
	if err != nil {
		return err
	}
	if len(candidates) > 0 {
		s.log.Info("object store: removing unreferenced blobs", "count", len(candidates))
	}
	// release checks each again under the pin lock: a write may have linked one since. A few at a time, so
	// writes waiting for the lock are not held up by a long list.
	for len(candidates) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(candidates), 256)
		s.release(candidates[:n]...)
		candidates = candidates[n:]
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
