package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestCLIPrivacy plans a budget both ways: the sigma found for the epsilon
// of sigma 1.1 is 1.1 again, and bad input exits 2 with one line.
func TestCLIPrivacy(t *testing.T) {
	out, errOut, code := floeRun(t, "privacy", "epsilon", "--json", "--q", "0.01", "--sigma", "1.1", "--rounds", "10000", "--delta", "1e-5")
	if code != 0 {
		t.Fatalf("epsilon: exit %d: %s", code, errOut)
	}
	var e struct{ Epsilon, Order float64 }
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("epsilon --json: %v: %q", err, out)
	}
	if e.Epsilon <= 0 || e.Order <= 1 {
		t.Fatalf("epsilon %v at order %v", e.Epsilon, e.Order)
	}
	out, errOut, code = floeRun(t, "privacy", "sigma", "--json", "--q", "0.01", "--rounds", "10000", "--delta", "1e-5", "--epsilon", strings.TrimRight(strings.TrimRight(jsonNum(e.Epsilon), "0"), "."))
	if code != 0 {
		t.Fatalf("sigma: exit %d: %s", code, errOut)
	}
	var s struct{ Sigma float64 }
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("sigma --json: %v: %q", err, out)
	}
	if math.Abs(s.Sigma-1.1) > 1e-3 {
		t.Fatalf("sigma for epsilon %v is %v, want 1.1", e.Epsilon, s.Sigma)
	}
	_, errOut, code = floeRun(t, "privacy", "epsilon", "--q", "2", "--sigma", "1", "--rounds", "1", "--delta", "1e-5")
	if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "--q") {
		t.Fatalf("bad q: exit %d, stderr %q", code, errOut)
	}
}

func jsonNum(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

// TestCLIBenchJSON: a benchmark prints one JSON document with a ratios object.
func TestCLIBenchJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a benchmark")
	}
	out, errOut, code := floeRun(t, "bench", "aggregate", "--quick")
	if code != 0 {
		t.Fatalf("bench aggregate: exit %d: %s", code, errOut)
	}
	var doc struct {
		Ratios map[string]float64 `json:"ratios"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not one JSON document: %v", err)
	}
	if len(doc.Ratios) == 0 {
		t.Fatalf("no ratios in %s", out)
	}
	for k, v := range doc.Ratios {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("ratio %s = %v", k, v)
		}
	}
	if _, _, code := floeRun(t, "bench", "nosuch"); code != 2 {
		t.Fatalf("unknown benchmark: exit %d, want 2", code)
	}
}
