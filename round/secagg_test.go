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
func newSecAggSim(t *testing.T, n, quorum uint64) *roundsim.Sim {
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
	for _, n := range []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6"} {
		if _, err := s.SAKeys(n); err != nil {
			t.Fatal(err)
		}
	}
	s.Tick(0)
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
	for _, n := range []string{"m0", "m1", "m4", "m5", "m6"} {
		if _, err := s.SAShares(n, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.Tick(0)
	// The excluded member cannot come back with a valid masked input.
	out, err = s.SAMasked("m2", nil)
	if err == nil {
		t.Fatalf("excluded member masked an input: %q", out)
	}
	for _, n := range []string{"m0", "m1", "m4", "m5", "m6"} {
		if _, err := s.SAMasked(n, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.Tick(0)
	for _, n := range []string{"m0", "m1", "m4", "m5", "m6"} {
		if _, err := s.SASign(n); err != nil {
			t.Fatal(err)
		}
	}
	s.Tick(0)
	for _, n := range []string{"m0", "m1", "m4", "m5", "m6"} {
		if _, err := s.SAReveal(n, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.Tick(0)
	if _, err := s.Fold(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(); err != nil {
		t.Fatal(err)
	}
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
	for _, step := range []func(string) ([]string, error){
		s.SAKeys,
		func(n string) ([]string, error) { return s.SAShares(n, nil) },
		func(n string) ([]string, error) { return s.SAMasked(n, nil) },
		s.SASign,
	} {
		for _, n := range names {
			if _, err := step(n); err != nil {
				t.Fatal(err)
			}
		}
		s.Tick(0)
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
	for _, n := range names[1:] {
		if _, err := s.SAReveal(n, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.Tick(0)
	if _, err := s.Fold(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if c := s.Last(); c.Status != ledger.StatusOK || len(c.SecAgg.Reveals) != 4 {
		t.Fatalf("status %s (%s), %d reveals", c.Status, c.Reason, len(c.SecAgg.Reveals))
	}
}

// TestSecAggCrashResumes: a coordinator restarted from its journal in the
// middle of a secagg round finishes it with the same commitment.
func TestSecAggCrashResumes(t *testing.T) {
	run := func(crashAt round.SAStep) *ledger.Commitment {
		s := newSecAggSim(t, 4, 3)
		s.Tick(0)
		names := []string{"m0", "m1", "m2", "m3"}
		steps := []func(string) ([]string, error){
			s.SAKeys,
			func(n string) ([]string, error) { return s.SAShares(n, nil) },
			func(n string) ([]string, error) { return s.SAMasked(n, nil) },
			s.SASign,
			func(n string) ([]string, error) { return s.SAReveal(n, nil) },
		}
		for i, step := range steps {
			for _, n := range names {
				if _, err := step(n); err != nil {
					t.Fatal(err)
				}
			}
			if round.SAStep(i+1) == crashAt {
				if _, err := s.Crash(); err != nil {
					t.Fatal(err)
				}
			}
			s.Tick(0)
		}
		if _, err := s.Fold(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(); err != nil {
			t.Fatal(err)
		}
		return s.Last()
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
