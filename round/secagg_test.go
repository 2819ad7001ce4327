package round_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/round/roundsim"
	"github.com/floe-fl/floe/secagg"
)

// newSecAggSim returns a secagg job with n registered members named m0..m{n-1}.
func newSecAggSim(t testing.TB, n, quorum uint64) *roundsim.Sim {
	t.Helper()
	cfg := roundsim.Default()
	cfg.CohortSize, cfg.MinParticipants, cfg.Quorum, cfg.Rounds = n, n, quorum, 2
	cfg.NormBound = ""
	cfg.SecAgg = roundsim.DefaultSecAgg()
	s, err := roundsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		s.Register("m"+string(rune('0'+i)), 10)
	}
	return s
}

// plainMean returns the global model after a FedAvg step with every
// survivor sending the good delta.
func wantModel(t *testing.T, s *roundsim.Sim, before []byte) []float32 {
	t.Helper()
	g, _, err := model.UnmarshalSafetensors(before)
	if err != nil {
		t.Fatal(err)
	}
	flat := g.Flatten(nil)
	for i, d := range s.GoodDelta() {
		flat[i] += d
	}
	return flat
}

func modelOf(t *testing.T, s *roundsim.Sim, id ledger.BlobID) []float32 {
	t.Helper()
	b, err := s.Store().Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	g, _, err := model.UnmarshalSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	return g.Flatten(nil)
}

func TestSecAggRoundMatchesFedAvg(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop map[string]round.SAStep
		ok   bool
		n    int // survivors
	}{
		{"all", nil, true, 5},
		{"drop-before-keys", map[string]round.SAStep{"m1": round.SAKeys}, true, 4},
		{"drop-after-shares", map[string]round.SAStep{"m2": round.SAMasked}, true, 4},
		{"drop-after-masked", map[string]round.SAStep{"m3": round.SASurvivors}, true, 5},
		{"drop-during-unmask", map[string]round.SAStep{"m4": round.SAReveal}, true, 5},
		{"drop-everywhere", map[string]round.SAStep{"m0": round.SAKeys, "m1": round.SAMasked}, true, 3},
		{"below-threshold", map[string]round.SAStep{"m0": round.SAMasked, "m1": round.SAMasked, "m2": round.SAMasked}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSecAggSim(t, 5, 3)
			initial, err := s.Store().Get(t.Context(), s.Job().Job.InitialModel)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SecAggRound(tc.drop); err != nil {
				t.Fatal(err)
			}
			c := s.Last()
			if c == nil || c.SecAgg == nil {
				t.Fatalf("no secagg commitment: %+v", c)
			}
			if !tc.ok {
				if c.Status != ledger.StatusFailed || !strings.Contains(c.Reason, "secagg") {
					t.Fatalf("round below threshold: status %s reason %q", c.Status, c.Reason)
				}
				if len(c.SecAgg.Reveals) != 0 || len(c.SecAgg.Secrets) != 0 {
					t.Fatalf("failed round revealed shares: %d reveals, %d secrets", len(c.SecAgg.Reveals), len(c.SecAgg.Secrets))
				}
				return
			}
			if c.Status != ledger.StatusOK {
				t.Fatalf("round failed: %s", c.Reason)
			}
			if len(c.SecAgg.Survivors) != tc.n {
				t.Fatalf("%d survivors, want %d", len(c.SecAgg.Survivors), tc.n)
			}
			got, want := modelOf(t, s, c.OutputModel), wantModel(t, s, initial)
			// Quantisation: each encoding errs by < 1 unit of 2^-16 per
			// coordinate; the mean by less than n*2^-16/sum(w).
			bound := float64(tc.n) * math.Ldexp(1, -16) / float64(10*tc.n)
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > bound+1e-6 {
					t.Fatalf("parameter %d: secagg %g, fedavg %g (bound %g)", i, got[i], want[i], bound)
				}
			}
			// No member has both its secrets in the record.
			kinds := map[string]int{}
			for _, r := range c.SecAgg.Secrets {
				kinds[r.Participant]++
			}
			for p, k := range kinds {
				if k > 1 {
					t.Errorf("both secrets of %s recovered", p)
				}
			}
		})
	}
}

