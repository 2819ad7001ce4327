package audit_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/floe-fl/floe/audit"
	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/round/roundsim"
)

// Secagg chains built by the simulator: the audit replays every protocol
// step through the round machine with no key of its own, recovers the
// secrets from the signed reveals, unmasks the sum, and names the round of
// any message, masked input or secret the record lies about.

// newSecAggSim starts a secagg job of cohort n (all registered, named
// m0..), quorum 3, over rounds rounds.
func newSecAggSim(t *testing.T, n int, rounds uint64) *roundsim.Sim {
	t.Helper()
	cfg := roundsim.Default()
	cfg.CohortSize, cfg.MinParticipants, cfg.Quorum, cfg.Rounds = uint64(n), uint64(n), 3, rounds
	cfg.NormBound = ""
	cfg.SecAgg = roundsim.DefaultSecAgg()
	names := make([]string, n)
	for i := range names {
		names[i] = "m" + string(rune('0'+i))
	}
	return newSim(t, cfg, names...)
}

// secaggRound runs a whole secagg round with drop and requires status.
func secaggRound(t *testing.T, sim *roundsim.Sim, drop map[string]round.SAStep, status ledger.Status) {
	t.Helper()
	if err := sim.SecAggRound(drop); err != nil {
		t.Fatal(err)
	}
	c := sim.Last()
	if c == nil || c.SecAgg == nil || c.Status != status {
		t.Fatalf("round %d: %s %q, want a secagg round %s", c.Round, c.Status, c.Reason, status)
	}
}

// checked requires every round's row to name the secagg check as held.
func checked(t *testing.T, rep *audit.Report) {
	t.Helper()
	for _, row := range rep.Rounds {
		if !slices.Contains(row.Checked, audit.CheckSecAgg) {
			t.Errorf("round %d: checks %v do not include %s", row.Round, row.Checked, audit.CheckSecAgg)
		}
	}
}

// TestAuditSecAggChain: three secagg rounds with members dropping at every
// step verify, each replayed and unmasked by the auditor.
func TestAuditSecAggChain(t *testing.T) {
	sim := newSecAggSim(t, 7, 3)
	secaggRound(t, sim, map[string]round.SAStep{"m1": round.SAKeys, "m3": round.SASurvivors}, ledger.StatusOK)
	secaggRound(t, sim, map[string]round.SAStep{"m2": round.SAMasked, "m4": round.SAReveal}, ledger.StatusOK)
	secaggRound(t, sim, map[string]round.SAStep{"m0": round.SAShares, "m5": round.SAReveal}, ledger.StatusOK)
	if c := sim.Last(); len(c.SecAgg.Secrets) == 0 || len(c.SecAgg.Reveals) == 0 {
		t.Fatalf("round 3 recovered no secrets: %+v", c.SecAgg)
	}
	rep := runAudit(t, sim, sim.Head())
	verified(t, rep)
	checked(t, rep)
}

// TestAuditSecAggFailedRound: a round that fails below the threshold (too
// few masked inputs: nobody reveals) verifies, and so does the next one.
func TestAuditSecAggFailedRound(t *testing.T) {
	sim := newSecAggSim(t, 5, 2)
	secaggRound(t, sim, map[string]round.SAStep{"m0": round.SAMasked, "m1": round.SAMasked, "m2": round.SAMasked}, ledger.StatusFailed)
	if c := sim.Last(); !strings.HasPrefix(c.Reason, "secagg: ") || len(c.SecAgg.Reveals) != 0 {
		t.Fatalf("round 1: %q with %d reveals", c.Reason, len(c.SecAgg.Reveals))
	}
	secaggRound(t, sim, nil, ledger.StatusOK)
	rep := runAudit(t, sim, sim.Head())
	verified(t, rep)
	checked(t, rep)
}

