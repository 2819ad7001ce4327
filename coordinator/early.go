package coordinator

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/ledger"
)

// earlyDir is the data directory's subdirectory of early-fetched update
// blobs.
const earlyDir = "early"

// Early-fetch outcomes, the result label of floe_early_fetch_total.
const (
	earlySpilled = "spilled" // fetched, opened, checked and written to the data directory
	earlyUsed    = "used"    // read back by the fold
	earlyFailed  = "failed"  // not fetched, opened or checked (the fold fetches it itself)
	earlySkipped = "skipped" // over the byte budget, or the round closed first
	earlyCorrupt = "corrupt" // its file no longer held the bytes written
)

// earlyFetch fetches, opens and checks (against its update hash) the update
// of every submission the collecting round accepts, as it arrives
// (earlyWorkers at a time), and keeps the plaintext in a file of the data directory. The fold
// then reads each from local disk instead of fetching, verifying, opening
// and hashing it on the round's critical path: the round's close-to-commit
// time is then the fold's own arithmetic. It is a cache and nothing more:
// an update it does not hold (fetch or check failed, over the budget, the
// round closed first, its file damaged) is fetched by the fold as before,
// every verdict is the fold's, and the files are removed once the round is
// folded (and at startup). Memory: an update buffer per worker while the
// round collects; one is handed to the fold when the round closes.
//
// The files hold what the coordinator alone may read (sealed updates
// opened with its key, which lives in the same directory), 0600, for the
// time between an update's arrival and the fold.
type earlyFetch struct {
	dir     string
	budget  uint64                                                                                 // bytes held per round at most
	prepare func(ctx context.Context, sub *ledger.SignedSubmission) ([]byte, ledger.Reason, error) // fetch, open, check
	log     *slog.Logger
	count   func(result string)

	mu      sync.Mutex
	round   uint64
	open    bool // the round takes new submissions
	entries map[string]*earlyEntry
	queue   []*earlyEntry
	used    uint64
	busy    int        // workers fetching
	cv      *sync.Cond // signalled on every change of the above
	spares  [][]byte   // the workers' buffers between fetches
}

// earlyWorkers is how many updates are fetched at once: one update's disk
// write or wait for a slow node does not hold up the next, and a
// coordinator that shares its cores keeps up with arrivals. Three keep the
// memory of a collecting round (the model and three update buffers) within
// the fold's four models: on floe bench round (25M parameters, 20
// participants sharing the coordinator's 2 cores) two left up to 5 of the
// 20 updates queued when the round closed, three none in three runs.
const earlyWorkers = 3

// earlyEntry is one submission's early fetch.
type earlyEntry struct {
	sub  ledger.SignedSubmission
	path string // set when the file holds the blob
	size int
	crc  uint32 // CRC-32C (the journal's crcTable): the file's guard against local damage; the bytes were checked when they arrived
}

// newEarlyFetch returns an early fetcher that keeps up to budget bytes a
// round in dataDir/early, after removing what a previous run left there;
// prepare fetches, opens and checks an update.
func newEarlyFetch(dataDir string, budget uint64, prepare func(context.Context, *ledger.SignedSubmission) ([]byte, ledger.Reason, error), log *slog.Logger, count func(string)) (*earlyFetch, error) {
	dir := filepath.Join(dataDir, earlyDir)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	e := &earlyFetch{dir: dir, budget: budget, prepare: prepare, log: log, count: count,
		entries: map[string]*earlyEntry{}}
	e.cv = sync.NewCond(&e.mu)
	return e, nil
}

// earlyKey names a submission: the same participant may submit again.
func earlyKey(s *ledger.SignedSubmission) string {
	return fmt.Sprintf("%d/%s/%x/%x/%d", s.Sub.Round, s.Sub.Participant, s.Sub.Blob, s.Sub.UpdateHash, s.Sub.UpdateSize)
}

// add queues an accepted submission of the collecting round r; limit is
// the most bytes its blob may have when it declares no size.
func (e *earlyFetch) add(r uint64, s *ledger.SignedSubmission, limit uint64) {
	if e == nil || s.Sub.Round != r {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r != e.round {
		e.resetLocked(r)
	}
	key := earlyKey(s)
	if !e.open || e.entries[key] != nil {
		return
	}
	size := s.Sub.UpdateSize // checked against the job's bound at receipt
	if size == 0 {
		size = limit
	}
	if size == 0 || e.used+size > e.budget {
		e.count(earlySkipped)
		return
	}
	e.used += size
	en := &earlyEntry{sub: *s}
	e.entries[key] = en
	e.queue = append(e.queue, en)
	e.cv.Broadcast()
}

// resetLocked forgets every entry and file and opens round r.
func (e *earlyFetch) resetLocked(r uint64) {
	for _, en := range e.entries {
		if en.path != "" {
			os.Remove(en.path)
		}
	}
	e.round, e.open, e.entries, e.queue, e.used = r, true, map[string]*earlyEntry{}, nil, 0
}

// run fetches queued submissions on earlyWorkers goroutines until ctx
// ends, and returns when they have.
func (e *earlyFetch) run(ctx context.Context) {
	if e == nil {
		return
	}
	stop := context.AfterFunc(ctx, func() {
		e.mu.Lock()
		e.cv.Broadcast()
		e.mu.Unlock()
	})
	defer stop()
	var wg sync.WaitGroup
	for range earlyWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.work(ctx)
		}()
	}
	wg.Wait()
}

