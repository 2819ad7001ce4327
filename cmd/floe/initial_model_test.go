package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floe-fl/floe/job"
	"github.com/floe-fl/floe/model"
)

func TestJobModel(t *testing.T) {
	p := &model.Params{Tensors: []model.Tensor{
		{Name: "w", Shape: []int{2}, DType: model.F16, Data: []float32{1, 2}},
		{Name: "steps", Shape: []int{}, DType: model.I64, Raw: make([]byte, 8)},
	}}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := model.WriteSafetensorsFile(path, p, nil); err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(path)
	arch, b, err := jobModel(job.Config{InitialModel: path}, nil)
	if err != nil || arch != model.ArchFile || !bytes.Equal(b, file) {
		t.Fatalf("initial_model: %q, %v", arch, err)
	}
	held := &model.Dataset{N: 1, D: 2, Classes: 2, X: make([]float32, 2), Y: []int{0}}
	if _, _, err := jobModel(job.Config{InitialModel: path}, held); err == nil || !strings.Contains(err.Error(), "built-in models only") {
		t.Fatalf("evaluation of a file model: %v", err)
	}
	if _, _, err := jobModel(job.Config{InitialModel: path + ".missing"}, nil); err == nil {
		t.Fatal("a missing file was accepted")
	}
	// A built-in model is generated from the seed, as before.
	arch, b, err = jobModel(job.Config{Model: "logreg", Seed: 3}, held)
	if err != nil || arch != "logreg:2-2" {
		t.Fatalf("logreg: %q, %v", arch, err)
	}
	a, _ := model.ParseArch(arch)
	if want, _ := model.MarshalSafetensors(a.Init(3), map[string]string{model.MetaArch: arch, "floe.round": "0"}); !bytes.Equal(b, want) {
		t.Fatal("built-in initial model changed")
	}
	// A file of a built-in layout that says so is that architecture.
	file, _ = model.MarshalSafetensors(a.Init(1), a.Meta())
	os.WriteFile(path, file, 0o600)
	if arch, _, err := jobModel(job.Config{InitialModel: path}, held); err != nil || arch != "logreg:2-2" {
		t.Fatalf("built-in file: %q, %v", arch, err)
	}
}
