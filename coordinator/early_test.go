package coordinator_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/seal"
	"github.com/prometheus/client_golang/prometheus"
)

// sealedUpdate stores an update file built from delta, sealed to the
// job's recipients as a participant seals it, and returns its signed
// submission.
func (f *fixture) sealedUpdate(p *peerT, r uint64, delta []float32, mutate func(*ledger.Submission)) *ledger.SignedSubmission {
	f.t.Helper()
	file := f.updateFile(delta)
	job := &f.srv.Job().Job
	sealed, err := seal.Seal(file, job.Recipients, seal.AAD(job.ID(), r, p.id()), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.store(p, r, sealed, file, mutate)
}

// TestEarlyFetch runs a sealed round in which five of the cohort submit,
// the last with a wrong update hash, then the deadline closes it: without
// early fetch; with it (the fold reads the four good updates from the files
// the coordinator wrote as they arrived, already checked, and the bad one's
// check fails early, so the fold fetches it and rejects it); with one file
// damaged before the fold (the fold fetches that update again); and with a
// budget for two updates (the fold fetches the other three); and with a
// restart before the deadline (the files are gone, the fold fetches all).
// Every run commits the same model and verdicts, and no file is left
// behind.
func TestEarlyFetch(t *testing.T) {
	hkey, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		c   *ledger.SignedCommitment
		reg *prometheus.Registry
	}
	run := func(budget uint64, damage, restart bool) result {
		t.Helper()
		dir := t.TempDir()
		f := newFixtureWith(t, dir, func(spec *ledger.JobSpec, _ []string) {
			spec.Privacy = "sealed"
			spec.Recipients = []ledger.Recipient{hkey.Recipient(coordinator.RecipientName)}
		})
		reg := prometheus.NewRegistry()
		f.cfg.HPKE, f.cfg.EarlyFetchBytes, f.cfg.Metrics = hkey, budget, reg
		if err := f.restart(true); err != nil {
			t.Fatal(err)
		}
		cohort := f.registerAndWait(f.peers[:7], 1)
		dim := f.global.Len()
		var size uint64
		for i, p := range cohort[:5] {
			d := make([]float32, dim)
			d[i%dim] = 0.25 * float32(i+1)
			d[(3*i+1)%dim] = -0.125
			var mutate func(*ledger.Submission)
			if i == 4 {
				mutate = func(s *ledger.Submission) { s.UpdateHash[0] ^= 1 }
			}
			s := f.sealedUpdate(p, 1, d, mutate)
			size = s.Sub.UpdateSize
			f.expect(p, s, "")
		}
		early := filepath.Join(dir, "early")
		if budget > 0 {
			want := min(4, int(budget/size))
			if err := coordinator.WaitEarlyDone(f.ctx, f.srv); err != nil {
				t.Fatal(err)
			}
			files, err := os.ReadDir(early)
			if err != nil || len(files) != want {
				t.Fatalf("%d files in %s (%v), want %d", len(files), early, err, want)
			}
			if damage {
				path := filepath.Join(early, files[0].Name())
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)/2] ^= 1
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		if restart {
			// A restart forgets the files: the fold fetches every update.
			reg = prometheus.NewRegistry()
			f.cfg.Metrics = reg
			if err := f.restart(true); err != nil {
				t.Fatal(err)
			}
			if files, err := os.ReadDir(early); err != nil || len(files) != 0 {
				t.Fatalf("after a restart: %d files in %s (%v), want none", len(files), early, err)
			}
		}
		f.clk.Advance(6 * time.Second) // the deadline closes the round
		c := <-f.heads
		if c.C.Status != ledger.StatusOK || len(c.C.Submissions) != 5 {
			t.Fatalf("round 1: %s with %d submissions, want ok with 5", c.C.Status, len(c.C.Submissions))
		}
		for _, r := range c.C.Submissions {
			want := ledger.Reason("")
			if r.Signed.Sub.Participant == cohort[4].id() {
				want = ledger.ReasonHash
			}
			if r.Reason != want || (want == "") != (r.Status == ledger.StatusAccepted) {
				t.Fatalf("submission of %s: %s %q, want reason %q", r.Signed.Sub.Participant, r.Status, r.Reason, want)
			}
		}
		if files, err := os.ReadDir(early); budget > 0 && (err != nil || len(files) != 0) {
			t.Fatalf("after the round: %d files left in %s (%v)", len(files), early, err)
		}
		return result{c, reg}
	}
	count := func(r result, what string) float64 {
		t.Helper()
		v, _ := metricValue(t, r.reg, "floe_early_fetch_total", "result", what)
		return v
	}
	base := run(0, false, false)
	if _, ok := metricValue(t, base.reg, "floe_early_fetch_total"); ok {
		t.Fatal("early fetches counted without early fetch")
	}
	for _, tc := range []struct {
		name                                    string
		budget                                  uint64
		damage, restart                         bool
		spilled, used, corrupt, skipped, failed float64
	}{
		{"all", 1 << 30, false, false, 4, 4, 0, 0, 1},
		{"damaged", 1 << 30, true, false, 4, 3, 1, 0, 1},
		{"budget", 0, false, false, 2, 2, 0, 3, 0},
		{"restart", 1 << 30, false, true, 0, 0, 0, 0, 0},
	} {
		budget := tc.budget
		if budget == 0 {
			budget = 2*base.c.C.Submissions[0].Signed.Sub.UpdateSize + 1
		}
		r := run(budget, tc.damage, tc.restart)
		if r.c.C.OutputModelHash != base.c.C.OutputModelHash {
			t.Fatalf("%s: the model differs from the fold's without early fetch", tc.name)
		}
		got := []float64{count(r, "spilled"), count(r, "used"), count(r, "corrupt"), count(r, "skipped"), count(r, "failed")}
		if want := []float64{tc.spilled, tc.used, tc.corrupt, tc.skipped, tc.failed}; !slices.Equal(got, want) {
			t.Fatalf("%s: spilled, used, corrupt, skipped, failed = %v, want %v", tc.name, got, want)
		}
	}
}