// excludedChain runs one secagg round of 7 with a member excluded at the
// shares step (malformed shares) that then sends a masked input, a masked
// input sent at the keys step (not expected at this step), one the
// coordinator refused unfetched (masked input not as signed), and one
// sent after the masked step ended (late).
func excludedChain(t *testing.T) *roundsim.Sim {
	sim := newSecAggSim(t, 7, 1)
	good := []string{"m0", "m1", "m3", "m4", "m5"}
	sim.Tick(0)
	must(t)(sim.Submit("m4", roundsim.Submission{})) // at the keys step
	for _, n := range []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6"} {
		must(t)(sim.SAKeys(n))
	}
	sim.Tick(0)
	must(t)(sim.SAShares("m2", func(sh *ledger.SignedShares) { sh.Envelopes = sh.Envelopes[:len(sh.Envelopes)-1] }))
	for _, n := range append(good, "m6") {
		must(t)(sim.SAShares(n, nil))
	}
	sim.Tick(0)
	// The coordinator could not fetch m1's first masked input as signed;
	// m6 shared, then sends nothing in time.
	sim.Reject("m1", ledger.ReasonMaskedInput)
	for _, n := range good {
		must(t)(sim.SAMasked(n, nil))
	}
	must(t)(sim.Submit("m2", roundsim.Submission{})) // excluded
	if w, ok := sim.Machine().WakeMillis(); ok && w > sim.Now() {
		sim.Tick(w - sim.Now())
	}
	must(t)(sim.Submit("m6", roundsim.Submission{})) // late
	for _, step := range []func(string) ([]string, error){
		sim.SASign, func(n string) ([]string, error) { return sim.SAReveal(n, nil) },
	} {
		for _, n := range good {
			must(t)(step(n))
		}
		sim.Tick(0)
	}
	must(t)(sim.Fold())
	must(t)(sim.Commit())
	c := sim.Last()
	if c.Status != ledger.StatusOK || len(c.SecAgg.Excluded) != 1 {
		t.Fatalf("round 1: %s %q, %d exclusions", c.Status, c.Reason, len(c.SecAgg.Excluded))
	}
	var reasons []ledger.Reason
	for _, r := range c.Submissions {
		if r.Status == ledger.StatusRejected {
			reasons = append(reasons, r.Reason)
		}
	}
	for _, want := range []ledger.Reason{ledger.ReasonSecAggStep, ledger.ReasonLate, ledger.ReasonSecAggExcluded, ledger.ReasonMaskedInput} {
		if !slices.Contains(reasons, want) {
			t.Fatalf("round 1 rejections %q lack %q", reasons, want)
		}
	}
	return sim
}

// TestAuditSecAggExclusions: exclusions and submissions refused for their
// step replay as the coordinator's word, and the report says so; a
// refused submission whose signature does not hold is caught whatever
// step it claims to have come at.
func TestAuditSecAggExclusions(t *testing.T) {
	sim := excludedChain(t)
	rep := runAudit(t, sim, sim.Head())
	verified(t, rep)
	checked(t, rep)
	notes := strings.Join(rep.Rounds[0].Notes, "\n")
	for _, want := range []string{"secagg exclusions", "coordinator's word"} {
		if !strings.Contains(notes, want) {
			t.Errorf("round notes %q do not say %q", notes, want)
		}
	}
	for _, reason := range []ledger.Reason{ledger.ReasonSecAggStep, ledger.ReasonLate} {
		c := clone(t, sim.Last())
		for i := range c.Submissions {
			if c.Submissions[i].Reason == reason {
				c.Submissions[i].Signed.Sig[0] ^= 1
			}
		}
		expectFail(t, sim, c, 1, audit.CheckReceipt)
	}
	c := clone(t, sim.Last())
	c.SecAgg.Excluded[0].Reason = ledger.ReasonSecAggStep
	expectFail(t, sim, c, 1, audit.CheckSecAgg)
}

