package coordinator_test

import (
	"math/rand/v2"
	"testing"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/participant"
)

// TestSecAggRounds runs a secagg job through real libp2p hosts (mocknet),
// real storage nodes and the participant's driver: every round's
// commitment holds the protocol's record, the model moves, and no
// individual update is ever opened (none can be: masked inputs only).
func TestSecAggRounds(t *testing.T) {
	f := newFixtureWith(t, t.TempDir(), func(spec *ledger.JobSpec, _ []string) {
		spec.Privacy, spec.NormBound, spec.Quorum = ledger.PrivacySecAgg, "", 3
		spec.SecAgg = &ledger.SecAggParams{FracBits: 16, Clip: "1", Threshold: "0.66", StepMillis: 5000}
	})
	if f.spec.Privacy != ledger.PrivacySecAgg || f.srv.Job().Job.SecAgg.Bits == 0 || f.srv.Job().Job.MaxUpdateBytes != 8*(15+1) {
		t.Fatalf("job: %+v", f.srv.Job().Job.SecAgg)
	}
	errs := make(chan error, len(f.peers))
	for i, p := range f.peers[:7] {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		d := &model.Dataset{N: 20, D: 4, Classes: 3, X: make([]float32, 80), Y: make([]int, 20)}
		for j := range d.X {
			d.X[j] = float32(rng.NormFloat64())
		}
		for j := range d.Y {
			d.Y[j] = rng.IntN(3)
		}
		pt, err := participant.New(participant.Config{Host: p.h, Key: p.key, Coordinator: f.coord, Store: p.st, Data: d})
		if err != nil {
			t.Fatal(err)
		}
		go func() { errs <- pt.Run(f.ctx) }()
	}
	var last *ledger.SignedCommitment
	for r := uint64(1); r <= f.spec.Rounds; r++ {
		select {
		case c := <-f.heads:
			last = c
		case err := <-f.errc:
			t.Fatalf("coordinator stopped: %v", err)
		case <-f.ctx.Done():
			t.Fatal("timed out waiting for rounds")
		}
		c := last.C
		if c.Round != r || c.Status != ledger.StatusOK || c.SecAgg == nil {
			t.Fatalf("round %d: status %s (%s), secagg record %v", c.Round, c.Status, c.Reason, c.SecAgg != nil)
		}
		if len(c.SecAgg.Keys) != 6 || len(c.SecAgg.Survivors) != 6 || len(c.SecAgg.Reveals) != 6 || len(c.SecAgg.Secrets) != 6 {
			t.Fatalf("round %d: %d keys, %d survivors, %d reveals, %d secrets", r, len(c.SecAgg.Keys), len(c.SecAgg.Survivors), len(c.SecAgg.Reveals), len(c.SecAgg.Secrets))
		}
		if c.OutputModelHash == c.InputModelHash {
			t.Fatalf("round %d did not move the model", r)
		}
	}
	for range 7 {
		if err := <-errs; err != nil {
			t.Fatalf("participant: %v", err)
		}
	}
}
