package sims

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/ledger"
)

// Crash points: where in a round a simulated coordinator crash stops it.
const (
	// crashClosed: the round is closed and journaled, nothing of its fold
	// is stored.
	crashClosed = "closed"
	// crashStored: the round's commitment is stored, its commit not journaled.
	crashStored = "stored"
)

// crashPlan is the run's crash plan: the crash faults of o.Faults at their
// rounds and points, and o.Crashes more at distinct seeded rounds (among
// those left), each with a seeded point.
func crashPlan(o Options) map[uint64]string {
	plan := map[uint64]string{}
	for _, f := range o.Faults {
		if f.Kind == FaultCrash {
			plan[uint64(f.Round)] = f.Point
		}
	}
	explicit := len(plan)
	r := rand.New(rand.NewPCG(o.Seed, 0x6372617368)) // "crash"
	for _, i := range r.Perm(o.Rounds) {
		if len(plan) >= explicit+o.Crashes {
			break
		}
		if _, ok := plan[uint64(i+1)]; ok {
			continue
		}
		point := crashClosed
		if r.IntN(2) == 1 {
			point = crashStored
		}
		plan[uint64(i+1)] = point
	}
	return plan
}

// crashError is a simulated coordinator crash: the coordinator's store
// stopped in Round at Point (crashClosed or crashStored). It wraps
// blob.ErrStopped, so the coordinator stops instead of retrying, and the
// loop reopens it.
type crashError struct {
	Round uint64
	Point string
}

func (e *crashError) Error() string {
	return fmt.Sprintf("sims: simulated coordinator crash in round %d at %s", e.Round, e.Point)
}

func (e *crashError) Unwrap() error { return blob.ErrStopped }

// crashStore is the coordinator's blob store when a run has crashes: it
// passes every call to the inner store and crashes the coordinator where
// the plan says. The coordinator's only I/O after a round closes is its
// store (the fold reads the model, state and update blobs and puts the
// model and state; then it puts the commitment record), so:
//   - crashClosed: the first Get or Put of the planned round fails, before
//     anything of the round is stored;
//   - crashStored: the Put of the round's commitment record is done, then
//     fails.
//
// The round of a call is the one after the last commitment record stored,
// or, for a commitment record, its own (a restarted coordinator stores its
// last commitment again). Each planned round crashes once. From a crash
// until reopened (up), every call fails with the crash's crashError: the
// process is gone.
type crashStore struct {
	inner blob.Store
	plan  map[uint64]string // round -> crash point

	mu      sync.Mutex // guards the following
	isUp    bool       // the coordinator is open: its calls are from its Run
	down    *crashError
	folding uint64 // the round after the last commitment record stored
	crashed map[uint64]bool
}

func newCrashStore(inner blob.Store, plan map[uint64]string) *crashStore {
	return &crashStore{inner: inner, plan: plan, folding: 1, crashed: map[uint64]bool{}}
}

// up reports the coordinator (re)opened: calls from now on are its Run's,
// and may crash. Before the first up (while Open creates the job) none does.
func (c *crashStore) up() {
	c.mu.Lock()
	c.isUp, c.down = true, nil
	c.mu.Unlock()
}

// crashLocked crashes round r at point, if the plan says so and it did
// not crash yet, and returns the crash; or returns the crash the store is
// already down with.
func (c *crashStore) crashLocked(r uint64, point string) error {
	if c.down != nil {
		return c.down
	}
	if !c.isUp || c.plan[r] != point || c.crashed[r] {
		return nil
	}
	c.crashed[r] = true
	c.down = &crashError{Round: r, Point: point}
	return c.down
}

func (c *crashStore) Get(ctx context.Context, id [32]byte) ([]byte, error) {
	c.mu.Lock()
	err := c.crashLocked(c.folding, crashClosed)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return c.inner.Get(ctx, id)
}

func (c *crashStore) Put(ctx context.Context, data []byte, lifetime time.Duration) ([32]byte, []byte, error) {
	r, commitment := commitmentRound(data)
	c.mu.Lock()
	if !commitment {
		r = c.folding
	}
	err := c.crashLocked(r, crashClosed)
	c.mu.Unlock()
	if err != nil {
		return [32]byte{}, nil, err
	}
	id, cert, err := c.inner.Put(ctx, data, lifetime)
	if err != nil || !commitment {
		return id, cert, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.folding = max(c.folding, r+1)
	if err := c.crashLocked(r, crashStored); err != nil {
		return [32]byte{}, nil, err
	}
	return id, cert, nil
}

// retire makes c pass every call through: the run is over, and what reads
// through it now (the audit, the checkers) is not the coordinator.
func (c *crashStore) retire() {
	c.mu.Lock()
	c.isUp, c.down = false, nil
	c.mu.Unlock()
}

func (c *crashStore) VerifyCert(id [32]byte, cert []byte) error { return c.inner.VerifyCert(id, cert) }

// commitmentRound reports whether b is a commitment record, and its round.
func commitmentRound(b []byte) (uint64, bool) {
	if len(b) == 0 || b[0] != ledger.KindCommitment {
		return 0, false
	}
	_, sc, err := ledger.Decode(b)
	if err != nil || sc == nil {
		return 0, false
	}
	return sc.C.Round, true
}

// commitStore is the coordinator's store client with a hook: after it
// stores a commitment record (the round is folded, the next not open yet),
// the sim's faults of the next round strike (commitStored). Inside a
// crashStore, a crash at the stored point comes after the hook, and a
// restarted coordinator storing the commitment again runs it no more.
type commitStore struct {
	blob.Store
	s *sim
}

func (c *commitStore) Put(ctx context.Context, data []byte, lifetime time.Duration) ([32]byte, []byte, error) {
	id, cert, err := c.Store.Put(ctx, data, lifetime)
	if err == nil && len(data) > 0 && data[0] == ledger.KindCommitment {
		if _, sc, derr := ledger.Decode(data); derr == nil && sc != nil {
			c.s.commitStored(ctx, &sc.C)
		}
	}
	return id, cert, err
}
