package trainer

import (
	"context"
	"math"
	"os/exec"
	"testing"

	"github.com/floe-fl/floe/model"
)

func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: skipping the Python external-trainer example")
	}
	return p
}

// clientData returns a small client of Synthetic(0.5, 0.5).
func clientData(t *testing.T, n int) *model.Dataset {
	sets, err := model.Synthetic(0.5, 0.5, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, min(n, sets[0].N))
	for i := range idx {
		idx[i] = i
	}
	return sets[0].Subset(idx)
}

// TestPythonMatchesLocal runs train.py full-batch and compares its weights
// with floe's local trainer (same algorithm; float64 Python vs float32 Go).
func TestPythonMatchesLocal(t *testing.T) {
	py := python(t)
	data := clientData(t, 40)
	for _, spec := range []string{"logreg:60-10", "mlp:60-8-10"} {
		t.Run(spec, func(t *testing.T) {
			a, err := model.ParseArch(spec)
			if err != nil {
				t.Fatal(err)
			}
			global := a.Init(2)
			cfg := model.TrainConfig{Epochs: 3, BatchSize: 0, LR: 0.05, Mu: 0.1, WeightDecay: 0.01, Seed: 1}
			want, err := model.NewLocalTrainer(a).Train(context.Background(), global, data, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := model.NewExternalTrainer([]string{py, "train.py"}, model.WithTempDir(t.TempDir())).Train(context.Background(), global, data, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got.NumExamples != data.N || got.Metrics["steps"] != 3 {
				t.Fatalf("result %d %v", got.NumExamples, got.Metrics)
			}
			w, g := want.Params.Flatten(nil), got.Params.Flatten(nil)
			moved := 0.0
			g0 := global.Flatten(nil)
			for i := range w {
				if d := math.Abs(float64(w[i] - g[i])); d > 1e-4+1e-4*math.Abs(float64(w[i])) {
					t.Fatalf("param %d: python %v, local %v", i, g[i], w[i])
				}
				moved = max(moved, math.Abs(float64(w[i]-g0[i])))
			}
			if moved < 1e-3 {
				t.Fatal("training did not move the weights; the comparison proves nothing")
			}
			if d := math.Abs(got.Metrics["train_loss"] - want.Metrics[model.MetricTrainLoss]); d > 1e-4 {
				t.Fatalf("train loss python %v, local %v", got.Metrics["train_loss"], want.Metrics[model.MetricTrainLoss])
			}
		})
	}
}

// TestPythonMiniBatchLearns runs train.py with mini-batches (its own
// shuffling) and expects the loss to fall.
func TestPythonMiniBatchLearns(t *testing.T) {
	py := python(t)
	data := clientData(t, 60)
	a, _ := model.ParseArch("logreg:60-10")
	global := a.Init(3)
	res, err := model.NewExternalTrainer([]string{py, "train.py"}).Train(context.Background(), global, data,
		model.TrainConfig{Epochs: 5, BatchSize: 10, LR: 0.05, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	before, _, err := model.Evaluate(a, global, data)
	if err != nil {
		t.Fatal(err)
	}
	after, _, _ := model.Evaluate(a, res.Params, data)
	if !(after < before*0.7) {
		t.Fatalf("loss %v -> %v", before, after)
	}
}
