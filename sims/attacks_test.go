package sims

import (
	"context"
	"testing"
	"time"
)

// TestLocalStepsFullParticipation runs Fang et al.'s training setting: every
// participant in every round (cohort = participants), one local SGD step of
// 32 examples instead of an epoch.
func TestLocalStepsFullParticipation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := smallOptions(t)
	o.Participants, o.Cohort, o.LocalSteps, o.Batch = 6, 6, 1, 32
	res, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rounds {
		if r.Cohort != 6 || r.Accepted != 6 {
			t.Fatalf("round %d: cohort %d, accepted %d, want 6 and 6", r.Round, r.Cohort, r.Accepted)
		}
	}
	if err := res.Audit.Err(); err != nil {
		t.Fatal(err)
	}
	o.LocalSteps, o.Out = 0, t.TempDir()
	epochs, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if epochs.Head == res.Head {
		t.Fatal("one local step and one epoch made the same chain")
	}
}
