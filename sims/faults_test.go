package sims

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/ledger"
)

// requireChecks fails t unless every checker passed (the clean run's
// check only when want says so).
func requireChecks(t *testing.T, res *Result, want ...string) {
	t.Helper()
	for _, c := range res.Checks {
		t.Log(c)
	}
	for _, name := range want {
		i := slices.IndexFunc(res.Checks, func(c Check) bool { return c.Name == name })
		if i < 0 || res.Checks[i].Status != CheckPass {
			t.Errorf("checker %s did not pass: %v", name, res.Checks)
		}
	}
	if bad := res.FailedChecks(); len(bad) > 0 {
		t.Errorf("failed checks: %v", bad)
	}
}

// faultsScenario loads examples/scenarios/faults.yaml.
func faultsScenario(t *testing.T) Scenario {
	t.Helper()
	s, err := LoadScenario(filepath.Join("..", "examples", "scenarios", "faults.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFaultsScenario runs examples/scenarios/faults.yaml (every kind but
// the secagg steps, on the memory network) and requires every checker to
// pass, the clean run's included; the faults must all have struck.
func TestFaultsScenario(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o, err := faultsScenario(t).Options()
	if err != nil {
		t.Fatal(err)
	}
	o.Out, o.Logger = t.TempDir(), testLogger(t)
	res, err := RunWithClean(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rounds) != o.Rounds || len(res.Crashes) != 2 {
		t.Fatalf("%d rounds, crashes %v", len(res.Rounds), res.Crashes)
	}
	requireChecks(t, res, CheckAudit, CheckAggregate, CheckAcknowledged, CheckClean)
	log := strings.Join(res.Faults, "\n")
	for _, want := range []string{"round 2: killed storage nodes [6]", "round 2: storage node 1 serves corrupted slivers", "round 3: storage node 0 wiped and repaired", "round 3: partition: [participant-5] cut off", "round 4: partition of [participant-5] healed"} {
		if !strings.Contains(log, want) {
			t.Errorf("faults %q lack %q", res.Faults, want)
		}
	}
	if res.Clean == nil || res.Clean.Rounds != o.Rounds {
		t.Fatalf("clean run %+v", res.Clean)
	}
	// Node 1 really holds corrupted slivers, and every blob still reads.
	files, _ := filepath.Glob(filepath.Join(o.Out, "nodes", "1", "data", "slivers", "*"))
	if len(files) == 0 {
		t.Fatal("corrupt node 1 holds no slivers")
	}
	// Late stragglers and partitioned members show as rounds short of
	// their cohort: some round accepted fewer than all.
	short := false
	for _, r := range res.Rounds {
		short = short || r.Accepted < r.Cohort
	}
	if !short {
		t.Errorf("no round lost a member: %+v", res.Rounds)
	}
}

// TestFaultsLossDuplicateReplay: runs with heavy message loss and
// duplication replay bit for bit, three at once. A resubmission after a
// lost answer and a duplicate submission used to land before or after
// their round closed as the other members' timing had it, and the record
// with them: six runs of this scenario gave six chain heads. They are now
// held until the round's commitment is stored.
func TestFaultsLossDuplicateReplay(t *testing.T) {
	sc, err := ParseScenario([]byte("seed: 3\nnet: memory\ndataset: synthetic\nparticipants: 6\ncohort: 6\nquorum: 3\nrounds: 2\nnodes: 4\n" +
		"faults: [{kind: loss, p: 0.1}, {kind: duplicate, p: 0.5}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	heads := make([]ledger.BlobID, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range heads {
		o, err := sc.Options()
		if err != nil {
			t.Fatal(err)
		}
		o.Out, o.Logger, o.NoClean = t.TempDir(), testLogger(t), true
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := RunWithClean(ctx, o, nil)
			if err == nil {
				heads[i] = res.Head
				if failed := res.FailedChecks(); len(failed) > 0 {
					err = fmt.Errorf("checks failed: %v", failed)
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if heads[0] != heads[1] || heads[0] != heads[2] {
		t.Fatalf("three runs of one seed gave chain heads %s, %s, %s", heads[0], heads[1], heads[2])
	}
}

// TestFaultsSecAggSteps: a dropout at each secure-aggregation step, and
// a late straggler (late at the masked-input step), one member a round:
// the rounds commit, and the aggregate checker compares the unmasked
// means with the deltas the members encoded. The first replays bit for
// bit.
func TestFaultsSecAggSteps(t *testing.T) {
	for k, f := range []Fault{
		{Kind: FaultDropout, P: 0.15, Phase: PhaseBeforeKeys},
		{Kind: FaultDropout, P: 0.15, Phase: PhaseAfterShares},
		{Kind: FaultDropout, P: 0.15, Phase: PhaseAfterMasked},
		{Kind: FaultDropout, P: 0.15, Phase: PhaseBeforeReveal},
		{Kind: FaultStraggler, P: 0.15, Latency: "uniform:40s,60s"},
	} {
		name := f.Phase
		if name == "" {
			name = f.Kind
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			o := smallOptions(t)
			o.Privacy, o.Participants, o.Cohort, o.Rounds = ledger.PrivacySecAgg, 7, 7, 2
			o.Faults = []Fault{f}
			// A seed that strikes one member in one round, and no more.
			strikes := func(o Options) (int, int) {
				p, total, most := newFaultPlan(&o), 0, 0
				for r := uint64(1); r <= uint64(o.Rounds); r++ {
					n := 0
					for i := range o.Participants {
						id := peerIDFor(o.Seed, i)
						if p.dropPhase(id, r) != "" || p.straggle(id, r) > 0 {
							n++
						}
					}
					total, most = total+n, max(most, n)
				}
				return total, most
			}
			for total, most := strikes(o); total == 0 || most > 1; total, most = strikes(o) {
				o.Seed++
			}
			res, err := Run(ctx, o, nil)
			if err != nil {
				t.Fatalf("seed %d: %v", o.Seed, err)
			}
			requireChecks(t, res, CheckAudit, CheckAggregate, CheckAcknowledged)
			if k > 0 {
				return
			}
			o.Out = t.TempDir()
			again, err := Run(ctx, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if again.Head != res.Head {
				t.Fatalf("seed %d: one scenario, two chain heads", o.Seed)
			}
		})
	}
}

// TestKillNodesBeyondF: killing more storage nodes than the committee
// tolerates stops the run with a clear error, not a hang: with fewer than
// k nodes left it names the model blob no one can read; with k or more
// left but fewer than n-f, the blob no one can store.
func TestKillNodesBeyondF(t *testing.T) {
	for _, tc := range []struct {
		count int
		want  string
	}{{3, "(the model round 2 starts from) is unreadable"}, {2, "cannot store blob"}} {
		t.Run(strconv.Itoa(tc.count)+" of 4", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			o := smallOptions(t)
			o.Nodes, o.NoClean = 4, true
			o.Faults = []Fault{{Kind: FaultKillNodes, Count: tc.count, Round: 2}}
			res, err := Run(ctx, o, nil)
			var nl *NodesLostError
			if !errors.As(err, &nl) || res != nil {
				t.Fatalf("Run with %d of 4 nodes killed: %v (result %v), want a NodesLostError", tc.count, err, res)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, nl.Blob.String()) || !strings.Contains(msg, "more than f = 1") || nl.Round != 2 {
				t.Fatalf("error %q (round %d), want it to name the blob, the round and f", msg, nl.Round)
			}
			t.Log(msg)
		})
	}
}

// TestFaultErrors: a bad faults list is an error naming the entry and the
// field.
func TestFaultErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"faults: [{kind: meteor}]\n", `faults[0]: unknown fault kind "meteor"`},
		{"faults: [{p: 0.1}]\n", "faults[0]: kind is required"},
		{"faults: [{kind: dropout, p: 0.1, count: 2}]\n", `faults[0] (dropout): unknown field "count" (dropout takes p, phase)`},
		{"faults: [{kind: kill_nodes, count: 1.5, round: 1}]\n", "faults[0] (kill_nodes): count: want an integer >= 0, got 1.5"},
		{"faults: [{kind: dropout, p: 0.1, phase: during}]\n", `unknown phase "during"`},
		{"faults: [{kind: dropout, p: 0.1, phase: after_masked}]\n", "phase after_masked is a secure-aggregation step"},
		{"faults: [{kind: dropout, p: 1}]\n", "faults[0] (dropout): p must be in (0, 1)"},
		{"faults: [{kind: straggler, p: 0.1, latency: soon}]\n", `latency "soon"`},
		{"faults: [{kind: straggler, p: 0.1, latency: \"uniform:5s,1s\"}]\n", `latency "uniform:5s,1s"`},
		{"faults: [{kind: kill_nodes, count: 5, round: 2}]\n", "count must be in [1, 4]"},
		{"faults: [{kind: kill_nodes, count: 1, round: 22}]\n", "round must be in [1, 21]"},
		{"faults: [{kind: wipe_node, node: 4, round: 2}]\n", "node must be in [0, 3]"},
		{"faults: [{kind: kill_nodes, count: 1, round: 2}, {kind: wipe_node, node: 3, round: 3}]\n", "faults[1] (wipe_node): storage node 3 is dead from round 2"},
		{"faults: [{kind: crash, round: 2, point: folded}]\n", `point must be closed or stored, got "folded"`},
		{"faults: [{kind: crash, round: 2, point: closed}, {kind: crash, round: 2, point: stored}]\n", "round 2 already has a crash"},
		{"faults: [{kind: loss, p: 0.1}]\n", "faults[0] (loss): needs --net memory"},
		{"net: memory\nfaults: [{kind: delay, p: 1, latency: 5s}]\n", "keep it under 1s"},
		{"net: memory\nfaults: [{kind: partition, peers: [coordinator], from_round: 2, heal_round: 3}]\n", "the coordinator cannot be cut off"},
		{"net: memory\nfaults: [{kind: partition, peers: [node-1], from_round: 1, heal_round: 3}]\n", "from_round must be in [2, 20]"},
		{"net: memory\nfaults: [{kind: partition, peers: [node-1], from_round: 3, heal_round: 3}]\n", "heal_round must be in [from_round+1, 21]"},
		{"net: memory\nfaults: [{kind: partition, peers: [participant-10], from_round: 2, heal_round: 3}]\n", "no such participant"},
		{"store: walrus\nfaults: [{kind: corrupt_node, node: 0, round: 2}]\n", "store walrus has none"},
		{"rounds: 2\ncrashes: 2\nfaults: [{kind: crash, round: 1, point: closed}]\n", "need more rounds"},
	} {
		_, err := ParseScenario([]byte(tc.src))
		var se *ScenarioError
		if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %q", tc.src, err, tc.want)
		}
	}
	// The faults round-trip through a resolved scenario.
	s := faultsScenario(t)
	b, err := s.YAML()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseScenario(b)
	if err != nil || !slices.EqualFunc(again.Faults, s.Faults, func(a, b Fault) bool {
		return a.Kind == b.Kind && a.P == b.P && a.Round == b.Round && a.Node == b.Node && slices.Equal(a.Peers, b.Peers) && a.Latency == b.Latency && a.Repair == b.Repair
	}) {
		t.Fatalf("faults do not round-trip (%v):\n%s", err, b)
	}
}

// TestReferenceRules: the checker's reference rules agree with package
// aggregate within the checker's tolerance on random updates, and a
// model one part in 1e4 off is outside it.
func TestReferenceRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, dim = 7, 50
	deltas := make([][]float32, n)
	weights := make([]uint64, n)
	for i := range deltas {
		deltas[i] = make([]float32, dim)
		for j := range deltas[i] {
			deltas[i][j] = float32(rng.NormFloat64())
		}
		weights[i] = uint64(1 + rng.IntN(100))
	}
	global := make([]float32, dim)
	for j := range global {
		global[j] = float32(rng.NormFloat64())
	}
	for _, spec := range []aggregate.Spec{{Rule: "fedavg"}, {Rule: "median"}, {Rule: "trimmedmean", Params: map[string]float64{"beta": 0.2}}} {
		agg, err := aggregate.New(spec, dim)
		if err != nil {
			t.Fatal(err)
		}
		for i := range deltas {
			// Participant order is the order of the IDs: p0 < p1 < ...
			if err := agg.Add(aggregate.Update{Participant: "p" + string(rune('0'+i)), NumExamples: weights[i], Delta: deltas[i]}); err != nil {
				t.Fatal(err)
			}
		}
		got := make([]float32, dim)
		if err := agg.Finish(global, got); err != nil {
			t.Fatal(err)
		}
		ref, err := refRule(spec, deltas, weights)
		if err != nil {
			t.Fatal(err)
		}
		for j := range got {
			want := float64(global[j]) + ref[j]
			tol := refAbsTol + refRelTol*math.Abs(want)
			if d := math.Abs(float64(got[j]) - want); d > tol {
				t.Fatalf("%s: parameter %d is %g, the reference %g", spec.Rule, j, got[j], want)
			}
			if off := want * (1 + 1e-4); math.Abs(off-want) <= tol && want != 0 {
				t.Fatalf("%s: a model 1e-4 off passes the tolerance", spec.Rule)
			}
		}
	}
}

// FuzzParseScenarioFaults: any scenario ParseScenario accepts is valid
// and comes back the same through its resolved YAML; none panics.
func FuzzParseScenarioFaults(f *testing.F) {
	f.Add([]byte("net: memory\nfaults: [{kind: dropout, p: 0.2, phase: after_submit}, {kind: partition, peers: [participant-1, node-2], from_round: 2, heal_round: 3}]\n"))
	f.Add([]byte("privacy: secagg\nfaults:\n  - {kind: dropout, p: 0.1, phase: before_reveal}\n  - {kind: straggler, p: 1, latency: \"uniform:1s,2s\"}\n"))
	f.Add([]byte("nodes: 7\nfaults: [{kind: kill_nodes, count: 3, round: 2}, {kind: wipe_node, node: 0, round: 3, repair: true}, {kind: corrupt_node, node: 1, round: 1}]\n"))
	f.Add([]byte("rounds: 3\ncrashes: 1\nfaults: [{kind: crash, round: 2, point: stored}]\nno_clean: true\n"))
	f.Add([]byte("net: memory\nfaults: [{kind: loss, p: 0.5}, {kind: duplicate, p: 0.01}, {kind: delay, p: 1, latency: \"exp:10ms\"}]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := ParseScenario(src)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed but invalid: %v", err)
		}
		// The resolved scenario is a fixed point: written, read and
		// written again, the same bytes.
		first, err := s.YAML()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseScenario(first)
		if err != nil {
			t.Fatalf("the resolved scenario does not parse: %v\n%s", err, first)
		}
		if second, err := again.YAML(); err != nil || !bytes.Equal(first, second) {
			t.Fatalf("round trip changed the scenario (%v):\n%s\n%s", err, first, second)
		}
	})
}
