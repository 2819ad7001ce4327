package sims

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floe-fl/floe/audit"
	"github.com/floe-fl/floe/blob/walrus"
	"github.com/floe-fl/floe/blob/walrus/walrustest"
	"github.com/floe-fl/floe/ledger"
)

// TestWalrusSim: a run whose job keeps its blobs on Walrus (the in-process
// test server) has no storage nodes and no committee, its chain audits from
// the aggregator alone, and coordinator crashes (injected through the
// wrapper around its Walrus client) change nothing in the chain.
func TestWalrusSim(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := smallOptions(t)
	o.Store = ledger.StoreWalrus
	o.Rounds = 4
	clean, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if clean.Audit == nil || clean.Audit.Verdict != audit.VerdictVerified {
		t.Fatalf("walrus run's audit: %+v", clean.Audit)
	}
	if len(clean.Rounds) != o.Rounds || clean.Committee.N() != 0 {
		t.Fatalf("%d rounds, committee of %d", len(clean.Rounds), clean.Committee.N())
	}
	for _, f := range []string{"nodes", "committee"} {
		if _, err := os.Stat(filepath.Join(o.Out, f)); !os.IsNotExist(err) {
			t.Fatalf("a walrus run left %s (%v)", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(o.Out, "head")); err != nil {
		t.Fatal(err)
	}
	o.Out, o.Crashes = t.TempDir(), 2
	crashy, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(crashy.Crashes) != 2 {
		t.Fatalf("%d crashes happened, want 2: %v", len(crashy.Crashes), crashy.Crashes)
	}
	if crashy.Head != clean.Head {
		t.Fatalf("crashes changed the walrus chain: %s vs %s (%v)", ledger.Hash(crashy.Head), ledger.Hash(clean.Head), crashy.Crashes)
	}
	if err := crashy.Audit.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestWalrusSimCorruptModel: a run on a Walrus server the test owns makes a
// chain whose job says store walrus; when the aggregator answers other bytes
// for round 2's model, the audit fails at round 2's model check.
func TestWalrusSimCorruptModel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := walrustest.New()
	t.Cleanup(srv.Close)
	o := smallOptions(t)
	o.Store, o.Publisher, o.Aggregator = ledger.StoreWalrus, srv.URL, srv.URL
	o.Privacy = "plain"
	res, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Audit.Err(); err != nil {
		t.Fatal(err)
	}
	reader, err := walrus.New(srv.URL, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ledger.Walk(ctx, reader.Get, res.Head)
	if err != nil {
		t.Fatal(err)
	}
	if j := chain.Job.Job; j.Store != ledger.StoreWalrus || len(j.Committee) != 0 {
		t.Fatalf("job store %q, committee %v", j.Store, j.Committee)
	}
	if len(chain.Commitments) != o.Rounds {
		t.Fatalf("%d commitments, want %d", len(chain.Commitments), o.Rounds)
	}
	if !srv.Corrupt(chain.Commitments[1].C.OutputModel) {
		t.Fatal("the Walrus server does not hold round 2's model")
	}
	rep, err := audit.Run(ctx, audit.Config{Get: reader.Get, Head: res.Head})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != audit.VerdictFailed || rep.Failure == nil || rep.Failure.Round != 2 || rep.Failure.Check != audit.CheckModel {
		t.Fatalf("an altered round 2 model: verdict %s, failure %+v", rep.Verdict, rep.Failure)
	}
}

// TestWalrusOptions: walrus mode refuses what needs storage nodes, and
// Walrus URLs without it.
func TestWalrusOptions(t *testing.T) {
	for _, c := range []struct {
		edit func(o *Options)
		want string
	}{
		{func(o *Options) { o.Store = ledger.StoreWalrus; o.DeadNodes = 1 }, "dead storage nodes"},
		{func(o *Options) { o.Store = "s3" }, "store"},
		{func(o *Options) { o.Publisher, o.Aggregator = "http://a", "http://a" }, "need --store walrus"},
		{func(o *Options) { o.Store, o.Publisher = ledger.StoreWalrus, "http://a" }, "both"},
		{func(o *Options) { o.Store, o.Publisher, o.Aggregator = ledger.StoreWalrus, "ftp://a", "http://a" }, "publisher URL"},
	} {
		o := DefaultOptions()
		o.Out = t.TempDir()
		c.edit(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %q", o, err, c.want)
		}
	}
	o := DefaultOptions()
	o.Out, o.Store, o.Nodes = t.TempDir(), ledger.StoreWalrus, 0
	if err := o.Validate(); err != nil {
		t.Fatalf("walrus mode without nodes: %v", err)
	}
}
