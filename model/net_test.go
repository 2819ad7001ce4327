package model

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// toyData returns a small random classification dataset.
func toyData(n, d, classes int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	ds := &Dataset{N: n, D: d, Classes: classes, X: make([]float32, n*d), Y: make([]int, n)}
	for i := range ds.X {
		ds.X[i] = float32(rng.NormFloat64())
	}
	for i := range ds.Y {
		ds.Y[i] = rng.IntN(classes)
	}
	return ds
}

func to64(p *Params) [][]float64 {
	out := make([][]float64, len(p.Tensors))
	for i, t := range p.Tensors {
		out[i] = make([]float64, len(t.Data))
		for j, v := range t.Data {
			out[i][j] = float64(v)
		}
	}
	return out
}

// loss64 returns the mean cross-entropy of weights w on the data, in float64.
func loss64(a Arch, w [][]float64, x []float64, y []int) float64 {
	n := len(y)
	net := newNetwork(a.Sizes, n, float64Gemm(), false)
	net.bind(w)
	net.forward(x, n)
	l, _ := net.softmaxLoss(y, n, false, 0)
	return l / float64(n)
}

// TestGradientCheck compares backward's gradients with central finite
// differences of the float64 loss, for logistic regression and an MLP, and
// checks that the float32 network (the one that trains) agrees.
func TestGradientCheck(t *testing.T) {
	for _, spec := range []string{"logreg:6-4", "mlp:6-5-4-3"} {
		t.Run(spec, func(t *testing.T) {
			a, err := ParseArch(spec)
			if err != nil {
				t.Fatal(err)
			}
			data := toyData(9, a.Sizes[0], a.Sizes[len(a.Sizes)-1], 3)
			p := a.Init(7)
			w := to64(p)
			x := make([]float64, len(data.X))
			for i, v := range data.X {
				x[i] = float64(v)
			}
			n := data.N
			net := newNetwork(a.Sizes, n, float64Gemm(), true)
			net.bind(w)
			net.forward(x, n)
			net.softmaxLoss(data.Y, n, true, 1/float64(n))
			net.backward(x, n)
			net32 := newNetwork(a.Sizes, n, float32Gemm(), true)
			net32.bind(tensorData(p))
			net32.forward(data.X, n)
			net32.softmaxLoss(data.Y, n, true, 1/float32(n))
			net32.backward(data.X, n)
			const h = 1e-6
			checked := 0
			for l := 1; l < len(a.Sizes); l++ {
				for k, pair := range [][3][]float64{{w[2*(l-1)], net.dw[l], nil}, {w[2*(l-1)+1], net.db[l], nil}} {
					param, grad := pair[0], pair[1]
					var g32 []float32
					if k == 0 {
						g32 = net32.dw[l]
					} else {
						g32 = net32.db[l]
					}
					for i := range param {
						old := param[i]
						param[i] = old + h
						up := loss64(a, w, x, data.Y)
						param[i] = old - h
						down := loss64(a, w, x, data.Y)
						param[i] = old
						fd := (up - down) / (2 * h)
						if math.Abs(fd-grad[i]) > 1e-7+1e-5*math.Abs(fd) {
							t.Fatalf("layer %d param %d/%d: backward %g, finite difference %g", l, k, i, grad[i], fd)
						}
						if math.Abs(float64(g32[i])-grad[i]) > 1e-5+1e-3*math.Abs(grad[i]) {
							t.Fatalf("layer %d param %d/%d: float32 gradient %g, float64 %g", l, k, i, g32[i], grad[i])
						}
						checked++
					}
				}
			}
			if checked != a.NumParams() {
				t.Fatalf("checked %d of %d params", checked, a.NumParams())
			}
		})
	}
}

