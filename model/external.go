package model

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Files and environment variables of the external-trainer contract (see the
// package documentation).
const (
	EnvModelIn     = "FLOE_MODEL_IN"
	EnvModelOut    = "FLOE_MODEL_OUT"
	EnvResultOut   = "FLOE_RESULT_OUT"
	EnvConfig      = "FLOE_CONFIG"
	EnvData        = "FLOE_DATA"
	EnvWorkDir     = "FLOE_WORKDIR"
	EnvEpochs      = "FLOE_EPOCHS"
	EnvSteps       = "FLOE_STEPS"
	EnvBatchSize   = "FLOE_BATCH_SIZE"
	EnvLR          = "FLOE_LR"
	EnvMu          = "FLOE_MU"
	EnvWeightDecay = "FLOE_WEIGHT_DECAY"
	EnvSeed        = "FLOE_SEED"

	// ResultSizeMax bounds the result JSON an external trainer writes.
	ResultSizeMax = 1 << 20
)

// ExternalTrainer runs a program that trains the model (see the package
// documentation for its contract). Its fields may be set before the first
// Train call and must not change afterwards; Train is safe for concurrent use.
type ExternalTrainer struct {
	// Command is the program and its arguments; placeholders such as
	// {model_in} are replaced in the arguments.
	Command []string
	// TempDir is where working directories are created (os.TempDir if empty).
	TempDir string
	// Env holds extra "KEY=value" entries for the program's environment,
	// which otherwise inherits this process's.
	Env []string
	// Stdout and Stderr receive the program's output (discarded if nil; the
	// end of stderr is quoted in errors either way).
	Stdout, Stderr io.Writer
	// Meta is written as the input model's safetensors metadata.
	Meta map[string]string
	// KillDelay is how long a cancelled program's output pipes may stay open
	// after it is killed (default 2 s).
	KillDelay time.Duration
}

// ExternalOption configures an ExternalTrainer.
type ExternalOption func(*ExternalTrainer)

// WithTempDir sets where working directories are created.
func WithTempDir(dir string) ExternalOption { return func(t *ExternalTrainer) { t.TempDir = dir } }

// WithEnv adds "KEY=value" entries to the program's environment.
func WithEnv(kv ...string) ExternalOption {
	return func(t *ExternalTrainer) { t.Env = append(t.Env, kv...) }
}

// WithOutput forwards the program's stdout and stderr.
func WithOutput(stdout, stderr io.Writer) ExternalOption {
	return func(t *ExternalTrainer) { t.Stdout, t.Stderr = stdout, stderr }
}

// WithMeta sets the input model file's metadata (e.g. Arch.Meta()).
func WithMeta(meta map[string]string) ExternalOption {
	return func(t *ExternalTrainer) { t.Meta = meta }
}

// NewExternalTrainer returns a Trainer that runs command once per Train call.
func NewExternalTrainer(command []string, opts ...ExternalOption) *ExternalTrainer {
	t := &ExternalTrainer{Command: append([]string(nil), command...)}
	for _, o := range opts {
		o(t)
	}
	return t
}

// trainConfigJSON is config.json.
type trainConfigJSON struct {
	Epochs      int     `json:"epochs"`
	Steps       int     `json:"steps"`
	BatchSize   int     `json:"batch_size"`
	LR          float64 `json:"lr"`
	Mu          float64 `json:"mu"`
	WeightDecay float64 `json:"weight_decay"`
	Seed        uint64  `json:"seed"`
}

// Train implements Trainer.
func (t *ExternalTrainer) Train(ctx context.Context, global *Params, data *Dataset, cfg TrainConfig) (*Result, error) {
	if len(t.Command) == 0 || t.Command[0] == "" {
		return nil, errors.New("model: external trainer has no command")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if global == nil {
		return nil, errors.New("model: nil global params")
	}
	if err := global.CheckFinite(); err != nil {
		return nil, err
	}
	in, err := MarshalSafetensors(global, t.Meta)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(t.TempDir, "floe-train-*")
	if err != nil {
		return nil, fmt.Errorf("model: external trainer: %w", err)
	}
	defer os.RemoveAll(dir)
	paths := map[string]string{
		"model_in":   filepath.Join(dir, "model_in.safetensors"),
		"model_out":  filepath.Join(dir, "model_out.safetensors"),
		"result_out": filepath.Join(dir, "result.json"),
		"config":     filepath.Join(dir, "config.json"),
		"data":       "",
		"workdir":    dir,
	}
	if err := os.WriteFile(paths["model_in"], in, 0o600); err != nil {
		return nil, fmt.Errorf("model: external trainer: %w", err)
	}
	cj, _ := json.Marshal(trainConfigJSON{cfg.Epochs, cfg.Steps, cfg.BatchSize, cfg.LR, cfg.Mu, cfg.WeightDecay, cfg.Seed})
	if err := os.WriteFile(paths["config"], cj, 0o600); err != nil {
		return nil, fmt.Errorf("model: external trainer: %w", err)
	}
	if data != nil && data.N > 0 {
		db, err := MarshalDataset(data)
		if err != nil {
			return nil, err
		}
		paths["data"] = filepath.Join(dir, "data.safetensors")
		if err := os.WriteFile(paths["data"], db, 0o600); err != nil {
			return nil, fmt.Errorf("model: external trainer: %w", err)
		}
	}

	args := make([]string, len(t.Command)-1)
	for i, a := range t.Command[1:] {
		for _, k := range []string{"model_in", "model_out", "result_out", "config", "data", "workdir"} {
			a = strings.ReplaceAll(a, "{"+k+"}", paths[k])
		}
		args[i] = a
	}
	cmd := exec.CommandContext(ctx, t.Command[0], args...)
	cmd.Env = append(os.Environ(), t.Env...)
	cmd.Env = append(cmd.Env,
		EnvModelIn+"="+paths["model_in"], EnvModelOut+"="+paths["model_out"],
		EnvResultOut+"="+paths["result_out"], EnvConfig+"="+paths["config"], EnvWorkDir+"="+dir,
		EnvEpochs+"="+strconv.Itoa(cfg.Epochs), EnvSteps+"="+strconv.Itoa(cfg.Steps), EnvBatchSize+"="+strconv.Itoa(cfg.BatchSize),
		EnvLR+"="+strconv.FormatFloat(cfg.LR, 'g', -1, 64), EnvMu+"="+strconv.FormatFloat(cfg.Mu, 'g', -1, 64),
		EnvWeightDecay+"="+strconv.FormatFloat(cfg.WeightDecay, 'g', -1, 64),
		EnvSeed+"="+strconv.FormatUint(cfg.Seed, 10))
	if paths["data"] != "" {
		cmd.Env = append(cmd.Env, EnvData+"="+paths["data"])
	}
	tail := &tailBuffer{max: 2048}
	cmd.Stderr = tail
	if t.Stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, t.Stderr)
	}
	cmd.Stdout = t.Stdout
	cmd.WaitDelay = t.KillDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 2 * time.Second
	}
	name := filepath.Base(t.Command[0])
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("model: external trainer %s stopped: %w", name, ctx.Err())
		}
		return nil, fmt.Errorf("model: external trainer %s failed: %v%s", name, err, tail.quote())
	}
	out, err := readExternalModel(paths["model_out"], global)
	if err != nil {
		return nil, fmt.Errorf("model: external trainer %s: %w%s", name, err, tail.quote())
	}
	rb, err := readLimited(paths["result_out"], ResultSizeMax)
	if err != nil {
		return nil, fmt.Errorf("model: external trainer %s: result: %w%s", name, err, tail.quote())
	}
	res, err := parseTrainerResult(rb)
	if err != nil {
		return nil, fmt.Errorf("model: external trainer %s: %w%s", name, err, tail.quote())
	}
	res.Params = out
	return res, nil
}

