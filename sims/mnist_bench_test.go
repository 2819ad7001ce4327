package sims

import (
	"context"
	"testing"

	"github.com/floe-fl/floe/model"
)

// BenchmarkMNIST2NNTo95 runs the FedAvg paper's MNIST 2NN setting (IID over
// 100 clients, 10 per round, E=1, B=10) on the in-memory network and reports
// the first round whose test accuracy passes 95% (metric rounds_to_95), or
// fails if none of 100 rounds does.
//
//	go test ./sims -run '^$' -bench MNIST2NN -benchtime 1x
func BenchmarkMNIST2NNTo95(b *testing.B) {
	dir, ok := model.FindMNIST()
	if !ok {
		b.Skip("MNIST not found: set FLOE_MNIST_DIR (see README)")
	}
	for i := 0; i < b.N; i++ {
		o := DefaultOptions()
		o.Net, o.Dataset, o.DataDir, o.Arch = "memory", "mnist", dir, "mlp:784-200-200-10"
		o.Participants, o.Cohort, o.Rounds, o.Epochs, o.Batch, o.LR = 100, 10, 100, 1, 10, 0.05
		o.Out, o.NoAudit = b.TempDir(), true
		ctx, cancel := context.WithCancel(context.Background())
		reached := 0
		_, err := Run(ctx, o, func(r RoundStat) {
			if reached == 0 && r.Accuracy >= 0.95 {
				reached = int(r.Round)
				cancel() // done: stop the job early
			}
		})
		cancel()
		if reached == 0 {
			b.Fatalf("accuracy never passed 95%% in %d rounds (err %v)", o.Rounds, err)
		}
		b.ReportMetric(float64(reached), "rounds_to_95")
	}
}