func TestArch(t *testing.T) {
	a, err := ParseArch("mlp:784-200-200-10")
	if err != nil {
		t.Fatal(err)
	}
	if a.NumParams() != 199210 || a.Init(1).Len() != 199210 {
		t.Fatalf("2NN has %d params, want 199,210", a.NumParams())
	}
	if a.String() != "mlp:784-200-200-10" {
		t.Fatal(a.String())
	}
	lr, err := ParseArch("logreg")
	if err != nil {
		t.Fatal(err)
	}
	lr, err = lr.WithDims(60, 10)
	if err != nil || lr.String() != "logreg:60-10" || lr.NumParams() != 610 {
		t.Fatalf("%v %v", lr, err)
	}
	if b, err := ArchFromMeta(a.Meta()); err != nil || b.String() != a.String() {
		t.Fatalf("ArchFromMeta: %v %v", b, err)
	}
	if _, err := ArchFromMeta(nil); err == nil {
		t.Fatal("ArchFromMeta accepted empty metadata")
	}
	if _, err := lr.WithDims(61, 10); err == nil {
		t.Fatal("WithDims accepted mismatched dims")
	}
	for _, bad := range []string{"", "cnn", "mlp", "mlp:10-2", "logreg:5", "logreg:5-1", "mlp:10-0-2", "mlp:10--2", "mlp:a-b-c", "logreg:5-5-5"} {
		if _, err := ParseArch(bad); err == nil || !strings.HasPrefix(err.Error(), "model: ") {
			t.Errorf("ParseArch(%q) = %v", bad, err)
		}
	}
	p1, p2 := a.Init(5), a.Init(5)
	f1, f2 := p1.Flatten(nil), p2.Flatten(nil)
	for i := range f1 {
		if f1[i] != f2[i] {
			t.Fatal("Init not deterministic")
		}
	}
	if a.Init(6).Tensors[0].Data[0] == f1[0] {
		t.Fatal("Init ignores the seed")
	}
	if p1.Tensors[0].Name != "fc1.weight" || p1.Tensors[0].Shape[0] != 200 || p1.Tensors[0].Shape[1] != 784 {
		t.Fatalf("layout %v %v", p1.Tensors[0].Name, p1.Tensors[0].Shape)
	}
}