// work is one worker: it takes the next queued submission of the open
// round, fetches it and records the result, until ctx ends.
func (e *earlyFetch) work(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		for ctx.Err() == nil && (!e.open || len(e.queue) == 0) {
			e.cv.Wait()
		}
		if ctx.Err() != nil {
			return
		}
		en := e.queue[0]
		e.queue = e.queue[1:]
		e.busy++
		var buf []byte
		if n := len(e.spares); n > 0 {
			buf, e.spares = e.spares[n-1], e.spares[:n-1]
		}
		e.mu.Unlock()
		path, size, crc, b, err := e.fetchOne(ctx, en, buf)
		e.mu.Lock()
		e.busy--
		if b != nil {
			buf = b[:0]
		}
		if buf != nil {
			e.spares = append(e.spares, buf)
		}
		if err != nil {
			e.count(earlyFailed)
			e.log.Debug("early fetch failed; the fold fetches the update", "participant", en.sub.Sub.Participant, "err", err)
		} else if e.entries[earlyKey(&en.sub)] != en {
			os.Remove(path) // its round was reset meanwhile
		} else {
			en.path, en.size, en.crc = path, size, crc
			e.count(earlySpilled)
		}
		e.cv.Broadcast()
	}
}

// fetchOne fetches and opens en's update into buf (when it fits) and
// writes the plaintext to a new file, returning the file and the
// plaintext (in buf's memory when it fit).
func (e *earlyFetch) fetchOne(ctx context.Context, en *earlyEntry, buf []byte) (path string, size int, crc uint32, b []byte, err error) {
	if buf != nil {
		ctx = blob.WithBuffer(ctx, buf)
	}
	b, reason, err := e.prepare(ctx, &en.sub)
	if err == nil && reason != "" {
		err = errors.New(string(reason))
	}
	if err != nil {
		return "", 0, 0, nil, err
	}
	key := earlyKey(&en.sub)
	f, err := os.CreateTemp(e.dir, hex.EncodeToString([]byte(key))[:32]+"-*")
	if err != nil {
		return "", 0, 0, b, err
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", 0, 0, b, werr
	}
	return f.Name(), len(b), crc32.Checksum(b, crcTable), b, nil
}

// close closes round r to new early fetches (the fold starts): queued ones
// are dropped, and close waits for those being fetched. It returns the
// workers' buffers, which are the caller's from then on.
func (e *earlyFetch) close(r uint64) [][]byte {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r != e.round {
		e.resetLocked(r)
	}
	e.open = false
	for _, en := range e.queue {
		delete(e.entries, earlyKey(&en.sub))
		e.count(earlySkipped)
	}
	e.queue = nil
	for e.busy > 0 {
		e.cv.Wait()
	}
	spares := e.spares
	e.spares = nil
	return spares
}

// take returns submission s's plaintext, checked against its update hash
// when it arrived, read into buf (or a new buffer when buf is too small),
// when the round's early fetch holds it intact; its file is removed either
// way.
func (e *earlyFetch) take(s *ledger.SignedSubmission, buf []byte) ([]byte, bool) {
	if e == nil {
		return nil, false
	}
	e.mu.Lock()
	en := e.entries[earlyKey(s)]
	delete(e.entries, earlyKey(s))
	e.mu.Unlock()
	if en == nil || en.path == "" {
		return nil, false
	}
	defer os.Remove(en.path)
	if cap(buf) < en.size {
		buf = make([]byte, en.size)
	}
	b := buf[:en.size]
	f, err := os.Open(en.path)
	if err == nil {
		_, err = io.ReadFull(f, b)
		f.Close()
	}
	if err == nil && crc32.Checksum(b, crcTable) != en.crc {
		err = errors.New("checksum mismatch")
	}
	if err != nil {
		e.count(earlyCorrupt)
		e.log.Warn("early-fetched update unreadable; fetching it again", "participant", s.Sub.Participant, "file", en.path, "err", err)
		return nil, false
	}
	e.count(earlyUsed)
	return b, true
}

// finish removes what round r's early fetch still holds.
func (e *earlyFetch) finish(r uint64) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r == e.round {
		e.resetLocked(r)
		e.open = false
	}
}
