package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/floe-fl/floe/model"
)

// trainThroughput is one batch size's training figure.
type trainThroughput struct {
	Batch         int     `json:"batch"`
	Examples      int     `json:"examples"`
	Seconds       float64 `json:"seconds"`
	ExamplesPerS  float64 `json:"examples_per_s"`
	GFLOPs        float64 `json:"gflops"`
	FractionGEMM  float64 `json:"fraction_of_gemm512"`
	FinalLossLast float64 `json:"train_loss"`
}

type trainAccuracy struct {
	Epochs       int     `json:"epochs"`
	Batch        int     `json:"batch"`
	LR           float64 `json:"lr"`
	Seed         uint64  `json:"seed"`
	TestAccuracy float64 `json:"test_accuracy"`
	TestLoss     float64 `json:"test_loss"`
	Seconds      float64 `json:"seconds"`
	Target       float64 `json:"target"`
	Pass         bool    `json:"pass"`
}

type trainBench struct {
	Arch            string             `json:"arch"`
	Params          int                `json:"params"`
	Precision       string             `json:"precision"`
	GOMAXPROCS      int                `json:"gomaxprocs"`
	Dataset         string             `json:"dataset"`
	FLOPsPerExample float64            `json:"flops_per_example"`
	GEMM512GFLOPs   float64            `json:"gemm512_gflops"`
	Throughput      []trainThroughput  `json:"throughput"`
	Accuracy        *trainAccuracy     `json:"accuracy,omitempty"`
	AccuracySkipped string             `json:"accuracy_skipped,omitempty"`
	Ratios          map[string]float64 `json:"ratios"`
}

func benchTrain(args []string) (any, error) {
	fs := newFlagSet("bench train", "[flags]",
		"  floe bench train\n  floe bench train --quick\n  floe bench train --mnist ~/data/mnist --seconds 5 --batches 10,50,600")
	mnistDir := fs.String("mnist", "", "MNIST directory (default $FLOE_MNIST_DIR or ../shared/datasets/mnist beside the repository)")
	quick := fs.Bool("quick", false, "skip the 5-epoch accuracy run")
	seconds := fs.Float64("seconds", 2, "minimum measuring time per figure")
	epochs := fs.Int("epochs", 5, "epochs of the centralised accuracy run")
	accBatch := fs.Int("batch", 50, "batch size of the accuracy run")
	lr := fs.Float64("lr", 0.1, "learning rate")
	seed := fs.Uint64("seed", 1, "seed for initialisation and shuffling")
	var batches multiFlag
	fs.Var(&batches, "batches", "batch sizes to measure, comma-separated (default 10,50,600)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if !(*seconds > 0) || *epochs < 1 || *accBatch < 1 || !(*lr > 0) {
		return nil, usagef("--seconds and --lr must be positive, --epochs and --batch at least 1")
	}
	sizes := []int{10, 50, 600}
	if len(batches) > 0 {
		sizes = sizes[:0]
		for _, s := range batches {
			var list []int
			if err := parseIntList(s, &list); err != nil {
				return nil, usagef("--batches: %v", err)
			}
			sizes = append(sizes, list...)
		}
	}
	arch, err := model.ParseArch("mlp:784-200-200-10")
	if err != nil {
		return nil, err
	}
	out := &trainBench{
		Arch: arch.String(), Params: arch.NumParams(), Precision: "float32",
		GOMAXPROCS: runtime.GOMAXPROCS(0), FLOPsPerExample: arch.FLOPsPerExample(),
		Ratios: map[string]float64{},
	}

	dir, ok := *mnistDir, true
	if dir == "" {
		dir, ok = model.FindMNIST()
	}
	var train, test *model.Dataset
	if ok {
		train, test, err = model.LoadMNIST(dir)
		if err != nil {
			return nil, fmt.Errorf("bench train: %w", err)
		}
		out.Dataset = "mnist (" + dir + ")"
	} else {
		train = randomData(60000, 784, 10, *seed)
		out.Dataset = "random 60000x784 (MNIST not found in " + dir + "; set --mnist or $FLOE_MNIST_DIR)"
		out.AccuracySkipped = "MNIST not found in " + dir
		fmt.Fprintf(os.Stderr, "floe bench train: MNIST not found in %s: measuring throughput on random data, skipping the accuracy run (set --mnist or $%s)\n", dir, model.MNISTDirEnv)
	}

	// The machine may be shared: each figure is the best of several
	// slices, and the GEMM baseline is measured before and after training.
	out.GEMM512GFLOPs = gemmGFLOPs(512, *seconds)
	ctx := context.Background()
	trainer := model.NewLocalTrainer(arch)
	for _, b := range sizes {
		tp, err := measureTrain(ctx, trainer, arch, train, b, *lr, *seed, *seconds)
		if err != nil {
			return nil, err
		}
		out.Throughput = append(out.Throughput, tp)
	}
	out.GEMM512GFLOPs = max(out.GEMM512GFLOPs, gemmGFLOPs(512, *seconds))
	for i := range out.Throughput {
		tp := &out.Throughput[i]
		tp.FractionGEMM = tp.GFLOPs / out.GEMM512GFLOPs
		out.Ratios[fmt.Sprintf("train_b%d_vs_gemm512", tp.Batch)] = tp.FractionGEMM
	}

	switch {
	case test == nil:
	case *quick:
		out.AccuracySkipped = "--quick"
	default:
		start := time.Now()
		cfg := model.TrainConfig{Epochs: *epochs, BatchSize: *accBatch, LR: *lr, Seed: *seed}
		r, err := trainer.Train(ctx, arch.Init(*seed), train, cfg)
		if err != nil {
			return nil, err
		}
		loss, acc, err := model.Evaluate(arch, r.Params, test)
		if err != nil {
			return nil, err
		}
		out.Accuracy = &trainAccuracy{
			Epochs: *epochs, Batch: *accBatch, LR: *lr, Seed: *seed,
			TestAccuracy: acc, TestLoss: loss, Seconds: time.Since(start).Seconds(),
			Target: 0.97, Pass: acc >= 0.97,
		}
		out.Ratios[fmt.Sprintf("accuracy_2nn_%dep_vs_target_0.97", *epochs)] = acc / 0.97
	}
	return out, nil
}

