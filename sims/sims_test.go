package sims

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/model"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-fl/floe/ledger"
)

// testLogger collects the run's logs and prints them if the test fails.
func testLogger(t *testing.T) *slog.Logger {
	var mu sync.Mutex
	var buf bytes.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			t.Logf("logs:\n%s", buf.String())
			mu.Unlock()
		}
	})
	return slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func smallOptions(t *testing.T) Options {
	o := DefaultOptions()
	o.Logger = testLogger(t)
	o.Net = "memory"
	o.Participants, o.Cohort, o.Rounds = 6, 4, 3
	o.Out = t.TempDir()
	return o
}

func TestMemorySimReproducible(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := smallOptions(t)
	o.Dropout = 0.3
	r1, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Rounds) != o.Rounds {
		t.Fatalf("%d rounds committed, want %d", len(r1.Rounds), o.Rounds)
	}
	// The second run reuses the first one's output directory.
	r2, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Head != r2.Head {
		t.Fatalf("same seed, different chain heads: %s vs %s", ledger.Hash(r1.Head), ledger.Hash(r2.Head))
	}
	o.Out, o.Seed = t.TempDir(), 2
	r3, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Head == r1.Head {
		t.Fatal("different seeds gave the same chain head")
	}
}

func TestTCPSimLearns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := DefaultOptions()
	o.Rounds = 5
	o.Out = t.TempDir()
	res, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.Rounds[0], res.Rounds[len(res.Rounds)-1]
	for _, r := range res.Rounds {
		if r.Status != ledger.StatusOK || r.Accepted != o.Cohort {
			t.Fatalf("round %d: status %s, %d accepted", r.Round, r.Status, r.Accepted)
		}
	}
	if !(last.Loss < first.Loss) {
		t.Fatalf("loss did not fall: round 1 %.4f, round %d %.4f", first.Loss, last.Round, last.Loss)
	}
	t.Logf("accuracy %.3f -> %.3f", first.Accuracy, last.Accuracy)
}

