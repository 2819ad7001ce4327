package main

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestBenchSecaggQuick runs `floe bench secagg --quick` and checks that it
// computes the real thing: each round's unmasked mean is the plain weighted
// mean of the survivors' updates, recomputed here from the generator,
// within the secagg doc's quantisation bound count*2^-f/sum(w), and the
// sealed round's FedAvg agrees with it.
func TestBenchSecaggQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a benchmark")
	}
	out, err := benchSecagg([]string{"--quick"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Ratios map[string]float64 `json:"ratios"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{
		"coordinator_unmask_over_prg_100_0", "coordinator_unmask_over_prg_100_0.3",
		"coordinator_cpu_secagg_over_sealed_100_0.3", "participant_cpu_secagg_over_sealed_100", "participant_bytes_secagg_over_sealed_100",
	} {
		if v, ok := doc.Ratios[k]; !ok || !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("ratio %s = %v (present %v)", k, v, ok)
		}
	}
	rep := out.(*secaggReport)
	if len(rep.checks) != 2 {
		t.Fatalf("%d rounds checked, want 2 (0%% and 30%% dropout)", len(rep.checks))
	}
	for _, c := range rep.checks {
		if want := c.n - int(math.Round(c.dropout*float64(c.n))); len(c.survivors) != want || !slices.IsSorted(c.survivors) {
			t.Fatalf("dropout %g: %d survivors, want %d", c.dropout, len(c.survivors), want)
		}
		sum := make([]float64, c.dim)
		x := make([]float32, c.dim)
		var ws uint64
		for _, i := range c.survivors {
			w := secaggInput(c.seed, i, x)
			ws += w
			for j, v := range x {
				sum[j] += float64(w) * float64(v)
			}
		}
		if ws != c.weightSum {
			t.Fatalf("dropout %g: weight sum %d, survivors' weights sum to %d", c.dropout, c.weightSum, ws)
		}
		bound := float64(len(c.survivors)) * math.Ldexp(1, -secaggFracBits) / float64(ws)
		for j := range sum {
			plain := sum[j] / float64(ws)
			if d := math.Abs(c.mean[j] - plain); !(d < bound) {
				t.Fatalf("dropout %g: coordinate %d: unmasked mean %v, plain %v: off by %g, bound %g", c.dropout, j, c.mean[j], plain, d, bound)
			}
			if d := math.Abs(float64(c.sealed[j]) - plain); !(d <= 1e-6*math.Abs(plain)+1e-12) {
				t.Fatalf("dropout %g: coordinate %d: sealed FedAvg %v, plain %v", c.dropout, j, c.sealed[j], plain)
			}
		}
	}
	if !strings.Contains(string(b), `"not verified`) {
		t.Error("the papers' unread figures are not marked as not verified")
	}
	if _, err := benchSecagg([]string{"--dropouts", "0,1.5"}); err == nil {
		t.Error("a dropout fraction above 0.9 was accepted")
	}
}