func trainOnce(t *testing.T, a Arch, data *Dataset, cfg TrainConfig) *Result {
	t.Helper()
	r, err := NewLocalTrainer(a).Train(context.Background(), a.Init(1), data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTrainDeterministicAndLearns(t *testing.T) {
	sets, err := Synthetic(0.5, 0.5, 3, 11)
	if err != nil {
		t.Fatal(err)
	}
	data := sets[0]
	a, _ := ParseArch("mlp:60-32-10")
	cfg := TrainConfig{Epochs: 5, BatchSize: 10, LR: 0.05, Seed: 3}
	r1 := trainOnce(t, a, data, cfg)
	r2 := trainOnce(t, a, data, cfg)
	assertParamsEqual(t, r1.Params, r2.Params)
	cfg.Seed = 4
	r3 := trainOnce(t, a, data, cfg)
	if r3.Params.Tensors[0].Data[0] == r1.Params.Tensors[0].Data[0] {
		t.Fatal("seed does not change the shuffling")
	}
	l0, _, err := Evaluate(a, a.Init(1), data)
	if err != nil {
		t.Fatal(err)
	}
	l1, acc, _ := Evaluate(a, r1.Params, data)
	if !(l1 < l0) || r1.NumExamples != data.N {
		t.Fatalf("loss %v -> %v, n=%d", l0, l1, r1.NumExamples)
	}
	if r1.Metrics[MetricSteps] != float64(5*((data.N+9)/10)) {
		t.Fatalf("steps = %v", r1.Metrics[MetricSteps])
	}
	t.Logf("synthetic client 0: %d examples, loss %.3f -> %.3f, acc %.3f", data.N, l0, l1, acc)
}

// TestTrainStep checks one full-batch step against w - lr*(g + wd*w + mu*(w-w0)).
func TestTrainStep(t *testing.T) {
	a, _ := ParseArch("logreg:4-3")
	data := toyData(8, 4, 3, 2)
	global := a.Init(9)
	cfg := TrainConfig{Epochs: 1, BatchSize: 0, LR: 0.3, Mu: 0.7, WeightDecay: 0.1}
	r, err := NewLocalTrainer(a).Train(context.Background(), global, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	net := newNetwork(a.Sizes, data.N, float32Gemm(), true)
	net.bind(tensorData(global.Clone()))
	net.forward(data.X, data.N)
	net.softmaxLoss(data.Y, data.N, true, 1/float32(data.N))
	net.backward(data.X, data.N)
	g := append(append([]float32{}, net.dw[1]...), net.db[1]...)
	w := global.Flatten(nil)
	got := r.Params.Flatten(nil)
	for i := range w {
		// At the first step w == w0, so the proximal term vanishes.
		want := w[i] - 0.3*(g[i]+0.1*w[i])
		if math.Abs(float64(got[i]-want)) > 1e-6 {
			t.Fatalf("param %d = %v, want %v", i, got[i], want)
		}
	}
	d, err := r.Delta(global)
	if err != nil || math.Abs(float64(d[0]-(got[0]-w[0]))) > 0 {
		t.Fatalf("Delta: %v", err)
	}
}

// TestTrainProx checks that a large mu keeps the local model near the global one.
func TestTrainProx(t *testing.T) {
	a, _ := ParseArch("logreg:10-3")
	data := toyData(50, 10, 3, 5)
	global := a.Init(2)
	dist := func(mu float64) float64 {
		r, err := NewLocalTrainer(a).Train(context.Background(), global, data, TrainConfig{Epochs: 20, BatchSize: 5, LR: 0.05, Mu: mu, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := r.Delta(global)
		s := 0.0
		for _, v := range d {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s)
	}
	free, prox := dist(0), dist(5)
	if !(prox < free/3) {
		t.Fatalf("||w - w0||: mu=0 %v, mu=5 %v", free, prox)
	}
}

func TestTrainErrors(t *testing.T) {
	a, _ := ParseArch("logreg:4-3")
	data := toyData(8, 4, 3, 2)
	tr := NewLocalTrainer(a)
	good := TrainConfig{Epochs: 1, BatchSize: 2, LR: 0.1}
	ctx := context.Background()
	for name, cfg := range map[string]TrainConfig{
		"epochs": {Epochs: 0, LR: 0.1}, "lr": {Epochs: 1}, "nan lr": {Epochs: 1, LR: math.NaN()},
		"batch": {Epochs: 1, LR: 1, BatchSize: -1}, "mu": {Epochs: 1, LR: 1, Mu: -1}, "wd": {Epochs: 1, LR: 1, WeightDecay: math.Inf(1)},
	} {
		if _, err := tr.Train(ctx, a.Init(1), data, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	other, _ := ParseArch("logreg:5-3")
	if _, err := tr.Train(ctx, other.Init(1), data, good); err == nil {
		t.Error("accepted params of another architecture")
	}
	bad := toyData(8, 4, 3, 2)
	bad.Y[3] = 7
	if _, err := tr.Train(ctx, a.Init(1), bad, good); err == nil {
		t.Error("accepted an out-of-range label")
	}
	if _, err := tr.Train(ctx, a.Init(1), &Dataset{D: 4, Classes: 3}, good); err == nil {
		t.Error("accepted empty data")
	}
	nan := a.Init(1)
	nan.Tensors[0].Data[0] = float32(math.NaN())
	if _, err := tr.Train(ctx, nan, data, good); err == nil {
		t.Error("accepted NaN weights")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tr.Train(cctx, a.Init(1), data, good); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	global := a.Init(1)
	before := global.Flatten(nil)
	if _, err := tr.Train(ctx, global, data, good); err != nil {
		t.Fatal(err)
	}
	for i, v := range global.Flatten(nil) {
		if v != before[i] {
			t.Fatal("Train modified the global params")
		}
	}
	// logreg without sizes takes them from the data.
	bare, _ := ParseArch("logreg")
	if _, err := NewLocalTrainer(bare).Train(ctx, a.Init(1), data, good); err != nil {
		t.Fatal(err)
	}
}

// TestTrainAllocations checks that the training loop allocates nothing per
// step: four epochs allocate as much as one.
func TestTrainAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates per step itself")
	}
	a, _ := ParseArch("mlp:20-16-4")
	data := toyData(200, 20, 4, 1)
	global := a.Init(1)
	tr := NewLocalTrainer(a)
	allocs := func(epochs int) float64 {
		return testing.AllocsPerRun(5, func() {
			if _, err := tr.Train(context.Background(), global, data, TrainConfig{Epochs: epochs, BatchSize: 10, LR: 0.01}); err != nil {
				t.Fatal(err)
			}
		})
	}
	one, four := allocs(1), allocs(4)
	if four > one {
		t.Fatalf("1 epoch: %v allocations, 4 epochs: %v (80 more steps)", one, four)
	}
}
