package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestBenchRoundQuick runs `floe bench round --quick` (whose coordinator is
// a child process of the built binary) and checks its JSON: round 1
// committed ok with every cohort member's update, and the figures and
// ratios the README quotes are there and positive.
func TestBenchRoundQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts storage nodes, a coordinator process and participants")
	}
	stdout, stderr, code := floeRun(t, "bench", "round", "--quick")
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	cfg, _ := doc["config"].(map[string]any)
	ratios, _ := doc["ratios"].(map[string]any)
	num := func(m map[string]any, k string) float64 {
		v, ok := m[k].(float64)
		if !ok {
			t.Errorf("%s: %v is not a number", k, m[k])
		}
		return v
	}
	params, cohort := num(cfg, "params"), num(cfg, "cohort")
	if params != 1e6 || cohort != 4 || cfg["privacy"] != "sealed" || cfg["quick"] != true {
		t.Errorf("config %v, want the quick one (1M parameters, cohort 4, sealed)", cfg)
	}
	commit, _ := doc["commit_line"].(string)
	if doc["status"] != "ok" || num(doc, "accepted") != cohort || !strings.HasPrefix(commit, "round 1 ok head ") {
		t.Errorf("round 1: status %v, %v accepted, commit line %q", doc["status"], doc["accepted"], commit)
	}
	// The model is 4 bytes a parameter and a header; a sealed update is the
	// same tensors with a few more header and sealing bytes.
	model, update := num(doc, "model_bytes"), num(doc, "update_bytes")
	if model < 4*params || model > 4*params+4096 || update <= model || update > model+4096 || num(doc, "cohort_update_bytes") != cohort*update {
		t.Errorf("model %v bytes, update %v, cohort %v", model, update, doc["cohort_update_bytes"])
	}
	for _, k := range []string{
		"round_seconds", "folding_seconds", "coordinator_cpu_seconds", "participants_and_nodes_cpu_seconds", "round_wall_seconds",
		"coordinator_round_peak_rss_mib", "participant_put_seconds_median", "stream_seconds", "stream_cpu_seconds",
	} {
		if v := num(doc, k); !(v > 0) {
			t.Errorf("%s = %v", k, v)
		}
	}
	for _, k := range []string{
		"round_seconds_over_stream_seconds", "coordinator_peak_rss_over_model_bytes", "folding_seconds_over_stream_seconds",
		"participant_put_seconds_over_stream_seconds_per_update", "round_cpu_over_round_wall",
	} {
		if v := num(ratios, k); !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("ratio %s = %v", k, v)
		}
	}
}
