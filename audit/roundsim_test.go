package audit_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/floe-fl/floe/audit"
	"github.com/floe-fl/floe/blob/walrus"
	"github.com/floe-fl/floe/blob/walrus/walrustest"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/round/roundsim"
)

// Chains built by the round-machine simulator, without a network: the
// audit replays them through the same rules and verifies them, and names
// the round of any receipt recorded other than the rules give it.

// must fails t when a simulator step errs or the machine refused it.
func must(t *testing.T) func([]string, error) {
	return func(lines []string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "refused") {
				t.Fatal(l)
			}
		}
	}
}

func runAudit(t *testing.T, sim *roundsim.Sim, head ledger.BlobID) *audit.Report {
	t.Helper()
	rep, err := audit.Run(context.Background(), audit.Config{Get: sim.Store().Get, Head: head})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func verified(t *testing.T, rep *audit.Report) {
	t.Helper()
	if rep.Verdict != audit.VerdictVerified {
		var b strings.Builder
		rep.WriteText(&b)
		t.Fatalf("verdict %s: %v\n%s", rep.Verdict, rep.Err(), b.String())
	}
}

func u64(n uint64) *uint64 { return &n }

// newSim starts a simulated job of cfg with the named participants
// registered (10 examples each).
func newSim(t *testing.T, cfg roundsim.Config, names ...string) *roundsim.Sim {
	t.Helper()
	sim, err := roundsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range names {
		sim.Register(p, 10)
	}
	return sim
}

// receiptsChain runs two rounds with every receipt-time rejection, fold-time
// rejections, a late submission carried into round 2, and a crash between
// round 2's fold and its commit.
func receiptsChain(t *testing.T) *roundsim.Sim {
	cfg := roundsim.Default()
	cfg.MinParticipants = 4
	sim := newSim(t, cfg, "p1", "p2", "p3", "p4", "p5")
	must(t)(sim.Submit("p1", roundsim.Submission{Round: u64(1)})) // before the round opens
	sim.Tick(0)
	cohort := sim.Machine().Cohort()
	a, b, c := sim.Name(cohort[0]), sim.Name(cohort[1]), sim.Name(cohort[2])
	outsider := ""
	for _, p := range []string{"p1", "p2", "p3", "p4", "p5"} {
		if !sim.Machine().InCohort(sim.ID(p)) {
			outsider = p
		}
	}
	for _, o := range []struct {
		who string
		sub roundsim.Submission
	}{
		{a, roundsim.Submission{BadCert: true}}, // the case: a bad certificate, then the valid one
		{a, roundsim.Submission{}},
		{a, roundsim.Submission{}}, // duplicate
		{b, roundsim.Submission{BadSig: true}},
		{b, roundsim.Submission{WrongJob: true}},
		{b, roundsim.Submission{Round: u64(0)}},
		{b, roundsim.Submission{Round: u64(2)}},
		{b, roundsim.Submission{From: c}},
		{b, roundsim.Submission{Examples: u64(0)}},
		{b, roundsim.Submission{Examples: u64(1<<32 + 1)}},
		{outsider, roundsim.Submission{}},
		{"stranger", roundsim.Submission{}},
		{b, roundsim.Submission{Update: roundsim.UpdateNaN}},
		{c, roundsim.Submission{}},
	} {
		must(t)(sim.Submit(o.who, o.sub))
	}
	sim.Reject("stranger", ledger.ReasonMalformed)
	sim.Tick(cfg.DeadlineMillis)
	must(t)(sim.Submit(a, roundsim.Submission{Round: u64(1)})) // late: into round 2's record
	must(t)(sim.Fold())
	must(t)(sim.Commit())
	if err := sim.Round(map[string]string{a: roundsim.UpdateHash}); err != nil {
		t.Fatal(err)
	}
	return sim
}

func TestAuditSimulatedReceipts(t *testing.T) {
	sim := receiptsChain(t)
	verified(t, runAudit(t, sim, sim.Head()))
	c := sim.Last()
	if c.Round != 2 || c.Opened != 1 {
		t.Fatalf("round %d opened after %d receipts, want round 2 with the late one before it opened", c.Round, c.Opened)
	}
}

// TestAuditSimulatedCrash: a machine rebuilt from the journal between the
// fold and the commit, and between two submissions, commits the same
// chain as one that never crashed, and it verifies.
func TestAuditSimulatedCrash(t *testing.T) {
	run := func(crash bool) ledger.BlobID {
		sim := newSim(t, roundsim.Default(), "p1", "p2", "p3")
		sim.Tick(0)
		must(t)(sim.Submit("p1", roundsim.Submission{}))
		if crash {
			must(t)(sim.Crash())
		}
		must(t)(sim.Submit("p2", roundsim.Submission{}))
		sim.Tick(30000)
		if crash {
			must(t)(sim.Fold()) // folded, then lost
			must(t)(sim.Crash())
		}
		must(t)(sim.Fold())
		must(t)(sim.Commit())
		if err := sim.Round(nil); err != nil {
			t.Fatal(err)
		}
		verified(t, runAudit(t, sim, sim.Head()))
		return sim.Head()
	}
	if a, b := run(false), run(true); a != b {
		t.Fatalf("a crash changed the chain: %x vs %x", a[:6], b[:6])
	}
}

// TestAuditSimulatedRejectionCap: past MaxRejectsRecorded rejections a
// round, the rest are counted, the record stays bounded, and it verifies.
func TestAuditSimulatedRejectionCap(t *testing.T) {
	sim := newSim(t, roundsim.Default(), "p1", "p2", "p3")
	sim.Tick(0)
	sim.Register("flood", 10) // registered after the round opened: not in its cohort
	extra := 40
	for i := 0; i < round.MaxRejectsRecorded+extra; i++ {
		sim.Reject("flood", ledger.ReasonMalformed)
	}
	for _, p := range []string{"p1", "p2", "p3"} {
		must(t)(sim.Submit(p, roundsim.Submission{}))
	}
	sim.Tick(0)
	must(t)(sim.Fold())
	must(t)(sim.Commit())
	c := sim.Last()
	if c.DroppedRejects != uint64(extra) || len(c.Submissions) != round.MaxRejectsRecorded+3 {
		t.Fatalf("%d records, %d dropped; want %d and %d", len(c.Submissions), c.DroppedRejects, round.MaxRejectsRecorded+3, extra)
	}
	verified(t, runAudit(t, sim, sim.Head()))
}

// TestAuditSimulatedReceiptLies re-signs the last round with each lie about
// its receipt log, and requires the audit to name the round and a receipt
// check (a rejection that does not hold, or an aggregated submission the
// rules would have rejected).
func TestAuditSimulatedReceiptLies(t *testing.T) {
	sim := receiptsChain(t)
	honest := *sim.Last()
	late := -1
	for i, r := range honest.Submissions {
		if r.Reason == ledger.ReasonLate {
			late = i
		}
	}
	if late < 0 || len(honest.Submissions) < 3 {
		t.Fatalf("round 2 lacks a late receipt or records: %+v", honest.Submissions)
	}
	for _, tc := range []struct {
		name string
		lie  func(c *ledger.Commitment)
	}{
		{"late receipt moved into the open round", func(c *ledger.Commitment) { c.Opened = 0 }},
		{"late receipt recorded as not open", func(c *ledger.Commitment) { c.Submissions[late].Reason = ledger.ReasonFuture }},
		{"more receipts before opening than recorded", func(c *ledger.Commitment) { c.Opened = 5 }},
		{"arrival positions swapped", func(c *ledger.Commitment) {
			c.Submissions[0].Arrival, c.Submissions[late].Arrival = c.Submissions[late].Arrival, c.Submissions[0].Arrival
		}},
		{"a receipt dropped from the record", func(c *ledger.Commitment) { c.Submissions = c.Submissions[:late] }},
		{"dropped rejections claimed", func(c *ledger.Commitment) { c.DroppedRejects = 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := honest
			c.Submissions = append([]ledger.SubmissionRecord(nil), honest.Submissions...)
			tc.lie(&c)
			head, err := sim.Forge(c)
			if err != nil {
				t.Fatal(err)
			}
			rep := runAudit(t, sim, head)
			if rep.Verdict != audit.VerdictFailed || rep.Failure.Round != 2 || (rep.Failure.Check != audit.CheckReceipt && rep.Failure.Check != audit.CheckSubmission) {
				t.Fatalf("verdict %s, failure %+v: want round 2's receipt or submission check to fail", rep.Verdict, rep.Failure)
			}
			t.Logf("%s: %v", tc.name, rep.Err())
		})
	}
}

// TestAuditSimulatedRuleFailure: a round whose rule cannot run on its valid
// updates (Krum f=1 with 4) is committed failed with the rule's reason, the
// next round goes on, and the audit replays the reason exactly.
func TestAuditSimulatedRuleFailure(t *testing.T) {
	cfg := roundsim.Default()
	cfg.CohortSize, cfg.MinParticipants, cfg.Rule = 5, 5, "krum(f=1)"
	sim := newSim(t, cfg, "p1", "p2", "p3", "p4", "p5")
	if err := sim.Round(map[string]string{"p5": roundsim.UpdateNaN}); err != nil {
		t.Fatal(err)
	}
	if c := sim.Last(); c.Status != ledger.StatusFailed || !strings.HasPrefix(c.Reason, round.RuleFailedPrefix) {
		t.Fatalf("round 1: %s %q, want failed by the rule", c.Status, c.Reason)
	}
	if err := sim.Round(nil); err != nil {
		t.Fatal(err)
	}
	if c := sim.Last(); c.Round != 2 || c.Status != ledger.StatusOK {
		t.Fatalf("round %d %s, want round 2 ok", c.Round, c.Status)
	}
	verified(t, runAudit(t, sim, sim.Head()))

	// A coordinator that claims the rule failed when it did not is caught.
	lie := *sim.Last()
	lie.Status, lie.Reason, lie.OutputModel, lie.OutputModelHash = ledger.StatusFailed, round.RuleFailedPrefix+"made up", lie.InputModel, lie.InputModelHash
	lie.Submissions = append([]ledger.SubmissionRecord(nil), lie.Submissions...)
	for i := range lie.Submissions {
		lie.Submissions[i].Share = 0
	}
	lie.NoiseSeed, lie.StateHash = ledger.Hash{}, ledger.Hash{}
	head, err := sim.Forge(lie)
	if err != nil {
		t.Fatal(err)
	}
	if rep := runAudit(t, sim, head); rep.Verdict != audit.VerdictFailed || rep.Failure.Round != 2 {
		t.Fatalf("a made-up rule failure: %s %+v", rep.Verdict, rep.Failure)
	}
}

// TestAuditSimulatedJunkSubmissions: a registered peer's submissions with
// a megabyte of junk in the signature and the certificate cost the chain a
// bounded record each (the claimed fields kept to one byte past their
// bounds, which keeps the verdict), junk past the record cap is only
// counted, the commitment stays far below the record limit, and the audit
// replays every verdict from the compacted records.
func TestAuditSimulatedJunkSubmissions(t *testing.T) {
	sim := newSim(t, roundsim.Default(), "p1", "p2", "p3")
	sim.Tick(0)
	junk := make([]byte, 1<<20)
	for i := 0; i < 20; i++ {
		must(t)(sim.Submit("p1", roundsim.Submission{Junk: junk}))
	}
	for _, p := range []string{"p1", "p2", "p3"} {
		must(t)(sim.Submit(p, roundsim.Submission{}))
	}
	sim.Tick(0)
	must(t)(sim.Fold())
	must(t)(sim.Commit())
	rec, err := sim.Store().Get(context.Background(), sim.Head())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) > 64<<10 {
		t.Fatalf("a commitment with 20 junk submissions of 2 MiB each is %d bytes", len(rec))
	}
	for _, r := range sim.Last().Submissions {
		if r.Status == ledger.StatusRejected && (r.Reason != ledger.ReasonBadSig || len(r.Signed.Sig) != ledger.SignatureSize+1) {
			t.Fatalf("junk recorded as %q with a %d-byte signature", r.Reason, len(r.Signed.Sig))
		}
	}
	verified(t, runAudit(t, sim, sim.Head()))
}

