package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// TrainConfig holds the local-training hyperparameters of one round.
type TrainConfig struct {
	// Epochs is the number of passes over the local data (E), at least 1.
	Epochs int
	// Steps, if > 0, is the number of mini-batch SGD steps to take instead
	// of Epochs passes: the batches run on across passes (each pass a new
	// shuffle) and training stops after Steps of them. Fang et al. (USENIX
	// Security 2020) train one step of 32 examples a round.
	Steps int
	// BatchSize is the mini-batch size (B); 0 or >= the number of examples
	// means full-batch gradient descent (the FedAvg paper's B = infinity).
	BatchSize int
	// LR is the learning rate, > 0.
	LR float64
	// Mu is the FedProx proximal coefficient: the loss gets
	// mu/2 * ||w - w_global||^2. 0 gives plain FedAvg local SGD.
	Mu float64
	// WeightDecay adds WeightDecay/2 * ||w||^2 to the loss (L2), applied to
	// weights and biases alike.
	WeightDecay float64
	// Seed drives the per-epoch shuffling. Same seed, same inputs: same bits.
	Seed uint64
}

// Validate reports an error for a configuration training cannot use.
func (c TrainConfig) Validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("model: epochs must be at least 1, got %d", c.Epochs)
	case c.Steps < 0:
		return fmt.Errorf("model: steps must not be negative, got %d", c.Steps)
	case c.BatchSize < 0:
		return fmt.Errorf("model: batch size must not be negative, got %d", c.BatchSize)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("model: learning rate must be positive and finite, got %v", c.LR)
	case !(c.Mu >= 0) || math.IsInf(c.Mu, 0):
		return fmt.Errorf("model: mu must be non-negative and finite, got %v", c.Mu)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("model: weight decay must be non-negative and finite, got %v", c.WeightDecay)
	}
	return nil
}

// Result is what a Trainer returns.
type Result struct {
	// Params are the new local weights (same layout as the global model).
	Params *Params
	// NumExamples is the number of local training examples, the weight of
	// this update in FedAvg.
	NumExamples int
	// Metrics are named figures, e.g. "train_loss" and "train_accuracy".
	Metrics map[string]float64
}

// Delta returns r.Params - global as a flat vector (the update), in the
// layout of Params.Flatten.
func (r *Result) Delta(global *Params) ([]float32, error) {
	if err := global.SameLayout(r.Params); err != nil {
		return nil, err
	}
	d := r.Params.Flatten(nil)
	g := global.Flatten(nil)
	for i := range d {
		d[i] -= g[i]
	}
	return d, nil
}

// Trainer trains a model on local data, starting from the global weights.
// Implementations must not modify global or data.
type Trainer interface {
	Train(ctx context.Context, global *Params, data *Dataset, cfg TrainConfig) (*Result, error)
}

// NewLocalTrainer returns the in-process trainer for a built-in architecture:
// mini-batch SGD on float32 with gonum matrix products. A "logreg" without
// sizes takes them from each dataset. The trainer is safe for concurrent use.
func NewLocalTrainer(a Arch) Trainer { return localTrainer{arch: a} }

type localTrainer struct{ arch Arch }

// Metric names reported by the local trainer.
const (
	MetricTrainLoss     = "train_loss"     // mean cross-entropy over the last (possibly partial) epoch, as trained
	MetricTrainAccuracy = "train_accuracy" // accuracy over the last (possibly partial) epoch, as trained
	MetricSteps         = "steps"          // SGD steps taken
)