// readExternalModel reads the program's model and puts its tensors in the
// order of global, requiring the same names and shapes and finite values.
func readExternalModel(path string, global *Params) (*Params, error) {
	// F64 output is twice F32; allow for that plus a generous header.
	b, err := readLimited(path, int64(8*global.Len())+int64(64*len(global.Tensors))+1<<20)
	if err != nil {
		return nil, fmt.Errorf("output model: %w", err)
	}
	p, _, err := UnmarshalSafetensors(b)
	if err != nil {
		return nil, fmt.Errorf("output model: %w", err)
	}
	if len(p.Tensors) != len(global.Tensors) {
		return nil, fmt.Errorf("output model has %d tensors, input had %d", len(p.Tensors), len(global.Tensors))
	}
	ordered := &Params{Tensors: make([]Tensor, len(global.Tensors))}
	for i := range global.Tensors {
		t := p.Tensor(global.Tensors[i].Name)
		if t == nil {
			return nil, fmt.Errorf("output model lacks tensor %q", global.Tensors[i].Name)
		}
		ordered.Tensors[i] = *t
	}
	if err := global.SameLayout(ordered); err != nil {
		return nil, fmt.Errorf("output model: %w", err)
	}
	if err := ordered.CheckFinite(); err != nil {
		return nil, fmt.Errorf("output model: %w", err)
	}
	return ordered, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", filepath.Base(path), limit)
	}
	return b, nil
}

