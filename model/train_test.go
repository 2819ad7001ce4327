package model

import (
	"context"
	"testing"
)

// TestTrainSteps checks that Steps overrides Epochs: the step count is
// exact, batches run on across passes, and Steps equal to one pass's
// batches is bit for bit one epoch.
func TestTrainSteps(t *testing.T) {
	a, _ := ParseArch("logreg:4-3")
	data := toyData(25, 4, 3, 5) // 3 batches of 10 a pass: 10, 10, 5
	for _, tc := range []struct {
		epochs, steps, batch int
		want                 float64
	}{
		{1, 1, 10, 1},
		{1, 2, 10, 2},
		{1, 5, 10, 5}, // across a pass boundary
		{7, 4, 10, 4}, // Steps wins over Epochs
		{1, 3, 0, 3},  // full batch: each step a pass
		{2, 0, 10, 6}, // no Steps: Epochs passes
		{1, 1, 32, 1}, // Fang et al.: one step of 32 (here the whole set)
	} {
		cfg := TrainConfig{Epochs: tc.epochs, Steps: tc.steps, BatchSize: tc.batch, LR: 0.1, Seed: 7}
		r := trainOnce(t, a, data, cfg)
		if got := r.Metrics[MetricSteps]; got != tc.want {
			t.Errorf("epochs %d steps %d batch %d: %v steps, want %v", tc.epochs, tc.steps, tc.batch, got, tc.want)
		}
		assertParamsEqual(t, r.Params, trainOnce(t, a, data, cfg).Params)
	}
	one := trainOnce(t, a, data, TrainConfig{Epochs: 1, BatchSize: 10, LR: 0.1, Seed: 7})
	three := trainOnce(t, a, data, TrainConfig{Epochs: 1, Steps: 3, BatchSize: 10, LR: 0.1, Seed: 7})
	assertParamsEqual(t, one.Params, three.Params)
	if one.Metrics[MetricTrainLoss] != three.Metrics[MetricTrainLoss] {
		t.Fatalf("train loss %v vs %v", one.Metrics[MetricTrainLoss], three.Metrics[MetricTrainLoss])
	}
	if _, err := NewLocalTrainer(a).Train(context.Background(), a.Init(1), data, TrainConfig{Epochs: 1, Steps: -1, LR: 0.1}); err == nil {
		t.Fatal("negative steps accepted")
	}
}
