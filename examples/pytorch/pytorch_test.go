package pytorch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/sims"
)

// torchPython returns a python3 that can import torch, or skips the test.
func torchPython(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, py := range []string{os.Getenv("FLOE_PYTHON"), "python3", "/usr/bin/python3"} {
		if py == "" {
			continue
		}
		if out, err := exec.Command(py, "-c", "import torch, numpy").CombinedOutput(); err == nil {
			return py
		} else {
			tried = append(tried, fmt.Sprintf("%s (%s)", py, lastLine(out, err)))
		}
	}
	t.Skipf("torch cannot be imported by %s: skipping the PyTorch example (apt-get install python3-torch python3-numpy, or set FLOE_PYTHON)", strings.Join(tried, ", "))
	return ""
}

func lastLine(out []byte, err error) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if l := lines[len(lines)-1]; l != "" {
		return l
	}
	return err.Error()
}

func mnist(t *testing.T) (train, test *model.Dataset) {
	t.Helper()
	dir, ok := model.FindMNIST()
	if !ok {
		t.Skip("MNIST not found: set FLOE_MNIST_DIR (see README)")
	}
	train, test, err := model.LoadMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	return train, test
}

func first(d *model.Dataset, from, n int) *model.Dataset {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = from + i
	}
	return d.Subset(idx)
}

// resident returns mnist_cnn.py as a resident trainer of the given model,
// one torch thread (participants train side by side).
func resident(t *testing.T, py, spec string) *model.ResidentTrainer {
	tr := model.NewResidentTrainer([]string{py, "mnist_cnn.py", "--model", spec},
		model.WithEnv("FLOE_TORCH_THREADS=1"), model.WithOutput(nil, os.Stderr), model.WithTempDir(t.TempDir()))
	tr.CallTimeout = 5 * time.Minute
	return tr
}