// parseTrainerResult decodes the result JSON strictly: an object with an
// integer num_examples >= 0 and optional finite numeric metrics, nothing else.
func parseTrainerResult(b []byte) (*Result, error) {
	var raw struct {
		NumExamples json.RawMessage    `json:"num_examples"`
		Metrics     map[string]float64 `json:"metrics"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("result JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("result JSON: data after the object")
	}
	return checkResult(raw.NumExamples, raw.Metrics)
}

// checkResult checks a trainer's num_examples (an integer >= 0) and
// metrics (finite) and returns them as a Result without Params.
func checkResult(numExamples json.RawMessage, raw map[string]float64) (*Result, error) {
	if numExamples == nil {
		return nil, errors.New("result JSON: missing num_examples")
	}
	n, err := strconv.ParseInt(string(numExamples), 10, 64)
	if err != nil || n < 0 || n > 1<<53 {
		return nil, fmt.Errorf("result JSON: num_examples %s is not a non-negative integer", numExamples)
	}
	metrics := make(map[string]float64, len(raw))
	for k, v := range raw {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("result JSON: metric %q is not finite", k)
		}
		metrics[k] = v
	}
	return &Result{NumExamples: int(n), Metrics: metrics}, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) quote() string {
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return "; stderr: " + strconv.Quote(s)
}

// MarshalDataset encodes a dataset as a safetensors file holding "x" (F32,
// [N, D]) and "y" (I64, [N]), with metadata {"classes": "K"}: the data file
// external trainers read.
func MarshalDataset(d *Dataset) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	header := buildHeader(map[string]string{"classes": strconv.Itoa(d.Classes)}, []tensorSpec{
		{"x", "F32", []int{d.N, d.D}, 4 * len(d.X)},
		{"y", "I64", []int{d.N}, 8 * len(d.Y)},
	})
	b := make([]byte, 8+len(header)+4*len(d.X)+8*len(d.Y))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	off := 8 + copy(b[8:], header)
	for _, v := range d.X {
		binary.LittleEndian.PutUint32(b[off:], math.Float32bits(v))
		off += 4
	}
	for _, y := range d.Y {
		binary.LittleEndian.PutUint64(b[off:], uint64(y))
		off += 8
	}
	return b, nil
}

// UnmarshalDataset decodes the file MarshalDataset writes.
func UnmarshalDataset(b []byte) (*Dataset, error) {
	infos, meta, data, err := decodeSafetensors(b)
	if err != nil {
		return nil, err
	}
	classes, err := strconv.Atoi(meta["classes"])
	if err != nil || classes < 2 || classes > 1<<20 {
		return nil, malformed("dataset: metadata classes %q is not an integer in [2, %d]", meta["classes"], 1<<20)
	}
	var x, y *tensorInfo
	for i := range infos {
		switch infos[i].name {
		case "x":
			x = &infos[i]
		case "y":
			y = &infos[i]
		}
	}
	if len(infos) != 2 || x == nil || y == nil {
		return nil, malformed("dataset: want exactly tensors x and y")
	}
	if x.dtype != "F32" || len(x.shape) != 2 || y.dtype != "I64" || len(y.shape) != 1 || x.shape[0] != y.shape[0] || x.shape[1] < 1 {
		return nil, malformed("dataset: want x F32 [N, D>0] and y I64 [N], got x %s %v, y %s %v", x.dtype, x.shape, y.dtype, y.shape)
	}
	d := &Dataset{N: x.shape[0], D: x.shape[1], Classes: classes, X: make([]float32, x.numElements), Y: make([]int, y.numElements)}
	xs, ys := data[x.begin:x.end], data[y.begin:y.end]
	for i := range d.X {
		d.X[i] = math.Float32frombits(binary.LittleEndian.Uint32(xs[4*i:]))
	}
	for i := range d.Y {
		v := int64(binary.LittleEndian.Uint64(ys[8*i:]))
		if v < 0 || v >= int64(classes) {
			return nil, malformed("dataset: label %d of example %d outside [0, %d)", v, i, classes)
		}
		d.Y[i] = int(v)
	}
	return d, nil
}
