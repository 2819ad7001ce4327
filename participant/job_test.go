package participant

import (
	"errors"
	"strings"
	"testing"

	"github.com/floe-fl/floe/decimal"
	"github.com/floe-fl/floe/ledger"
)

// TestTrainConfig: the job's decimals reach the trainer, and a malformed one
// is an error instead of training at 0.
func TestTrainConfig(t *testing.T) {
	job := &ledger.JobSpec{Train: ledger.TrainParams{Epochs: 2, BatchSize: 8, LR: "0.05", Mu: "0.01"}}
	cfg, err := trainConfig(job, 7)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Epochs != 2 || cfg.BatchSize != 8 || cfg.LR != 0.05 || cfg.Mu != 0.01 || cfg.WeightDecay != 0 || cfg.Seed != 7 {
		t.Fatalf("train config %+v", cfg)
	}
	for _, bad := range []ledger.TrainParams{
		{LR: "0.o5"}, {LR: ""}, {LR: "NaN"}, {LR: "0.1", Mu: "1e400"}, {LR: "0.1", WeightDecay: "0x1p-3"},
	} {
		job.Train = bad
		if _, err := trainConfig(job, 7); !errors.Is(err, decimal.ErrSyntax) {
			t.Errorf("%+v: %v, want a decimal syntax error", bad, err)
		}
	}
}

// TestCheckStore: a participant told what its store is refuses a job whose
// blobs live in the other one, naming the flags to use.
func TestCheckStore(t *testing.T) {
	for _, tc := range []struct {
		kind, job string
		want      string // "" for no error
	}{
		{"", ledger.StoreWalrus, ""},
		{StoreCommittee, "", ""},
		{ledger.StoreWalrus, ledger.StoreWalrus, ""},
		{StoreCommittee, ledger.StoreWalrus, "--store walrus"},
		{ledger.StoreWalrus, "", "--committee FILE"},
	} {
		err := checkStore(tc.kind, tc.job)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkStore(%q, %q) = %v, want %q", tc.kind, tc.job, err, tc.want)
		}
	}
}
