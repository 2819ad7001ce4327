package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floe-fl/floe/aggregate"
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
