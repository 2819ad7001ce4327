package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const helperEnv = "FLOE_TEST_EXTERNAL_TRAINER"

// TestMain lets the test binary act as an external trainer: when helperEnv
// names a mode, it follows the external-trainer contract (or breaks it in
// that mode's way) instead of running tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv(residentHelperEnv); mode != "" {
		if err := residentHelper(mode); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := helperTrainer(mode); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helperTrainer(mode string) error {
	in, meta, err := ReadSafetensorsFile(os.Getenv(EnvModelIn))
	if err != nil {
		return err
	}
	out, result := os.Getenv(EnvModelOut), os.Getenv(EnvResultOut)
	switch mode {
	case "fail":
		fmt.Fprintln(os.Stderr, "boom: out of memory")
		os.Exit(3)
	case "hang":
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "args":
		// The arguments carry the placeholders' values.
		want := []string{"--in", os.Getenv(EnvModelIn), "--out=" + out, os.Getenv(EnvData), os.Getenv(EnvConfig)}
		if !slices.Equal(os.Args[len(os.Args)-len(want):], want) {
			return fmt.Errorf("args %q, want suffix %q", os.Args, want)
		}
		var cfg trainConfigJSON
		b, _ := os.ReadFile(os.Getenv(EnvConfig))
		if err := json.Unmarshal(b, &cfg); err != nil || cfg.Epochs != 2 || cfg.LR != 0.25 || os.Getenv(EnvSeed) != "9" || os.Getenv("EXTRA") != "yes" {
			return fmt.Errorf("config %s %v env seed %q", b, err, os.Getenv(EnvSeed))
		}
		if err := WriteSafetensorsFile(out, in, nil); err != nil {
			return err
		}
		return os.WriteFile(result, []byte(`{"num_examples":0}`), 0o644)
	case "nooutput":
		return nil
	case "nodata":
		if _, set := os.LookupEnv(EnvData); set {
			return fmt.Errorf("%s set without data", EnvData)
		}
		if err := WriteSafetensorsFile(out, in, nil); err != nil {
			return err
		}
		return os.WriteFile(result, []byte(`{"num_examples":77,"metrics":{"loss":1.5}}`), 0o644)
	case "badjson":
		if err := WriteSafetensorsFile(out, in, nil); err != nil {
			return err
		}
		return os.WriteFile(result, []byte(`{"num_examples":-4}`), 0o644)
	case "shape":
		in.Tensors[0].Shape = []int{len(in.Tensors[0].Data)}
		if err := WriteSafetensorsFile(out, in, nil); err != nil {
			return err
		}
		return os.WriteFile(result, []byte(`{"num_examples":1}`), 0o644)
	case "nan":
		in.Tensors[1].Data[0] = float32(nanValue())
		if err := WriteSafetensorsFile(out, in, nil); err != nil {
			return err
		}
		return os.WriteFile(result, []byte(`{"num_examples":1}`), 0o644)
	case "train":
		b, err := os.ReadFile(os.Getenv(EnvData))
		if err != nil {
			return err
		}
		data, err := UnmarshalDataset(b)
		if err != nil {
			return err
		}
		a, err := ParseArch(meta[MetaArch])
		if err != nil {
			return err
		}
		atoi := func(k string) int { v, _ := strconv.Atoi(os.Getenv(k)); return v }
		atof := func(k string) float64 { v, _ := strconv.ParseFloat(os.Getenv(k), 64); return v }
		seed, _ := strconv.ParseUint(os.Getenv(EnvSeed), 10, 64)
		cfg := TrainConfig{Epochs: atoi(EnvEpochs), BatchSize: atoi(EnvBatchSize), LR: atof(EnvLR), Mu: atof(EnvMu), WeightDecay: atof(EnvWeightDecay), Seed: seed}
		r, err := NewLocalTrainer(a).Train(context.Background(), in, data, cfg)
		if err != nil {
			return err
		}
		slices.Reverse(r.Params.Tensors) // any tensor order is allowed
		if err := WriteSafetensorsFile(out, r.Params, nil); err != nil {
			return err
		}
		rb, _ := json.Marshal(map[string]any{"num_examples": r.NumExamples, "metrics": r.Metrics})
		return os.WriteFile(result, rb, 0o644)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func nanValue() float64 { z := 0.0; return z / z }

func helperCommand(t *testing.T, mode string, args ...string) *ExternalTrainer {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return NewExternalTrainer(append([]string{exe}, args...), WithEnv(helperEnv+"="+mode), WithTempDir(t.TempDir()))
}

// TestExternalTrainerMatchesLocal runs the local trainer inside an external
// process and expects bit-identical weights.
func TestExternalTrainerMatchesLocal(t *testing.T) {
	a, _ := ParseArch("mlp:12-8-4")
	data := toyData(40, 12, 4, 6)
	global := a.Init(3)
	cfg := TrainConfig{Epochs: 3, BatchSize: 7, LR: 0.2, Mu: 0.01, WeightDecay: 1e-3, Seed: 5}
	want, err := NewLocalTrainer(a).Train(context.Background(), global, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := helperCommand(t, "train")
	tr.Meta = a.Meta()
	got, err := tr.Train(context.Background(), global, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertParamsEqual(t, want.Params, got.Params)
	if got.NumExamples != 40 || got.Metrics[MetricSteps] != want.Metrics[MetricSteps] {
		t.Fatalf("result %d %v", got.NumExamples, got.Metrics)
	}
	if ents, _ := os.ReadDir(tr.TempDir); len(ents) != 0 {
		t.Fatalf("working directory left behind: %v", ents)
	}
}

func TestExternalTrainerArgs(t *testing.T) {
	a, _ := ParseArch("logreg:3-2")
	tr := helperCommand(t, "args", "--in", "{model_in}", "--out={model_out}", "{data}", "{config}")
	tr.Env = append(tr.Env, "EXTRA=yes")
	r, err := tr.Train(context.Background(), a.Init(1), toyData(5, 3, 2, 1), TrainConfig{Epochs: 2, LR: 0.25, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if r.NumExamples != 0 || len(r.Metrics) != 0 {
		t.Fatalf("%+v", r)
	}
	// Without data floe sets no FLOE_DATA; the program reports its own count.
	r, err = helperCommand(t, "nodata").Train(context.Background(), a.Init(1), nil, TrainConfig{Epochs: 1, LR: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if r.NumExamples != 77 || r.Metrics["loss"] != 1.5 {
		t.Fatalf("%+v", r)
	}
}

func TestExternalTrainerFailures(t *testing.T) {
	a, _ := ParseArch("logreg:3-2")
	cfg := TrainConfig{Epochs: 1, LR: 0.1}
	for mode, want := range map[string]string{
		"fail":     "boom: out of memory",
		"nooutput": "output model",
		"badjson":  "num_examples -4",
		"shape":    "shape",
		"nan":      "NaN",
	} {
		t.Run(mode, func(t *testing.T) {
			_, err := helperCommand(t, mode).Train(context.Background(), a.Init(1), toyData(5, 3, 2, 1), cfg)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "model: external trainer") {
				t.Fatalf("error %v, want it to mention %q", err, want)
			}
		})
	}
	if _, err := NewExternalTrainer(nil).Train(context.Background(), a.Init(1), nil, cfg); err == nil {
		t.Fatal("empty command accepted")
	}
	if _, err := NewExternalTrainer([]string{"/nonexistent/trainer"}).Train(context.Background(), a.Init(1), nil, cfg); err == nil {
		t.Fatal("missing program accepted")
	}
}

// cancelOnWrite cancels a context at the first write.
type cancelOnWrite struct {
	once   sync.Once
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) { c.once.Do(c.cancel); return len(p), nil }

func TestExternalTrainerCancel(t *testing.T) {
	a, _ := ParseArch("logreg:3-2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := helperCommand(t, "hang")
	tr.Stdout = &cancelOnWrite{cancel: cancel}
	tr.KillDelay = 100 * time.Millisecond
	_, err := tr.Train(ctx, a.Init(1), nil, TrainConfig{Epochs: 1, LR: 0.1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestDatasetFile(t *testing.T) {
	d := toyData(6, 4, 3, 2)
	b, err := MarshalDataset(d)
	if err != nil {
		t.Fatal(err)
	}
	e, err := UnmarshalDataset(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.N != 6 || e.D != 4 || e.Classes != 3 || !slices.Equal(e.X, d.X) || !slices.Equal(e.Y, d.Y) {
		t.Fatal("round trip differs")
	}
	// As params, the labels are an integer tensor: raw bytes, not aggregated.
	if p, _, err := UnmarshalSafetensors(b); err != nil || p.Tensor("y").Type() != I64 || p.Tensor("y").Data != nil || p.Len() != len(d.X) {
		t.Fatalf("a data file decoded as params: %v", err)
	}
}

func TestParseTrainerResult(t *testing.T) {
	r, err := parseTrainerResult([]byte(`{"num_examples": 12, "metrics": {"loss": 0.5}}`))
	if err != nil || r.NumExamples != 12 || r.Metrics["loss"] != 0.5 {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"num_examples":1.5}`, `{"num_examples":"3"}`, `{"num_examples":1,"extra":2}`,
		`{"num_examples":1,"metrics":{"a":"b"}}`, `{"num_examples":1} {}`, `{"num_examples":1e400}`, `{"num_examples":1,"metrics":{"a":1e999}}`} {
		if _, err := parseTrainerResult([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseTrainerResult(f *testing.F) {
	f.Add([]byte(`{"num_examples":3,"metrics":{"x":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseTrainerResult(b)
		if err != nil {
			return
		}
		if r.NumExamples < 0 {
			t.Fatal("negative count accepted")
		}
	})
}

func FuzzUnmarshalDataset(f *testing.F) {
	b, _ := MarshalDataset(toyData(3, 2, 2, 1))
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := UnmarshalDataset(b)
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
