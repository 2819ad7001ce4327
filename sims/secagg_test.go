package sims

import (
	"context"
	"math"
	"testing"

	"github.com/floe-fl/floe/audit"
)

// TestSecAggMatchesSealed: with the same seed, a secagg simulation with
// dropouts has the same rounds as the sealed one (statuses, accepted
// counts) and the same accuracy up to the fixed-point quantisation, and
// its chain audits with no key.
func TestSecAggMatchesSealed(t *testing.T) {
	run := func(privacy string) *Result {
		o := DefaultOptions()
		o.Net, o.Privacy, o.Out, o.Rounds, o.Dropout = "memory", privacy, t.TempDir(), 4, 0.2
		res, err := Run(context.Background(), o, nil)
		if err != nil {
			t.Fatalf("%s: %v", privacy, err)
		}
		return res
	}
	sealed, sa := run("sealed"), run("secagg")
	if len(sealed.Rounds) != len(sa.Rounds) {
		t.Fatalf("%d sealed rounds, %d secagg", len(sealed.Rounds), len(sa.Rounds))
	}
	for i, s := range sealed.Rounds {
		g := sa.Rounds[i]
		if s.Status != g.Status || s.Accepted != g.Accepted {
			t.Errorf("round %d: sealed %s with %d, secagg %s with %d", s.Round, s.Status, s.Accepted, g.Status, g.Accepted)
		}
		if math.Abs(s.Accuracy-g.Accuracy) > 2e-3 {
			t.Errorf("round %d: sealed accuracy %.4f, secagg %.4f", s.Round, s.Accuracy, g.Accuracy)
		}
	}
	if sa.Audit == nil || sa.Audit.Verdict != audit.VerdictVerified {
		t.Fatalf("secagg chain does not audit: %v", sa.Audit.Err())
	}
}
