package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	residentHelperEnv = "FLOE_TEST_RESIDENT_TRAINER"
	// failOnceEnv names a marker file: a helper in a failing mode fails
	// only while the marker does not exist, and creates it.
	failOnceEnv = "FLOE_TEST_FAIL_ONCE"
)

// residentHelper is the test binary acting as a resident trainer: the
// protocol's trainer side in Go, training with the local trainer, or
// breaking the protocol in mode's way.
func residentHelper(mode string) error {
	in, out := os.Stdin, os.Stdout
	reply := func(v any) error { return writeFrame(out, v) }
	failNow := func() bool {
		marker := os.Getenv(failOnceEnv)
		if marker == "" {
			return true
		}
		if _, err := os.Stat(marker); err == nil {
			return false
		}
		os.WriteFile(marker, nil, 0o644)
		return true
	}
	var data *Dataset
	dataID, loads := "", 0
	for {
		b, err := readFrame(in, FrameSizeMax)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var req residentRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return err
		}
		switch req.Type {
		case "hello":
			switch {
			case mode == "badversion":
				reply(map[string]any{"type": "hello", "protocol": ResidentProtocol, "version": 9})
			case mode == "stdout" && failNow():
				fmt.Println("Loading model...") // a print on the protocol's stdout
			case mode == "slowstart":
				time.Sleep(time.Hour)
			default:
				reply(map[string]any{"type": "hello", "protocol": ResidentProtocol, "version": ResidentVersion})
			}
			continue
		case "shutdown":
			if mode == "noexit" {
				time.Sleep(time.Hour)
			}
			return nil
		}
		if req.Type == "train" && mode != "" && mode != "ok" && mode != "noexit" && failNow() {
			switch mode {
			case "crash":
				fmt.Fprintln(os.Stderr, "Segmentation fault (core dumped)")
				os.Exit(139)
			case "hang":
				time.Sleep(time.Hour)
			case "garbage":
				out.Write([]byte{0, 0, 0, 5, 'n', 'o', 'p', 'e', '!'})
				continue
			case "huge":
				out.Write([]byte{0, 0x20, 0, 0})
				out.Write(bytes.Repeat([]byte("x"), 1<<16))
				time.Sleep(time.Hour)
			case "extra":
				reply(map[string]any{"type": "result", "id": req.ID, "num_examples": 1, "surprise": true})
				continue
			case "wrongid":
				reply(map[string]any{"type": "result", "id": req.ID + 7, "num_examples": 1})
				continue
			case "error":
				reply(map[string]any{"type": "error", "id": req.ID, "message": "CUDA out of memory"})
				continue
			case "nomodel":
				reply(map[string]any{"type": "result", "id": req.ID, "num_examples": 1})
				continue
			case "nan":
				p, _, _ := ReadSafetensorsFile(req.ModelIn)
				p.Tensors[0].Data[0] = float32(nanValue())
				WriteSafetensorsFile(req.ModelOut, p, nil)
				reply(map[string]any{"type": "result", "id": req.ID, "num_examples": 1})
				continue
			}
		}
		global, meta, err := ReadSafetensorsFile(req.ModelIn)
		if err != nil {
			return err
		}
		a, err := ParseArch(meta[MetaArch])
		if err != nil {
			return err
		}
		if req.DataID != dataID {
			b, err := os.ReadFile(req.Data)
			if err != nil {
				return err
			}
			if data, err = UnmarshalDataset(b); err != nil {
				return err
			}
			dataID = req.DataID
			loads++
		}
		switch req.Type {
		case "train":
			c := req.Config
			r, err := NewLocalTrainer(a).Train(context.Background(), global, data,
				TrainConfig{Epochs: c.Epochs, Steps: c.Steps, BatchSize: c.BatchSize, LR: c.LR, Mu: c.Mu, WeightDecay: c.WeightDecay, Seed: c.Seed})
			if err != nil {
				return err
			}
			if err := WriteSafetensorsFile(req.ModelOut, r.Params, nil); err != nil {
				return err
			}
			r.Metrics["data_loads"] = float64(loads)
			r.Metrics["pid"] = float64(os.Getpid())
			reply(map[string]any{"type": "result", "id": req.ID, "num_examples": r.NumExamples, "metrics": r.Metrics})
		case "evaluate":
			loss, acc, err := Evaluate(a, global, data)
			if err != nil {
				return err
			}
			reply(map[string]any{"type": "result", "id": req.ID, "num_examples": data.N, "metrics": map[string]float64{"loss": loss, "accuracy": acc}})
		default:
			reply(map[string]any{"type": "error", "id": req.ID, "message": "unknown request " + req.Type})
		}
	}
}