// TestSecAggMalformedShares: a member whose share batch breaks the
// protocol is excluded with a recorded reason and the round goes on.
func TestSecAggMalformedShares(t *testing.T) {
	s := newSecAggSim(t, 7, 3)
	s.Tick(0)
	mustStep(t, s, round.SAKeys, "m0", "m1", "m2", "m3", "m4", "m5", "m6")
	out, err := s.SAShares("m2", func(sh *ledger.SignedShares) {
		sh.Envelopes = sh.Envelopes[:len(sh.Envelopes)-1]
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(out, func(l string) bool { return strings.Contains(l, "exclude") }) {
		t.Fatalf("malformed shares not excluded: %q", out)
	}
	// Unsigned (re-signed by nobody) shares: a bad signature, excluded too.
	if _, err := s.SAShares("m3", func(sh *ledger.SignedShares) { sh.Sig[0] ^= 1 }); err != nil {
		t.Fatal(err)
	}
	mustStep(t, s, round.SAShares, "m0", "m1", "m4", "m5", "m6")
	// The excluded member cannot come back with a valid masked input.
	out, err = s.SAMasked("m2", nil)
	if err == nil {
		t.Fatalf("excluded member masked an input: %q", out)
	}
	honest := []string{"m0", "m1", "m4", "m5", "m6"}
	for step := round.SAMasked; step <= round.SAReveal; step++ {
		mustStep(t, s, step, honest...)
	}
	foldCommit(t, s)
	c := s.Last()
	if c.Status != ledger.StatusOK {
		t.Fatalf("round failed: %s", c.Reason)
	}
	var excluded []string
	for _, e := range c.SecAgg.Excluded {
		excluded = append(excluded, s.Name(e.Participant)+":"+e.Step+":"+string(e.Reason))
	}
	want := []string{"m2:shares:" + string(ledger.ReasonSecAggMessage), "m3:shares:" + string(ledger.ReasonBadSig)}
	if !slices.Equal(excluded, want) {
		t.Fatalf("excluded %q, want %q", excluded, want)
	}
}

// TestSecAggRevealBothRefused: a reveal that gives a survivor's mask key
// (both secrets would be known) is refused and its sender excluded; the
// record never holds it.
func TestSecAggRevealBothRefused(t *testing.T) {
	s := newSecAggSim(t, 5, 3)
	s.Tick(0)
	names := []string{"m0", "m1", "m2", "m3", "m4"}
	for step := round.SAKeys; step < round.SAReveal; step++ {
		mustStep(t, s, step, names...)
	}
	out, err := s.SAReveal("m0", func(r *ledger.SignedReveal) {
		var rs secagg.RevealedShare
		if err := rs.UnmarshalBinary(r.Rev.Shares[0]); err != nil {
			t.Fatal(err)
		}
		rs.Kind = secagg.KindMaskKey
		r.Rev.Shares[0], _ = rs.MarshalBinary()
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(out, func(l string) bool { return strings.Contains(l, "exclude m0 at reveal") }) {
		t.Fatalf("reveal of a survivor's mask key not excluded: %q", out)
	}
	mustStep(t, s, round.SAReveal, names[1:]...)
	if c := foldCommit(t, s); c.Status != ledger.StatusOK || len(c.SecAgg.Reveals) != 4 {
		t.Fatalf("status %s (%s), %d reveals", c.Status, c.Reason, len(c.SecAgg.Reveals))
	}
}

// TestSecAggCrashResumes: a coordinator restarted from its journal in the
// middle of a secagg round finishes it with the same commitment.
func TestSecAggCrashResumes(t *testing.T) {
	run := func(crashAt round.SAStep) *ledger.Commitment {
		s := newSecAggSim(t, 4, 3)
		s.Tick(0)
		for step := round.SAKeys; step <= round.SAReveal; step++ {
			for _, n := range []string{"m0", "m1", "m2", "m3"} {
				if _, err := s.SAStep(step, n); err != nil {
					t.Fatal(err)
				}
			}
			if step == crashAt {
				if _, err := s.Crash(); err != nil {
					t.Fatal(err)
				}
			}
			s.Tick(0)
		}
		return foldCommit(t, s)
	}
	want := run(round.SANone)
	if want.Status != ledger.StatusOK {
		t.Fatalf("round failed: %s", want.Reason)
	}
	for _, at := range []round.SAStep{round.SAKeys, round.SAShares, round.SAMasked, round.SASurvivors, round.SAReveal} {
		got := run(at)
		a, _ := ledger.Marshal(want)
		b, _ := ledger.Marshal(got)
		if string(a) != string(b) {
			t.Errorf("crash at %s: commitment differs", at)
		}
	}
}

// secaggSteps runs the steps of the open round for names in order, with
// hooks: before, called before a step's messages, may set a member's
// Corrupt hook; reveal tampers with the reveals.
func secaggSteps(t *testing.T, s *roundsim.Sim, names []string, before func(step round.SAStep), reveal map[string]func(*ledger.SignedReveal)) *ledger.Commitment {
	t.Helper()
	s.Tick(0)
	for step := round.SAKeys; step <= round.SAReveal; step++ {
		if before != nil {
			before(step)
		}
		for _, n := range names {
			var err error
			if tamper, ok := reveal[n]; ok && step == round.SAReveal {
				_, err = s.SAReveal(n, tamper)
			} else {
				_, err = s.SAStep(step, n)
			}
			if err != nil {
				t.Fatalf("%s at %s: %v", n, step, err)
			}
		}
		s.Tick(0)
	}
	return foldCommit(t, s)
}

// TestSecAggDishonestShares: the shares a member deals are checked against
// its signed Feldman commitments: a member that deals a bad share to one
// holder does not stop the round (the holder reveals nothing for it and
// the others suffice); one that deals bad shares to every holder fails the
// round, which names it; a holder that reveals a wrong share is outvoted
// by the commitment and the model is the same as in the honest round.
func TestSecAggDishonestShares(t *testing.T) {
	names := []string{"m0", "m1", "m2", "m3", "m4", "m5"}
	corrupt := func(s *roundsim.Sim, who string, holders int) func(round.SAStep) {
		return func(step round.SAStep) {
			if step != round.SAShares {
				return
			}
			m, err := s.Member(who)
			if err != nil {
				t.Fatal(err)
			}
			m.Corrupt = func(mask, self []secagg.ShareValue) {
				for i := range min(holders, len(self)) {
					self[i].Value[0] ^= 1
					mask[i].Value[0] ^= 1
				}
			}
		}
	}
	honest := secaggSteps(t, newSecAggSim(t, 6, 3), names, nil, nil)
	if honest.Status != ledger.StatusOK {
		t.Fatalf("honest round failed: %s", honest.Reason)
	}

	s := newSecAggSim(t, 6, 3)
	c := secaggSteps(t, s, names, corrupt(s, "m2", 1), nil)
	if c.Status != ledger.StatusOK || c.OutputModelHash != honest.OutputModelHash {
		t.Fatalf("one bad share: status %s (%s), same model %v", c.Status, c.Reason, c.OutputModelHash == honest.OutputModelHash)
	}

	s = newSecAggSim(t, 6, 3)
	c = secaggSteps(t, s, names, corrupt(s, "m2", 5), nil)
	if c.Status != ledger.StatusFailed || !strings.Contains(c.Reason, "self-mask seed of "+s.ID("m2")) {
		t.Fatalf("all bad shares: status %s, reason %q", c.Status, c.Reason)
	}

	s = newSecAggSim(t, 6, 3)
	lie := func(r *ledger.SignedReveal) {
		var rs secagg.RevealedShare
		if err := rs.UnmarshalBinary(r.Rev.Shares[0]); err != nil {
			t.Fatal(err)
		}
		rs.Value[1] ^= 1
		r.Rev.Shares[0], _ = rs.MarshalBinary()
	}
	c = secaggSteps(t, s, names, nil, map[string]func(*ledger.SignedReveal){"m0": lie})
	if c.Status != ledger.StatusOK || c.OutputModelHash != honest.OutputModelHash {
		t.Fatalf("lying holders: status %s (%s), same model %v", c.Status, c.Reason, c.OutputModelHash == honest.OutputModelHash)
	}
}

// TestSecAggCoordinatorView: everything the coordinator receives in a
// round (and records: the chain holds the same) removes from one
// survivor's masked input only its self mask and its masks with members
// that dropped; the pairwise masks with the other honest survivors remain,
// so no single update is recovered while two honest members survive. The
// same material unmasks the sum exactly.
func TestSecAggCoordinatorView(t *testing.T) {
	s := newSecAggSim(t, 5, 3)
	if err := s.SecAggRound(map[string]round.SAStep{"m4": round.SAMasked}); err != nil {
		t.Fatal(err)
	}
	c := s.Last()
	if c.Status != ledger.StatusOK || len(c.SecAgg.Survivors) != 4 {
		t.Fatalf("status %s (%s), %d survivors", c.Status, c.Reason, len(c.SecAgg.Survivors))
	}
	job := s.Job().Job
	cohort := c.Cohort
	idx := func(p string) int { i, _ := slices.BinarySearch(cohort, p); return i }
	g, err := round.SecAggGraph(job.ID(), c.Round, c.CohortSeed, len(cohort))
	if err != nil {
		t.Fatal(err)
	}
	pubs := make([]secagg.PublicKey, len(cohort))
	for _, k := range c.SecAgg.Keys {
		copy(pubs[idx(k.Adv.Participant)][:], k.Adv.MaskKey)
	}
	var dropped []secagg.Revealed
	selfs := map[int]secagg.Secret{}
	for _, r := range c.SecAgg.Secrets {
		var sec secagg.Secret
		copy(sec[:], r.Secret)
		if r.Kind == uint8(secagg.KindMaskKey) {
			dropped = append(dropped, secagg.Revealed{Index: idx(r.Participant), Secret: sec})
		} else {
			selfs[idx(r.Participant)] = sec
		}
	}
	if len(dropped) != 1 || len(selfs) != 4 {
		t.Fatalf("%d mask keys and %d self-mask seeds revealed", len(dropped), len(selfs))
	}
	d := round.SecAggDomain(job.ID(), c.Round)
	bits := int(job.SecAgg.Bits)
	mask := uint64(1)<<bits - 1
	sum := make([]uint64, len(s.Encoded("m0")))
	for _, rec := range c.Submissions {
		if rec.Status != ledger.StatusAccepted {
			continue
		}
		b, err := s.Store().Get(t.Context(), rec.Signed.Sub.Blob)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]uint64, len(s.Encoded("m0")))
		round.AddMaskedForTest(v, b, bits)
		i := idx(rec.Signed.Sub.Participant)
		// The coordinator's best: remove what it can of this one input.
		if _, err := d.UnmaskSum(v, bits, g, []int{i}, []secagg.Revealed{{Index: i, Secret: selfs[i]}}, dropped, pubs); err != nil {
			t.Fatal(err)
		}
		enc := s.Encoded(s.Name(rec.Signed.Sub.Participant))
		same := 0
		for j := range v {
			if v[j]&mask == enc[j]&mask {
				same++
			}
			sum[j] += v[j]
		}
		if same > len(v)/10 {
			t.Errorf("%s: %d of %d coordinates of its update recovered from the coordinator's view", s.Name(rec.Signed.Sub.Participant), same, len(v))
		}
	}
	// The pairwise masks among survivors cancel in the sum: the same view
	// gives the sum of the encodings exactly.
	for j := range sum {
		var want uint64
		for _, n := range []string{"m0", "m1", "m2", "m3"} {
			want += s.Encoded(n)[j]
		}
		if sum[j]&mask != want&mask {
			t.Fatalf("coordinate %d: unmasked sum %d, sum of encodings %d", j, sum[j]&mask, want&mask)
		}
	}
}

// TestSecAggRulesMatchPlain: central DP noise and the server optimizers
// apply to the unmasked sum as to a plain round's: the same updates and
// noise seed give the same model up to the fixed-point quantisation (under
// DP every member counts once and clips its own update to dp_clip).
func TestSecAggRulesMatchPlain(t *testing.T) {
	for _, rule := range []string{"fedavg(dp_clip=0.05,dp_noise_multiplier=0.5)", "fedadam(beta1=0.9,beta2=0.99,dp_clip=0,dp_noise_multiplier=0,eta=0.1,eta_l=0.1,tau=1e-09)", "fedavgm(dp_clip=0,dp_noise_multiplier=0,eta=1,momentum=0.9)"} {
		t.Run(rule, func(t *testing.T) {
			models := map[bool][]float32{}
			for _, secure := range []bool{false, true} {
				cfg := roundsim.Default()
				cfg.CohortSize, cfg.MinParticipants, cfg.Quorum, cfg.Rounds, cfg.NormBound, cfg.Rule = 4, 4, 3, 2, "", rule
				if secure {
					cfg.SecAgg = roundsim.DefaultSecAgg()
				}
				s, err := roundsim.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range []string{"m0", "m1", "m2", "m3"} {
					s.Register(n, 10)
				}
				for range 2 {
					if secure {
						err = s.SecAggRound(nil)
					} else {
						err = s.Round(nil)
					}
					if err != nil {
						t.Fatal(err)
					}
					if c := s.Last(); c.Status != ledger.StatusOK {
						t.Fatalf("round %d: %s", c.Round, c.Reason)
					}
				}
				models[secure] = modelOf(t, s, s.Last().OutputModel)
			}
			for i := range models[true] {
				if d := math.Abs(float64(models[true][i] - models[false][i])); d > 1e-4 {
					t.Fatalf("parameter %d: secagg %g, plain %g", i, models[true][i], models[false][i])
				}
			}
		})
	}
}

// mustStep steps names' honest messages of step and ticks.
func mustStep(t testing.TB, s *roundsim.Sim, step round.SAStep, names ...string) {
	t.Helper()
	if err := s.SAStepAll(step, names...); err != nil {
		t.Fatal(err)
	}
}

// foldCommit folds and commits the closed round and returns its commitment.
func foldCommit(t testing.TB, s *roundsim.Sim) *ledger.Commitment {
	t.Helper()
	if _, err := s.Fold(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	return s.Last()
}
