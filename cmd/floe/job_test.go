package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/seal"
)

func TestExampleJobFile(t *testing.T) {
	j, err := readJobFile(filepath.Join("..", "..", "examples", "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if j.Rounds != 5 || j.Aggregation.Canonical() != (aggregate.Spec{Rule: "fedavg"}).Canonical() || j.Privacy != "sealed" {
		t.Fatalf("unexpected job: %+v", j)
	}
}

func TestBadJobFiles(t *testing.T) {
	for name, text := range map[string]string{
		"unknown field": "model: logreg:4-3\nrounds: 1\ncohort_size: 1\ntrain: {epochs: 1, batch_size: 1, lr: 0.1}\nbogus: 1\n",
		"no model":      "rounds: 1\ncohort_size: 1\ntrain: {epochs: 1, batch_size: 1, lr: 0.1}\n",
		"bad rule":      "model: logreg:4-3\nrounds: 1\ncohort_size: 1\ntrain: {epochs: 1, batch_size: 1, lr: 0.1}\naggregation: {rule: magic}\n",
		"quorum":        "model: logreg:4-3\nrounds: 1\ncohort_size: 1\nquorum: 3\ntrain: {epochs: 1, batch_size: 1, lr: 0.1}\n",
		"deadline":      "model: logreg:4-3\nrounds: 1\ncohort_size: 1\ndeadline: soon\ntrain: {epochs: 1, batch_size: 1, lr: 0.1}\n",
		"not yaml":      "{{{",
	} {
		p := filepath.Join(t.TempDir(), "job.yaml")
		os.WriteFile(p, []byte(text), 0o644)
		_, err := readJobFile(p)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "job file") {
			t.Errorf("%s: error does not name the job file: %v", name, err)
		}
	}
}

func FuzzJobFile(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("..", "..", "examples", "job.yaml"))
	f.Add(b)
	f.Add([]byte("model: logreg:4-3\nrounds: 1\ncohort_size: 1\ntrain: {epochs: 1, batch_size: 1, lr: 0.1}\n"))
	hkey, err := seal.DeriveKey(make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := parseJobFile(b, "fuzz.yaml")
		if err != nil {
			return
		}
		// Whatever is accepted makes a valid job spec.
		spec := j.spec("coordinator", hkey, j.Model, nil)
		if spec.Rounds == 0 || spec.CohortSize == 0 || spec.Quorum == 0 || spec.Quorum > spec.CohortSize {
			t.Fatalf("accepted job with rounds %d cohort %d quorum %d", spec.Rounds, spec.CohortSize, spec.Quorum)
		}
		if _, err := aggregate.ParseCanonical(spec.Aggregation); err != nil {
			t.Fatalf("accepted job with a bad rule: %v", err)
		}
	})
}
