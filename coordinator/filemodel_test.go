package coordinator_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
)

// TestInitialModelFile runs a job whose initial model is a safetensors file
// of mixed dtypes (F64, I64, F32, F16, BF16) through the real protocol: the
// file is version 0 byte for byte, the round's output keeps every tensor's
// dtype, averages the float ones, keeps the I64 counter, and the built-in
// evaluation skips the non-built-in model without failing the round.
func TestInitialModelFile(t *testing.T) {
	f := newFixtureWith(t, t.TempDir(), func(spec *ledger.JobSpec, _ []string) {
		spec.CohortSize, spec.MinParticipants, spec.Quorum, spec.Rounds = 2, 2, 2, 1
	})
	global := &model.Params{Tensors: []model.Tensor{
		{Name: "bn.running_var", Shape: []int{2}, DType: model.F64, Data: []float32{1, 2}},
		{Name: "bn.num_batches_tracked", Shape: []int{}, DType: model.I64, Raw: binary.LittleEndian.AppendUint64(nil, 42)},
		{Name: "fc.weight", Shape: []int{3, 4}, Data: make([]float32, 12)},
		{Name: "fc.bias", Shape: []int{3}, DType: model.F16, Data: []float32{0, 0, 0}},
		{Name: "emb", Shape: []int{2}, DType: model.BF16, Data: []float32{1, -1}},
	}}
	path := filepath.Join(t.TempDir(), "v0.safetensors")
	if err := model.WriteSafetensorsFile(path, global, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	initial, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	arch, err := model.InitialArch(initial)
	if err != nil || arch != model.ArchFile {
		t.Fatalf("InitialArch = %q, %v", arch, err)
	}

	// A new job on a fresh data directory, from the file.
	f.stopRun()
	<-f.errc
	f.srv.Close()
	f.global, f.spec.Arch = global, arch
	f.cfg.DataDir = t.TempDir()
	f.cfg.Eval = &model.Dataset{N: 1, D: 4, Classes: 3, X: make([]float32, 4), Y: []int{0}}
	srv, err := coordinator.Open(f.ctx, f.cfg, func() (ledger.JobSpec, []byte, error) { return f.spec, initial, nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithCancel(f.ctx)
	f.srv, f.stopRun = srv, cancel
	go func() { f.errc <- srv.Run(ctx) }()

	job := srv.Job().Job
	if job.Arch != model.ArchFile || job.InitialModelHash != ledger.Sum(initial) {
		t.Fatalf("job arch %q, initial hash %v", job.Arch, job.InitialModelHash)
	}
	if v0, err := f.peers[0].st.Get(f.ctx, job.InitialModel); err != nil || !bytes.Equal(v0, initial) {
		t.Fatalf("version 0 is not the file: %v", err)
	}
	cohort := f.registerAndWait(f.peers[:2], 1)
	if len(cohort) != 2 {
		t.Fatalf("cohort %d", len(cohort))
	}
	n := global.Len()
	for i, p := range cohort {
		delta := make([]float32, n)
		for j := range delta {
			delta[j] = float32(i+1) / 4 // means 3/8: exact in every dtype here
		}
		f.expect(p, f.update(p, 1, delta, nil), "")
	}
	c := <-f.heads
	if c.C.Status != ledger.StatusOK || len(c.C.Metrics) != 0 {
		t.Fatalf("round %s, metrics %v", c.C.Status, c.C.Metrics)
	}
	b, err := f.peers[0].st.Get(f.ctx, c.C.OutputModel)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := model.UnmarshalSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := global.SameSchema(out); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(out.Tensor("bn.num_batches_tracked").Raw); got != 42 {
		t.Fatalf("counter %d, want the initial 42", got)
	}
	want := global.Flatten(nil)
	for j, v := range out.Flatten(nil) {
		if v != want[j]+0.375 {
			t.Fatalf("value %d = %v, want %v", j, v, want[j]+0.375)
		}
	}
	if err := <-f.errc; err != nil { // the one-round job is done
		t.Fatalf("coordinator: %v", err)
	}
}