func (t localTrainer) Train(ctx context.Context, global *Params, data *Dataset, cfg TrainConfig) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if data == nil || data.N == 0 {
		return nil, fmt.Errorf("model: no training data")
	}
	if err := data.Validate(); err != nil {
		return nil, err
	}
	a, err := t.arch.ForData(data)
	if err != nil {
		return nil, err
	}
	if err := a.CheckParams(global); err != nil {
		return nil, err
	}
	if err := global.CheckFinite(); err != nil {
		return nil, err
	}
	local := global.Clone()
	B := cfg.BatchSize
	full := B <= 0 || B >= data.N
	if full {
		B = data.N
	}
	net := newNetwork(a.Sizes, B, float32Gemm(), true)
	net.bind(tensorData(local))
	var w0 [][]float32
	if cfg.Mu != 0 {
		w0 = tensorData(global)
	}
	D := data.D
	var xb []float32
	var yb []int
	perm := make([]int, data.N)
	for i := range perm {
		perm[i] = i
	}
	if !full {
		xb = make([]float32, B*D)
		yb = make([]int, B)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x747261696e)) // "train"
	lr, wd, mu := float32(cfg.LR), float32(cfg.WeightDecay), float32(cfg.Mu)
	steps := 0
	var lossSum float64
	var correct, seen int
	// more reports whether another pass over the data may start: Epochs
	// passes, or with Steps as many (the last one cut short) as Steps take.
	more := func(e int) bool {
		if cfg.Steps > 0 {
			return steps < cfg.Steps
		}
		return e < cfg.Epochs
	}
	for e := 0; more(e); e++ {
		lossSum, correct, seen = 0, 0, 0
		if !full {
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		}
		for start := 0; start < data.N && (cfg.Steps == 0 || steps < cfg.Steps); start += B {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("model: training interrupted: %w", err)
			}
			nb := min(B, data.N-start)
			x, y := data.X, data.Y
			if !full {
				for r, idx := range perm[start : start+nb] {
					copy(xb[r*D:(r+1)*D], data.X[idx*D:(idx+1)*D])
					yb[r] = data.Y[idx]
				}
				x, y = xb[:nb*D], yb[:nb]
			}
			net.forward(x, nb)
			l, c := net.softmaxLoss(y, nb, true, 1/float32(nb))
			lossSum += l
			correct += c
			seen += nb
			net.backward(x, nb)
			net.step(lr, wd, mu, w0)
			steps++
		}
	}
	if err := local.CheckFinite(); err != nil {
		return nil, fmt.Errorf("model: training diverged (lower the learning rate): %w", err)
	}
	return &Result{
		Params:      local,
		NumExamples: data.N,
		Metrics: map[string]float64{
			MetricTrainLoss:     lossSum / float64(seen),
			MetricTrainAccuracy: float64(correct) / float64(seen),
			MetricSteps:         float64(steps),
		},
	}, nil
}

func tensorData(p *Params) [][]float32 {
	out := make([][]float32, len(p.Tensors))
	for i := range p.Tensors {
		out[i] = p.Tensors[i].Data
	}
	return out
}

// evalChunk is the number of rows Evaluate pushes through at once.
const evalChunk = 1000

// Evaluate reports the mean cross-entropy loss and the accuracy of the model
// on d. A "logreg" without sizes takes them from d.
func Evaluate(a Arch, p *Params, d *Dataset) (loss, acc float64, err error) {
	if d == nil || d.N == 0 {
		return 0, 0, fmt.Errorf("model: no evaluation data")
	}
	if err := d.Validate(); err != nil {
		return 0, 0, err
	}
	if a, err = a.ForData(d); err != nil {
		return 0, 0, err
	}
	if err := a.CheckParams(p); err != nil {
		return 0, 0, err
	}
	B := min(evalChunk, d.N)
	net := newNetwork(a.Sizes, B, float32Gemm(), false)
	net.bind(tensorData(p))
	var lossSum float64
	var correct int
	for start := 0; start < d.N; start += B {
		nb := min(B, d.N-start)
		net.forward(d.X[start*d.D:(start+nb)*d.D], nb)
		l, c := net.softmaxLoss(d.Y[start:start+nb], nb, false, 0)
		lossSum += l
		correct += c
	}
	return lossSum / float64(d.N), float64(correct) / float64(d.N), nil
}
