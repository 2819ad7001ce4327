package sims

import (
	"context"
	"crypto/sha256"
	"math"
	"path/filepath"
	"strconv"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/decimal"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/seal"
)

// openCoordinator creates the coordinator's host, key and store (wrapped
// in a crashStore when the run has crashes), builds the job and opens the
// coordinator on Out/coordinator, which creates the job.
func (s *sim) openCoordinator(ctx context.Context) error {
	ckey := keyFor(s.o.Seed, "coordinator")
	ch, err := s.net.newHost(ckey, s.o.Nodes, true)
	if err != nil {
		return err
	}
	if s.cstore, err = s.storeFor(ch); err != nil {
		return err
	}
	hseed := sha256.Sum256([]byte("floe/sim-hpke/v1\x00" + strconv.FormatUint(s.o.Seed, 10)))
	hkey, err := seal.DeriveKey(hseed[:])
	if err != nil {
		return err
	}
	spec, err := s.jobSpec(ch.ID().String(), hkey)
	if err != nil {
		return err
	}
	s.newJob = func() (ledger.JobSpec, []byte, error) {
		b, err := s.initialModel(&spec)
		return spec, b, err
	}
	s.committed = make(chan uint64, s.o.Rounds)
	var store blob.Store = s.cstore
	if s.o.Crashes > 0 {
		s.crashStore = newCrashStore(s.cstore, crashPlan(*s.o))
		store = s.crashStore
	}
	s.ccfg = coordinator.Config{
		Host: ch, Key: ckey, HPKE: hkey, Store: store, DataDir: filepath.Join(s.o.Out, "coordinator"),
		Clock: s.clock, Eval: s.eval, Logger: s.o.Logger, OnCommit: s.onCommit,
	}
	if s.o.Evaluator != nil {
		s.ccfg.Evaluator = s.o.Evaluator()
	}
	if s.srv, err = coordinator.Open(ctx, s.ccfg, s.newJob); err != nil {
		return err
	}
	s.up()
	s.mu.Lock()
	s.lastTime = time.Now()
	s.mu.Unlock()
	return nil
}

// reopenCoordinator restarts a coordinator that "died" from its data
// directory alone. Its Run goroutine must have returned.
func (s *sim) reopenCoordinator(ctx context.Context) error {
	s.closeCoordinator()
	srv, err := coordinator.Open(ctx, s.ccfg, s.newJob)
	if err != nil {
		return err
	}
	s.srv, s.srvClosed = srv, false
	s.up()
	return nil
}

// up tells the crashing store, if any, that the coordinator is open.
func (s *sim) up() {
	if s.crashStore != nil {
		s.crashStore.up()
	}
}

// closeCoordinator closes the coordinator, if open. Its Run goroutine must
// have returned.
func (s *sim) closeCoordinator() {
	if s.srv != nil && !s.srvClosed {
		s.srv.Close()
		s.srvClosed = true
	}
}

// onCommit is the coordinator's OnCommit (called from its Run goroutine):
// it records the round's statistics, hands the round to the loop and
// reports it to onRound.
func (s *sim) onCommit(c *ledger.SignedCommitment, head ledger.BlobID) {
	st := RoundStat{Round: c.C.Round, Status: c.C.Status, Cohort: len(c.C.Cohort), Head: head}
	for _, sub := range c.C.Submissions {
		st.Submitted++
		if sub.Status == ledger.StatusAccepted {
			st.Accepted++
		}
	}
	for _, m := range c.C.Metrics {
		v := math.NaN() // an unreadable metric shows as NaN, not as 0
		if d, err := decimal.Parse(m.Value); err == nil {
			v = d.Float64()
		} else {
			s.o.Logger.Warn("unreadable metric in commitment", "round", c.C.Round, "metric", m.Name, "err", err)
		}
		switch m.Name {
		case "loss":
			st.Loss = v
		case "accuracy":
			st.Accuracy = v
		}
	}
	now := time.Now()
	s.mu.Lock()
	st.Seconds = now.Sub(s.lastTime).Seconds()
	s.lastTime = now
	s.stats = append(s.stats, st)
	s.mu.Unlock()
	s.committed <- c.C.Round
	if s.onRound != nil {
		s.onRound(st)
	}
}