func residentCommand(t *testing.T, mode string) *ResidentTrainer {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tr := NewResidentTrainer([]string{exe}, WithEnv(residentHelperEnv+"="+mode), WithTempDir(t.TempDir()))
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestResidentTrainerMatchesLocal trains three rounds with one program that
// stays up, reads the data file once and gives the local trainer's bits.
func TestResidentTrainerMatchesLocal(t *testing.T) {
	a, _ := ParseArch("mlp:12-8-4")
	data := toyData(40, 12, 4, 6)
	tr := residentCommand(t, "ok")
	tr.Meta = a.Meta()
	global := a.Init(3)
	pid := 0.0
	for r := range 3 {
		cfg := TrainConfig{Epochs: 2, BatchSize: 7, LR: 0.2, Mu: 0.01, WeightDecay: 1e-3, Seed: uint64(5 + r)}
		if r == 2 {
			cfg.Steps = 3
		}
		want, err := NewLocalTrainer(a).Train(context.Background(), global, data, cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tr.Train(context.Background(), global, data, cfg)
		if err != nil {
			t.Fatal(err)
		}
		assertParamsEqual(t, want.Params, got.Params)
		if got.NumExamples != 40 || got.Metrics[MetricSteps] != want.Metrics[MetricSteps] || got.Metrics[MetricTrainLoss] != want.Metrics[MetricTrainLoss] {
			t.Fatalf("round %d: result %d %v, want %v", r, got.NumExamples, got.Metrics, want.Metrics)
		}
		if got.Metrics["data_loads"] != 1 || (pid != 0 && got.Metrics["pid"] != pid) {
			t.Fatalf("round %d: the trainer loaded the data %v times (pid %v, then %v)", r, got.Metrics["data_loads"], pid, got.Metrics["pid"])
		}
		pid = got.Metrics["pid"]
		global = got.Params
	}
	ev, err := tr.Evaluate(context.Background(), global, data)
	if err != nil {
		t.Fatal(err)
	}
	loss, acc, _ := Evaluate(a, global, data)
	if ev.NumExamples != 40 || ev.Metrics["loss"] != loss || ev.Metrics["accuracy"] != acc || ev.Params != nil {
		t.Fatalf("evaluate %+v, want loss %v accuracy %v", ev, loss, acc)
	}
	if tr.Starts() != 1 || tr.DataWrites() != 1 {
		t.Fatalf("%d starts, %d data files", tr.Starts(), tr.DataWrites())
	}
	// Another dataset is written once more.
	if _, err := tr.Train(context.Background(), global, toyData(20, 12, 4, 7), TrainConfig{Epochs: 1, LR: 0.1}); err != nil {
		t.Fatal(err)
	}
	if tr.DataWrites() != 2 {
		t.Fatalf("%d data files", tr.DataWrites())
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(tr.TempDir); len(ents) != 0 {
		t.Fatalf("working directory left behind: %v", ents)
	}
	if _, err := tr.Train(context.Background(), global, data, TrainConfig{Epochs: 1, LR: 0.1}); !errors.Is(err, ErrTrainerClosed) {
		t.Fatalf("train after close: %v", err)
	}
}

// TestResidentTrainerFailures breaks the protocol in every way: each break
// fails its call with a telling error, within bounded time, and the next
// call starts the program again (or, after an error reply, keeps it).
func TestResidentTrainerFailures(t *testing.T) {
	a, _ := ParseArch("logreg:3-2")
	cfg := TrainConfig{Epochs: 1, LR: 0.1}
	for _, c := range []struct {
		mode, want string
		restart    bool
	}{
		{"crash", "Segmentation fault", true},
		{"hang", "deadline exceeded", true},
		{"garbage", "bad message", true},
		{"huge", "frame of 2097152 bytes", true},
		{"extra", "unknown field", true},
		{"wrongid", "protocol error", true},
		{"stdout", "is the trainer printing to stdout?", true},
		{"error", "CUDA out of memory", false},
		{"nomodel", "output model", false},
		{"nan", "NaN", false},
	} {
		t.Run(c.mode, func(t *testing.T) {
			tr := residentCommand(t, c.mode)
			tr.Env = append(tr.Env, failOnceEnv+"="+filepath.Join(t.TempDir(), "failed"))
			tr.Meta = a.Meta()
			tr.CallTimeout = 2 * time.Second
			start := time.Now()
			_, err := tr.Train(context.Background(), a.Init(1), toyData(5, 3, 2, 1), cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "model: resident trainer") {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("the failure took %v", d)
			}
			if c.mode == "hang" && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error %v does not wrap the deadline", err)
			}
			if _, err := tr.Train(context.Background(), a.Init(1), toyData(5, 3, 2, 1), cfg); err != nil {
				t.Fatalf("the call after the failure: %v", err)
			}
			if want := map[bool]int{true: 2, false: 1}[c.restart]; tr.Starts() != want {
				t.Fatalf("%d starts, want %d", tr.Starts(), want)
			}
		})
	}
}

func TestResidentTrainerStart(t *testing.T) {
	a, _ := ParseArch("logreg:3-2")
	cfg := TrainConfig{Epochs: 1, LR: 0.1}
	tr := residentCommand(t, "badversion")
	if _, err := tr.Train(context.Background(), a.Init(1), nil, cfg); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("error %v", err)
	}
	tr = residentCommand(t, "slowstart")
	tr.StartTimeout = 300 * time.Millisecond
	if _, err := tr.Train(context.Background(), a.Init(1), nil, cfg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tr = residentCommand(t, "ok")
	if _, err := tr.Train(ctx, a.Init(1), nil, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if _, err := NewResidentTrainer([]string{"/nonexistent/trainer"}).Train(context.Background(), a.Init(1), nil, cfg); err == nil {
		t.Fatal("missing program accepted")
	}
	if _, err := NewResidentTrainer(nil).Train(context.Background(), a.Init(1), nil, cfg); err == nil {
		t.Fatal("empty command accepted")
	}
}

// TestResidentTrainerCloseKills closes a program that ignores shutdown.
func TestResidentTrainerCloseKills(t *testing.T) {
	a, _ := ParseArch("logreg:3-2")
	tr := residentCommand(t, "noexit")
	tr.Meta = a.Meta()
	tr.KillDelay = 200 * time.Millisecond
	if _, err := tr.Train(context.Background(), a.Init(1), toyData(5, 3, 2, 1), TrainConfig{Epochs: 1, LR: 0.1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := tr.Close(); err == nil || !strings.Contains(err.Error(), "did not exit") {
		t.Fatalf("close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("close took %v", d)
	}
}

func TestReadFrame(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{[]byte{0, 0, 0, 2, '{', '}'}, ""},
		{[]byte{0, 0, 0, 0}, "frame of 0 bytes"},
		{[]byte{0, 0x10, 0, 1}, "frame of 1048577 bytes"},
		{[]byte{0, 0, 0, 3, '{', '}'}, "unexpected EOF"},
		{[]byte{0, 0}, "unexpected EOF"},
	} {
		b, err := readFrame(bytes.NewReader(c.in), FrameSizeMax)
		if c.want == "" {
			if err != nil || string(b) != "{}" {
				t.Errorf("%v: %q %v", c.in, b, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.in, err, c.want)
		}
	}
	var buf bytes.Buffer
	if err := writeFrame(&buf, map[string]string{"type": "x"}); err != nil {
		t.Fatal(err)
	}
	if b, err := readFrame(&buf, FrameSizeMax); err != nil || string(b) != `{"type":"x"}` {
		t.Fatalf("%q %v", b, err)
	}
}