// TestAuditSimulatedWalrus: a job whose blobs are on the Walrus network (an
// in-process publisher and aggregator) audits like one on floe's own
// committee, and bytes an aggregator alters are caught at their round.
func TestAuditSimulatedWalrus(t *testing.T) {
	srv := walrustest.New()
	t.Cleanup(srv.Close)
	st, err := walrus.New(srv.URL, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := roundsim.Default()
	cfg.Store, cfg.Walrus = ledger.StoreWalrus, st
	sim, err := roundsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sim.Job().Job.Committee) != 0 || sim.Job().Job.Store != ledger.StoreWalrus {
		t.Fatalf("job store %q, committee %v", sim.Job().Job.Store, sim.Job().Job.Committee)
	}
	for _, p := range []string{"p1", "p2", "p3"} {
		sim.Register(p, 10)
	}
	for r := 0; r < 2; r++ {
		if err := sim.Round(nil); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh reader (another auditor) reads the chain from the aggregator.
	reader, err := walrus.New(srv.URL, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Run(context.Background(), audit.Config{Get: reader.Get, Head: sim.Head()})
	if err != nil {
		t.Fatal(err)
	}
	verified(t, rep)

	// The aggregator alters round 2's output model.
	if !srv.Corrupt(sim.Last().OutputModel) {
		t.Fatal("the test server does not hold round 2's model")
	}
	rep, err = audit.Run(context.Background(), audit.Config{Get: reader.Get, Head: sim.Head()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != audit.VerdictFailed || rep.Failure.Round != 2 || rep.Failure.Check != audit.CheckModel {
		t.Fatalf("an altered model: %s %+v", rep.Verdict, rep.Failure)
	}
}

// TestAuditSimulatedParticipantMetrics: the metrics participants report are
// signed with their submissions, their example-weighted means are in the
// commitment, the audit recomputes them, and malformed or oversized
// metrics are rejected at receipt (bounded records).
func TestAuditSimulatedParticipantMetrics(t *testing.T) {
	sim := newSim(t, roundsim.Default(), "p1", "p2", "p3")
	sim.Tick(0)
	examples := map[string]uint64{"p1": 10, "p2": 30, "p3": 60}
	loss := map[string]string{"p1": "1", "p2": "0.5", "p3": "0.25"}
	bad := []ledger.Metric{{Name: "loss", Value: "0.50"}} // not canonical
	huge := make([]ledger.Metric, 20)
	for i := range huge {
		huge[i] = ledger.Metric{Name: fmt.Sprintf("m%02d", i), Value: "1"}
	}
	if lines, _ := sim.Submit("p1", roundsim.Submission{Metrics: bad}); !slices.Contains(lines, "reply p1 rejected: malformed metrics") {
		t.Fatalf("non-canonical metrics: %q", lines)
	}
	if lines, _ := sim.Submit("p1", roundsim.Submission{Metrics: huge}); !slices.Contains(lines, "reply p1 rejected: malformed metrics") {
		t.Fatalf("20 metrics: %q", lines)
	}
	for _, p := range []string{"p1", "p2", "p3"} {
		n := examples[p]
		must(t)(sim.Submit(p, roundsim.Submission{Examples: &n, Metrics: []ledger.Metric{{Name: "acc", Value: "0.9"}, {Name: "loss", Value: loss[p]}}}))
	}
	sim.Tick(0)
	must(t)(sim.Fold())
	must(t)(sim.Commit())
	// (10*1 + 30*0.5 + 60*0.25) / 100 = 0.4
	want := []ledger.Metric{{Name: "acc", Value: "0.9"}, {Name: "loss", Value: "0.4"}}
	if got := sim.Last().ParticipantMetrics; !slices.Equal(got, want) {
		t.Fatalf("participant metrics %v, want %v", got, want)
	}
	verified(t, runAudit(t, sim, sim.Head()))

	lie := *sim.Last()
	lie.ParticipantMetrics = []ledger.Metric{{Name: "acc", Value: "0.99"}, {Name: "loss", Value: "0.1"}}
	head, err := sim.Forge(lie)
	if err != nil {
		t.Fatal(err)
	}
	if rep := runAudit(t, sim, head); rep.Verdict != audit.VerdictFailed || rep.Failure.Round != 1 {
		t.Fatalf("made-up participant metrics: %s %+v", rep.Verdict, rep.Failure)
	}
}