// TestTCPManyParticipants: 300 participants over loopback TCP register and
// run (the hosts' connection limits used to admit about 128, and the sim
// waited silently before round 1).
func TestTCPManyParticipants(t *testing.T) {
	if testing.Short() {
		t.Skip("300 libp2p hosts in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := DefaultOptions()
	o.Participants, o.Cohort, o.Rounds, o.Quorum = 300, 20, 2, 0
	o.Out = t.TempDir()
	res, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rounds {
		if r.Status != ledger.StatusOK || r.Accepted != o.Cohort {
			t.Fatalf("round %d: status %s, %d accepted", r.Round, r.Status, r.Accepted)
		}
	}
}

// TestRobustRuleResistsAttackers: with two of ten participants sending
// sign-flipped, scaled updates, FedAvg is dragged off while trimmed mean keeps learning.
func TestRobustRuleResistsAttackers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(rule string, params map[string]float64) float64 {
		o := DefaultOptions()
		o.Net, o.Rounds, o.Attackers, o.Privacy = "memory", 6, 2, "plain"
		o.Rule.Rule, o.Rule.Params = rule, params
		o.Out = t.TempDir()
		res, err := Run(ctx, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Rounds[len(res.Rounds)-1].Accuracy
	}
	avg := run("fedavg", nil)
	tm := run("trimmedmean", map[string]float64{"beta": 0.3})
	t.Logf("accuracy under attack: fedavg %.3f, trimmed mean %.3f", avg, tm)
	if !(tm > avg+0.1) || tm < 0.4 {
		t.Fatalf("trimmed mean %.3f does not beat fedavg %.3f under attack", tm, avg)
	}
}

// TestCrashesChangeNothing: a coordinator that crashes at its crash points
// (after closing a round, and after storing a commitment it never journaled)
// and restarts from its data directory makes the very same chain.
func TestCrashesChangeNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := smallOptions(t)
	o.Rounds = 5
	clean, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Out, o.Crashes = t.TempDir(), 4
	crashy, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(crashy.Crashes) != 4 {
		t.Fatalf("%d crashes happened, want 4: %v", len(crashy.Crashes), crashy.Crashes)
	}
	if crashy.Head != clean.Head {
		t.Fatalf("crashes changed the chain: %s vs %s (crashes %v)", ledger.Hash(crashy.Head), ledger.Hash(clean.Head), crashy.Crashes)
	}
	if err := crashy.Audit.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestDeadStorageNodes: with f of the storage nodes killed mid-job, rounds go
// on, and the chain still audits.
func TestDeadStorageNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := smallOptions(t)
	o.Nodes, o.DeadNodes, o.Rounds = 7, 2, 4
	res, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.DeadNodes) != 2 || len(res.Rounds) != 4 {
		t.Fatalf("dead nodes %v, %d rounds", res.DeadNodes, len(res.Rounds))
	}
	if err := res.Audit.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestRunLeavesNoGoroutines: every goroutine a run starts is joined before
// Run returns, also when the run stops midway: ctx cancelled, ctx past its
// deadline (an error: Run returns no result), coordinator crashes.
func TestRunLeavesNoGoroutines(t *testing.T) {
	for _, net := range []string{"memory", "tcp"} {
		t.Run(net+"/cancelled in round 2", func(t *testing.T) {
			base := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := smallOptions(t)
			o.Net, o.Rounds = net, 5
			res, err := Run(ctx, o, func(r RoundStat) {
				if r.Round == 1 {
					cancel()
				}
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run cancelled in round 2 returned %v (result %+v), want context.Canceled", err, res)
			}
			waitGoroutines(t, base)
		})
	}
	t.Run("deadline in round 2", func(t *testing.T) {
		base := runtime.NumGoroutine()
		ctx := &expiringCtx{Context: context.Background(), done: make(chan struct{})}
		o := smallOptions(t)
		o.Rounds = 5
		res, err := Run(ctx, o, func(r RoundStat) {
			if r.Round == 1 {
				ctx.expire()
			}
		})
		if !errors.Is(err, context.DeadlineExceeded) || res != nil {
			t.Fatalf("Run past its deadline in round 2 returned %v (result %+v), want context.DeadlineExceeded", err, res)
		}
		waitGoroutines(t, base)
	})
	t.Run("crashes", func(t *testing.T) {
		base := runtime.NumGoroutine()
		o := smallOptions(t)
		o.Rounds, o.Crashes = 4, 4
		if _, err := Run(context.Background(), o, nil); err != nil {
			t.Fatal(err)
		}
		waitGoroutines(t, base)
	})
}

// expiringCtx is a context whose deadline passes when expire is called.
type expiringCtx struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func (c *expiringCtx) expire() { c.once.Do(func() { close(c.done) }) }

func (c *expiringCtx) Done() <-chan struct{} { return c.done }

func (c *expiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// waitGoroutines waits until no more than base goroutines run, for a
// bounded time (a closed libp2p host's goroutines end soon after Close
// returns), and fails with every goroutine's stack if they do not.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	n := runtime.NumGoroutine()
	for ; n > base && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	if n > base {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines outlived Run by 10s (%d before it); stacks:\n%s", n-base, base, buf)
	}
}

// TestCrashPointsFire: with a plan that has both crash points, every
// planned crash happens, in its round and at its point (the crashing store
// really stops the coordinator there), and the chain is the crash-free one.
func TestCrashPointsFire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := smallOptions(t)
	o.Rounds, o.Crashes = 4, 4
	points := func() map[string]bool {
		m := map[string]bool{}
		for _, p := range crashPlan(o) {
			m[p] = true
		}
		return m
	}
	for !points()[crashClosed] || !points()[crashStored] {
		o.Seed++
	}
	var want []string
	plan := crashPlan(o)
	for r := uint64(1); r <= uint64(o.Rounds); r++ {
		if p, ok := plan[r]; ok {
			want = append(want, fmt.Sprintf("round %d at %s", r, p))
		}
	}
	crashy, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatalf("seed %d: %v", o.Seed, err)
	}
	if !slices.Equal(crashy.Crashes, want) {
		t.Fatalf("seed %d: crashes %q, want %q", o.Seed, crashy.Crashes, want)
	}
	o.Out, o.Crashes = t.TempDir(), 0
	clean, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if crashy.Head != clean.Head {
		t.Fatalf("seed %d: crashes %v changed the chain: %s vs %s", o.Seed, crashy.Crashes, ledger.Hash(crashy.Head), ledger.Hash(clean.Head))
	}
}

// TestInitialModelFile: a run whose job brings its initial model as a file
// stores it as version 0 byte for byte; a file of a model the built-in
// trainer does not know needs a trainer program.
func TestInitialModelFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := DefaultOptions()
	o.Net, o.Rounds, o.Out, o.NoAudit = "memory", 2, t.TempDir(), false
	a, err := model.ParseArch("logreg:60-10")
	if err != nil {
		t.Fatal(err)
	}
	file, err := model.MarshalSafetensors(a.Init(7), map[string]string{model.MetaArch: a.String()})
	if err != nil {
		t.Fatal(err)
	}
	o.InitialModel = file
	res, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Audit == nil || res.Audit.Err() != nil {
		t.Fatalf("audit: %v", res.Audit.Err())
	}
	nodes := restartNodes(t, o.Out, o.Nodes)
	get := func(ctx context.Context, id ledger.BlobID) ([]byte, error) { return nodes.client.Get(ctx, blob.ID(id)) }
	chain, err := ledger.Walk(ctx, get, res.Head)
	if err != nil {
		t.Fatal(err)
	}
	if chain.Job.Job.InitialModelHash != ledger.Sum(file) || chain.Job.Job.Arch != a.String() {
		t.Fatalf("version 0 is not the file (arch %s)", chain.Job.Job.Arch)
	}

	other := &model.Params{Tensors: []model.Tensor{{Name: "conv.weight", Shape: []int{2, 3}, Data: make([]float32, 6)}}}
	if o.InitialModel, err = model.MarshalSafetensors(other, nil); err != nil {
		t.Fatal(err)
	}
	o.Out = t.TempDir()
	if _, err := Run(ctx, o, nil); err == nil || !strings.Contains(err.Error(), "needs a trainer program") {
		t.Fatalf("a file model without a trainer: %v", err)
	}
}
