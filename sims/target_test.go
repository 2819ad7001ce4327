package sims

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestRoundsToTarget(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		name   string
		acc    []float64
		target float64
		want   float64
		ok     bool
	}{
		{"empty", nil, 0.97, 0, false},
		{"never", []float64{0.5, 0.9, 0.969}, 0.97, 0, false},
		{"first round", []float64{0.98, 0.99}, 0.97, 1, true},
		{"exactly at a round", []float64{0.9, 0.95, 0.97}, 0.97, 3, true},
		{"interpolated", []float64{0.95, 0.96, 0.975}, 0.97, 2 + 0.01/0.015, true},
		{"halfway", []float64{0.8, 0.9, 1.0}, 0.95, 2.5, true},
		// Best so far: the dip at round 3 keeps b(3) = 0.96, so round 4's
		// 0.98 crosses from 0.96.
		{"best so far across a dip", []float64{0.9, 0.96, 0.5, 0.98}, 0.97, 3.5, true},
		// A later, lower peak does not count: b crosses at round 2.
		{"first crossing", []float64{0.96, 0.98, 0.9, 0.99}, 0.97, 1.5, true},
		{"failed round keeps the best", []float64{0.96, nan, 0.98}, 0.97, 2.5, true},
		{"no accuracy before the crossing", []float64{nan, nan, 0.98}, 0.97, 3, true},
		{"only failed rounds", []float64{nan, nan}, 0.5, 0, false},
		{"NaN target", []float64{0.9}, nan, 0, false},
		{"target at or below the first", []float64{0.5, 0.6}, 0.1, 1, true},
	} {
		got, ok := RoundsTo(c.acc, c.target)
		if ok != c.ok || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: RoundsTo(%v, %g) = %g, %v; want %g, %v", c.name, c.acc, c.target, got, ok, c.want, c.ok)
		}
	}
}

func TestReadAccuraciesTarget(t *testing.T) {
	csv := "round,status,cohort,submitted,accepted,loss,accuracy,seconds,head\n" +
		"1,ok,10,10,10,2.1,0.637,2.0,h1\n" +
		"2,failed,10,0,0,,,1.0,h2\n" +
		"4,ok,10,10,10,0.5,0.9,2.0,h4\n"
	acc, err := ReadAccuracies(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if len(acc) != 4 || acc[0] != 0.637 || !math.IsNaN(acc[1]) || !math.IsNaN(acc[2]) || acc[3] != 0.9 {
		t.Fatalf("ReadAccuracies = %v, want [0.637 NaN NaN 0.9]", acc)
	}
	for name, bad := range map[string]string{
		"empty":         "",
		"no accuracy":   "round,status\n1,ok\n",
		"round 0":       "round,status,accuracy\n0,ok,0.5\n",
		"not a number":  "round,status,accuracy\n1,ok,x\n",
		"out of order":  "round,status,accuracy\n2,ok,0.5\n1,ok,0.6\n",
		"repeated":      "round,status,accuracy\n1,ok,0.5\n1,ok,0.6\n",
		"short record":  "round,status,accuracy\n1,ok\n",
		"ok without it": "round,status,accuracy\n1,ok,\n",
	} {
		if acc, err := ReadAccuracies(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: ReadAccuracies = %v, want an error", name, acc)
		}
	}
}

// TestTargetRuns prints the rounds to a target accuracy of floe sim runs:
// FLOE_TARGET_RUNS is a space-separated list of run directories (floe sim
// --out), FLOE_TARGET the accuracy (default 0.97). It reads each
// directory's metrics.csv, logs RoundsTo (or the best accuracy when the
// target is not reached) and, for an lr grid, the fewest. Without
// FLOE_TARGET_RUNS it skips.
//
//	FLOE_TARGET_RUNS="out/lr0.05 out/lr0.1" go test ./sims -run TargetRuns -v
func TestTargetRuns(t *testing.T) {
	dirs := strings.Fields(os.Getenv("FLOE_TARGET_RUNS"))
	if len(dirs) == 0 {
		t.Skip("set FLOE_TARGET_RUNS to run directories to measure")
	}
	target := 0.97
	if s := os.Getenv("FLOE_TARGET"); s != "" {
		var err error
		if target, err = strconv.ParseFloat(s, 64); err != nil {
			t.Fatalf("FLOE_TARGET=%q: %v", s, err)
		}
	}
	bestDir, best := "", math.Inf(1)
	for _, dir := range dirs {
		f, err := os.Open(filepath.Join(dir, "metrics.csv"))
		if err != nil {
			t.Fatal(err)
		}
		acc, err := ReadAccuracies(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		top := math.Inf(-1)
		for _, a := range acc {
			if a > top {
				top = a
			}
		}
		if r, ok := RoundsTo(acc, target); ok {
			t.Logf("%s: %.1f rounds to %g (best %.4f in %d rounds)", dir, r, target, top, len(acc))
			if r < best {
				bestDir, best = dir, r
			}
		} else {
			t.Logf("%s: %g not reached in %d rounds (best %.4f)", dir, target, len(acc), top)
		}
	}
	if bestDir != "" {
		t.Logf("fewest: %s, %.1f rounds to %g", bestDir, best, target)
	}
}