// gemmGFLOPs measures gonum's float32 matrix product of two n x n matrices:
// the best rate of 10 slices of seconds/10 each.
func gemmGFLOPs(n int, seconds float64) float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	mk := func() blas32.General {
		m := blas32.General{Rows: n, Cols: n, Stride: n, Data: make([]float32, n*n)}
		for i := range m.Data {
			m.Data[i] = rng.Float32()
		}
		return m
	}
	a, b, c := mk(), mk(), mk()
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, a, b, 0, c) // warm up
	best := 0.0
	for range 10 {
		reps := 0
		start := time.Now()
		for time.Since(start).Seconds() < seconds/10 {
			blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, a, b, 0, c)
			reps++
		}
		best = max(best, 2*float64(n)*float64(n)*float64(n)*float64(reps)/time.Since(start).Seconds()/1e9)
	}
	return best
}

// measureTrain times one epoch of SGD at batch size b over enough examples
// (at most the whole dataset) to last about seconds/3, three times, and
// keeps the fastest.
func measureTrain(ctx context.Context, tr model.Trainer, arch model.Arch, data *model.Dataset, b int, lr float64, seed uint64, seconds float64) (trainThroughput, error) {
	run := func(n int) (trainThroughput, error) {
		n = max(b, min(n, data.N))
		n -= n % b
		sub := data
		if n < data.N {
			idx := make([]int, n)
			for i := range idx {
				idx[i] = i
			}
			sub = data.Subset(idx)
		}
		global := arch.Init(seed)
		start := time.Now()
		r, err := tr.Train(ctx, global, sub, model.TrainConfig{Epochs: 1, BatchSize: b, LR: lr, Seed: seed})
		if err != nil {
			return trainThroughput{}, err
		}
		t := time.Since(start).Seconds()
		return trainThroughput{
			Batch: b, Examples: n, Seconds: t,
			ExamplesPerS:  float64(n) / t,
			GFLOPs:        float64(n) * arch.FLOPsPerExample() / t / 1e9,
			FinalLossLast: r.Metrics[model.MetricTrainLoss],
		}, nil
	}
	best, err := run(max(20*b, 1000))
	if err != nil {
		return best, err
	}
	n := int(best.ExamplesPerS * seconds / 3)
	for range 3 {
		tp, err := run(n)
		if err != nil {
			return tp, err
		}
		if tp.ExamplesPerS > best.ExamplesPerS {
			best = tp
		}
	}
	return best, nil
}

func randomData(n, d, classes int, seed uint64) *model.Dataset {
	rng := rand.New(rand.NewPCG(seed, 3))
	ds := &model.Dataset{N: n, D: d, Classes: classes, X: make([]float32, n*d), Y: make([]int, n)}
	for i := range ds.X {
		ds.X[i] = rng.Float32()
	}
	for i := range ds.Y {
		ds.Y[i] = rng.IntN(classes)
	}
	return ds
}

func parseIntList(s string, out *[]int) error {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ',' {
			continue
		}
		var v int
		if _, err := fmt.Sscanf(s[start:i], "%d", &v); err != nil || v < 1 || fmt.Sprint(v) != s[start:i] {
			return fmt.Errorf("%q is not a positive integer", s[start:i])
		}
		*out = append(*out, v)
		start = i + 1
	}
	return nil
}