// clone returns a deep copy of c, to lie about.
func clone(t *testing.T, c *ledger.Commitment) ledger.Commitment {
	t.Helper()
	b, err := codec.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out ledger.Commitment
	if err := codec.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// expectFail forges c as the head and requires the audit to fail at
// round r (and check, if not empty).
func expectFail(t *testing.T, sim *roundsim.Sim, c ledger.Commitment, r uint64, check string) {
	t.Helper()
	head, err := sim.Forge(c)
	if err != nil {
		t.Fatal(err)
	}
	rep := runAudit(t, sim, head)
	if rep.Verdict != audit.VerdictFailed || rep.Failure.Round != r || (check != "" && rep.Failure.Check != check) {
		t.Fatalf("verdict %s, failure %+v: want round %d's %s check to fail", rep.Verdict, rep.Failure, r, check)
	}
	t.Log(rep.Failure)
}

// TestAuditSecAggLies re-signs round 2 of a clean secagg chain with each
// lie about its protocol, and requires the audit to name round 2.
func TestAuditSecAggLies(t *testing.T) {
	sim := newSecAggSim(t, 5, 2)
	secaggRound(t, sim, map[string]round.SAStep{"m1": round.SAKeys}, ledger.StatusOK)
	secaggRound(t, sim, map[string]round.SAStep{"m2": round.SAMasked}, ledger.StatusOK)
	verified(t, runAudit(t, sim, sim.Head()))
	honest := sim.Last()
	if len(honest.SecAgg.Survivors) != 4 || len(honest.SecAgg.Reveals) != 4 {
		t.Fatalf("round 2: %d survivors, %d reveals", len(honest.SecAgg.Survivors), len(honest.SecAgg.Reveals))
	}
	// The aggregated submissions come first: the first is a survivor's.
	if honest.Submissions[0].Status != ledger.StatusAccepted {
		t.Fatalf("round 2's first submission record is %s", honest.Submissions[0].Status)
	}
	other, _, err := sim.Store().Put(context.Background(), make([]byte, sim.Job().Job.MaxUpdateBytes), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		check string
		lie   func(c *ledger.Commitment)
	}{
		{"masked input replaced", audit.CheckSubmission, func(c *ledger.Commitment) {
			s := &c.Submissions[0].Signed.Sub
			s.Blob, s.UpdateHash = other, ledger.Sum(make([]byte, sim.Job().Job.MaxUpdateBytes))
		}},
		{"revealed share altered", audit.CheckSecAgg, func(c *ledger.Commitment) {
			sh := c.SecAgg.Reveals[1].Rev.Shares[0]
			sh[len(sh)-1] ^= 1
		}},
		{"recovered secret altered", audit.CheckSecAgg, func(c *ledger.Commitment) { c.SecAgg.Secrets[0].Secret[0] ^= 1 }},
		{"survivor removed", audit.CheckSecAgg, func(c *ledger.Commitment) { c.SecAgg.Survivors = c.SecAgg.Survivors[1:] }},
		{"survivor added", audit.CheckSecAgg, func(c *ledger.Commitment) {
			c.SecAgg.Survivors = append(c.SecAgg.Survivors, sim.ID("m2"))
			slices.Sort(c.SecAgg.Survivors)
		}},
		{"survivor and its masked input removed", audit.CheckSecAgg, func(c *ledger.Commitment) {
			p := c.Submissions[0].Signed.Sub.Participant
			c.Submissions = c.Submissions[1:]
			c.SecAgg.Survivors = slices.DeleteFunc(c.SecAgg.Survivors, func(s string) bool { return s == p })
		}},
		{"key advert swapped", audit.CheckSecAgg, func(c *ledger.Commitment) {
			c.SecAgg.Keys[0].Adv.MaskKey = c.SecAgg.Keys[1].Adv.MaskKey
		}},
		{"key adverts reordered", audit.CheckSecAgg, func(c *ledger.Commitment) {
			c.SecAgg.Keys[0], c.SecAgg.Keys[1] = c.SecAgg.Keys[1], c.SecAgg.Keys[0]
		}},
		{"share header altered", audit.CheckSecAgg, func(c *ledger.Commitment) { c.SecAgg.Shares[0].Hdr.Count++ }},
		{"revealer excluded", audit.CheckSecAgg, func(c *ledger.Commitment) {
			p := c.SecAgg.Reveals[0].Rev.Participant
			c.SecAgg.Excluded = append(c.SecAgg.Excluded, ledger.SecAggExclusion{Participant: p, Step: "reveal", Reason: ledger.ReasonBadSig})
		}},
		{"secagg record dropped", audit.CheckSecAgg, func(c *ledger.Commitment) { c.SecAgg = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clone(t, honest)
			tc.lie(&c)
			expectFail(t, sim, c, 2, tc.check)
		})
	}

	// A storage node serves other bytes for a signed masked input: the
	// auditor's unmasking rejects it and the round does not replay.
	victim := honest.Submissions[0].Signed.Sub.Blob
	get := func(ctx context.Context, id ledger.BlobID) ([]byte, error) {
		b, err := sim.Store().Get(ctx, id)
		if err == nil && id == victim {
			b = slices.Clone(b)
			b[0] ^= 1
		}
		return b, err
	}
	rep, err := audit.Run(context.Background(), audit.Config{Get: get, Head: sim.Head()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != audit.VerdictFailed || rep.Failure.Round != 2 || rep.Failure.Check != audit.CheckReplay {
		t.Fatalf("altered masked input bytes: %s %+v", rep.Verdict, rep.Failure)
	}
	t.Log(rep.Failure)
}