// loadStrict loads a model file into spec's torch.nn.Module with
// load_state_dict(strict=True) in a fresh Python.
func loadStrict(t *testing.T, py, spec string, p *model.Params) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "final.safetensors")
	if err := model.WriteSafetensorsFile(path, p, nil); err != nil {
		t.Fatal(err)
	}
	script := `import sys
sys.path.insert(0, "../../python")
import floe_trainer, mnist_cnn
m = mnist_cnn.build(sys.argv[1])
m.load_state_dict(floe_trainer.load_state(sys.argv[2]), strict=True)
print("loaded", len(m.state_dict()), "tensors strictly")`
	out, err := exec.Command(py, "-c", script, spec, path).CombinedOutput()
	if err != nil {
		t.Fatalf("strict load: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

// TestSimPyTorchMLP runs floe sim with the PyTorch trainer, resident, as its
// participants' trainer: three participants, three rounds of 600 local
// examples each (12 steps of 50), on the job model mlp:784-64-10 whose
// tensors a torch module of fc1, fc2 holds. Accuracy must improve, the
// chain must audit, and a model version must load back strictly.
func TestSimPyTorchMLP(t *testing.T) {
	py := torchPython(t)
	dir, ok := model.FindMNIST()
	if !ok {
		t.Skip("MNIST not found: set FLOE_MNIST_DIR (see README)")
	}
	const spec = "mlp:784-64-10"
	o := sims.DefaultOptions()
	o.Net, o.Dataset, o.DataDir, o.Arch = "memory", "mnist", dir, spec
	o.Participants, o.Cohort, o.Rounds, o.Epochs, o.Batch, o.LR, o.LocalSteps = 3, 3, 3, 1, 50, 0.1, 12
	o.Out = t.TempDir()
	var mu sync.Mutex
	var last *model.Params
	o.Trainer = func() model.Trainer {
		return recorder{resident(t, py, spec), func(p *model.Params) { mu.Lock(); last = p; mu.Unlock() }}
	}
	start := time.Now()
	var accs []float64
	res, err := sims.Run(context.Background(), o, func(r sims.RoundStat) {
		t.Logf("round %d: %s, %d accepted, accuracy %.4f, %.2fs", r.Round, r.Status, r.Accepted, r.Accuracy, r.Seconds)
		accs = append(accs, r.Accuracy)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3 rounds in %.1fs", time.Since(start).Seconds())
	if len(accs) != 3 || !(accs[2] > accs[0]) || accs[2] < 0.5 {
		t.Fatalf("accuracy per round %v: want it to improve (and pass 0.5)", accs)
	}
	if res.Audit == nil || res.Audit.Err() != nil {
		t.Fatalf("audit: %v", res.Audit.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	loadStrict(t, py, spec, last)
}

// recorder is a trainer that records the global model it was given, and
// closes the trainer it wraps.
type recorder struct {
	*model.ResidentTrainer
	saw func(*model.Params)
}

func (r recorder) Train(ctx context.Context, global *model.Params, data *model.Dataset, cfg model.TrainConfig) (*model.Result, error) {
	r.saw(global)
	return r.ResidentTrainer.Train(ctx, global, data, cfg)
}

// TestCNNFederation trains the CNN with three resident trainers (600
// examples each, one epoch of batches of 50 a round) for three rounds,
// averaging the models by example count, and evaluates the global model
// through the trainer's evaluate on 1000 test examples.
func TestCNNFederation(t *testing.T) {
	py := torchPython(t)
	train, test := mnist(t)
	spec := cnnSpec()
	init := filepath.Join(t.TempDir(), "init.safetensors")
	if out, err := exec.Command(py, "mnist_cnn.py", "--model", spec, "--init", init, "--seed", "3").CombinedOutput(); err != nil {
		t.Fatalf("initial model: %v\n%s", err, out)
	}
	global, _, err := model.ReadSafetensorsFile(init)
	if err != nil {
		t.Fatal(err)
	}
	testSet := first(test, 0, 1000)
	var trainers []*model.ResidentTrainer
	var local []*model.Dataset
	for i := 0; i < 3; i++ {
		local = append(local, first(train, 600*i, 600))
		tr := resident(t, py, spec)
		defer tr.Close()
		trainers = append(trainers, tr)
	}
	eval := func() float64 {
		r, err := trainers[0].Evaluate(context.Background(), global, testSet)
		if err != nil {
			t.Fatal(err)
		}
		return r.Metrics["accuracy"]
	}
	acc0 := eval()
	t.Logf("model %s, %d parameters; accuracy before training %.4f", spec, global.Len(), acc0)
	acc := acc0
	for round := 1; round <= 3; round++ {
		start := time.Now()
		results := make([]*model.Result, len(trainers))
		errs := make([]error, len(trainers))
		var wg sync.WaitGroup
		for i, tr := range trainers {
			wg.Go(func() {
				results[i], errs[i] = tr.Train(context.Background(), global, local[i],
					model.TrainConfig{Epochs: 1, BatchSize: 50, LR: 0.05, Seed: uint64(100*round + i)})
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		sum := make([]float64, global.Len())
		total := 0
		for _, r := range results {
			for j, v := range r.Params.Flatten(nil) {
				sum[j] += float64(r.NumExamples) * float64(v)
			}
			total += r.NumExamples
		}
		flat := make([]float32, len(sum))
		for j := range sum {
			flat[j] = float32(sum[j] / float64(total))
		}
		next := global.Clone()
		if err := next.SetFlat(flat); err != nil {
			t.Fatal(err)
		}
		global = next
		acc = eval()
		t.Logf("round %d: accuracy %.4f, train loss %.4f (participant 0), %.2fs", round, acc, results[0].Metrics["train_loss"], time.Since(start).Seconds())
	}
	if !(acc > acc0+0.2) {
		t.Fatalf("accuracy %.4f -> %.4f: want an improvement", acc0, acc)
	}
	for i, tr := range trainers {
		if want := map[bool]int{true: 2, false: 1}[i == 0]; tr.Starts() != 1 || tr.DataWrites() != want { // trainer 0 also evaluates
			t.Fatalf("trainer started %d times, wrote %d data files", tr.Starts(), tr.DataWrites())
		}
	}
	loadStrict(t, py, spec, global)
}

// cnnSpec is "cnn" (BatchNorm with running statistics and its int64
// num_batches_tracked) when floe's model files hold integer tensors, and
// "cnn-nostats" (an all-float32 state_dict) before.
func cnnSpec() string {
	b, err := model.MarshalDataset(&model.Dataset{N: 1, D: 1, Classes: 2, X: []float32{0}, Y: []int{1}})
	if err != nil {
		return "cnn-nostats"
	}
	if _, _, err := model.UnmarshalSafetensors(b); err == nil {
		return "cnn"
	}
	return "cnn-nostats"
}

// TestSimPyTorchCNN runs floe sim on the FedAvg CNN (two conv layers with
// BatchNorm) brought as the job's initial model file: three participants
// train it with the resident PyTorch trainer (torch.optim), the
// coordinator evaluates every version with the same program as its
// evaluator, three rounds. Accuracy must improve, the chain must audit
// (the BatchNorm counters are integer tensors kept from the global model),
// and a model version must load back into the module strictly.
func TestSimPyTorchCNN(t *testing.T) {
	py := torchPython(t)
	dir, ok := model.FindMNIST()
	if !ok {
		t.Skip("MNIST not found: set FLOE_MNIST_DIR (see README)")
	}
	spec := cnnSpec()
	init := filepath.Join(t.TempDir(), "init.safetensors")
	if out, err := exec.Command(py, "mnist_cnn.py", "--model", spec, "--init", init, "--seed", "3").CombinedOutput(); err != nil {
		t.Fatalf("initial model: %v\n%s", err, out)
	}
	b, err := os.ReadFile(init)
	if err != nil {
		t.Fatal(err)
	}
	o := sims.DefaultOptions()
	o.Net, o.Dataset, o.DataDir, o.InitialModel = "memory", "mnist", dir, b
	o.Participants, o.Cohort, o.Rounds, o.Epochs, o.Batch, o.LR, o.LocalSteps = 3, 3, 3, 1, 50, 0.05, 12
	o.Out = t.TempDir()
	var mu sync.Mutex
	var last *model.Params
	o.Trainer = func() model.Trainer {
		return recorder{resident(t, py, spec), func(p *model.Params) { mu.Lock(); last = p; mu.Unlock() }}
	}
	o.Evaluator = func() coordinator.Evaluator { return resident(t, py, spec) }
	var accs []float64
	res, err := sims.Run(context.Background(), o, func(r sims.RoundStat) {
		t.Logf("round %d: %s, %d accepted, accuracy %.4f, %.2fs", r.Round, r.Status, r.Accepted, r.Accuracy, r.Seconds)
		accs = append(accs, r.Accuracy)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(accs) != 3 || !(accs[2] > accs[0]) {
		t.Fatalf("accuracy per round %v: want it to improve", accs)
	}
	if res.Audit == nil || res.Audit.Err() != nil {
		t.Fatalf("audit: %v", res.Audit.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	loadStrict(t, py, spec, last)
}
