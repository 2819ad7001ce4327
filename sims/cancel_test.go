package sims

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRunCancelledReports cancels a run after its second round: Run
// returns the rounds committed so far, audited, with context.Canceled.
func TestRunCancelledReports(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := smallOptions(t)
	o.Rounds = 50
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	res, err := Run(runCtx, o, func(r RoundStat) {
		if r.Round == 2 {
			stop()
		}
	})
	if !errors.Is(err, context.Canceled) || res == nil {
		t.Fatalf("a cancelled run returned %v, want its result and context.Canceled", err)
	}
	if n := len(res.Rounds); n < 2 || n >= o.Rounds {
		t.Fatalf("%d rounds reported, want 2 or a few more", n)
	}
	if res.Audit == nil || res.Audit.Err() != nil || len(res.Audit.Rounds) != len(res.Rounds) {
		t.Fatalf("audit %+v of %d rounds", res.Audit, len(res.Rounds))
	}
	if last := res.Rounds[len(res.Rounds)-1]; last.Head != res.Head {
		t.Fatalf("head %v is not the last round's %v", res.Head, last.Head)
	}
}
