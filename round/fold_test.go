package round

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"testing"
	"unsafe"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/internal/memtest"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
)

// mixedGlobal is a model with every dtype kind: an F64 tensor, an I64
// counter (like BatchNorm's num_batches_tracked), F32, F16 and BF16 tensors.
func mixedGlobal() *model.Params {
	return &model.Params{Tensors: []model.Tensor{
		{Name: "bn.running_mean", Shape: []int{2}, DType: model.F64, Data: []float32{float32(0.1), 1}},
		{Name: "bn.num_batches_tracked", Shape: []int{}, DType: model.I64, Raw: le64(5)},
		{Name: "fc.weight", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}},
		{Name: "half", Shape: []int{3}, DType: model.F16, Data: []float32{1, 1, 1}},
		{Name: "brain", Shape: []int{3}, DType: model.BF16, Data: []float32{1, 1, 1}},
	}}
}

func le64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// foldCase is a round over mixedGlobal: FedAvg of two equal-weight valid
// updates whose deltas are dyadic, so the mean is exact and the expected
// values are known; two more updates are rejected for their dtype and shape.
type foldCase struct {
	job    ledger.JobSpec
	global []byte
	subs   []ledger.SignedSubmission
	files  map[string][]byte
}

func newFoldCase(t *testing.T, rule aggregate.Spec, normBound string) *foldCase {
	t.Helper()
	g := mixedGlobal()
	global, err := model.MarshalSafetensors(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &foldCase{
		job:    ledger.JobSpec{Arch: model.ArchFile, Aggregation: rule.Canonical(), Quorum: 2, NormBound: normBound},
		global: global,
		files:  map[string][]byte{},
	}
	const tie16, tie8 = 1.0 / 2048, 1.0 / 256 // half an F16 and a BF16 ulp at 1
	update := func(name string, delta []float32, counter int64, mutate func(*model.Params)) {
		u := g.Clone()
		if err := u.SetFlat(delta); err != nil {
			t.Fatal(err)
		}
		u.Tensor("bn.num_batches_tracked").Raw = le64(counter) // ignored by the fold
		if mutate != nil {
			mutate(u)
		}
		b, err := model.MarshalSafetensors(u, map[string]string{"floe.kind": "update"})
		if err != nil {
			t.Fatal(err)
		}
		c.files[name] = b
		c.subs = append(c.subs, ledger.SignedSubmission{Sub: ledger.Submission{Participant: name, NumExamples: 10, UpdateHash: ledger.Sum(b)}})
	}
	//            running_mean  fc.weight            half                  brain
	update("p1", []float32{0.5, 0, 1, 0, 0, 0, tie16, 0, 3 * tie16, tie8, 0, 3 * tie8}, 6, nil)
	update("p2", []float32{0.5, 0, 0, 0, 0, 0, tie16, 2 * tie16, 3 * tie16, tie8, 2 * tie8, 3 * tie8}, 7, nil)
	update("p3", make([]float32, 12), 8, func(u *model.Params) { u.Tensor("half").DType = model.F32 })
	update("p4", make([]float32, 12), 9, func(u *model.Params) { u.Tensor("fc.weight").Shape = []int{4} })
	return c
}

func (c *foldCase) fold(t *testing.T) *FoldOutput {
	t.Helper()
	open := func(_ context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		return c.files[s.Sub.Participant], "", nil
	}
	out, err := Fold(context.Background(), FoldInput{Job: &c.job, Round: 1, Global: c.global, Subs: c.subs}, open)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFoldMixedDTypes checks a FedAvg round over F64, I64, F32, F16 and
// BF16 tensors: each float tensor is averaged and rounded to its own dtype
// (ties to even), the I64 counter keeps the global model's value whatever
// the updates hold, and updates with another dtype or shape are rejected
// as ReasonShape. The output's digest is golden: the same bytes under
// -tags noasm (.ci/run tests both builds).
func TestFoldMixedDTypes(t *testing.T) {
	c := newFoldCase(t, aggregate.Spec{Rule: "fedavg"}, "")
	out := c.fold(t)
	if out.Status != ledger.StatusOK || out.Valid != 2 {
		t.Fatalf("status %s (%s), %d valid", out.Status, out.Reason, out.Valid)
	}
	wantReasons := []ledger.Reason{"", "", ledger.ReasonShape, ledger.ReasonShape}
	for i, r := range out.Records {
		if r.Reason != wantReasons[i] {
			t.Errorf("%s: reason %q, want %q", r.Signed.Sub.Participant, r.Reason, wantReasons[i])
		}
	}
	p, _, err := model.UnmarshalSafetensors(out.Model)
	if err != nil {
		t.Fatal(err)
	}
	if err := mixedGlobal().SameSchema(p); err != nil {
		t.Fatalf("output layout: %v", err)
	}
	const ulp16, ulp8 = 1.0 / 1024, 1.0 / 128
	want := map[string][]float32{
		"bn.running_mean": {float32(0.1) + 0.5, 1},
		"fc.weight":       {1.5, 2, 3, 4},
		// means 2^-11, 2^-11, 3*2^-11: the ties go to the even neighbour.
		"half":  {1, 1, 1 + 2*ulp16},
		"brain": {1, 1, 1 + 2*ulp8},
	}
	for name, w := range want {
		got := p.Tensor(name).Data
		for i := range w {
			if got[i] != w[i] {
				t.Errorf("%s[%d] = %v, want %v", name, i, got[i], w[i])
			}
		}
	}
	if got := p.Tensor("bn.num_batches_tracked").Raw; !bytes.Equal(got, le64(5)) {
		t.Errorf("integer tensor = %v, want the global model's 5", got)
	}
	// The F64 tensor is written as the float64 of the float32 result.
	if got := p.Tensor("bn.running_mean").DType; got != model.F64 {
		t.Errorf("running_mean dtype %s", got)
	}
	// The digest covers the tensors, not the metadata (which names the job).
	tensors, err := model.MarshalSafetensors(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tensors)
	const golden = "5cb48f05b304f3f17d4735ed2e9fd48868cd1e1e77c010e31c7b36b790ba6213"
	if hex.EncodeToString(sum[:]) != golden {
		t.Errorf("output model digest %x, want %s", sum, golden)
	}
}

// TestFoldMixedDTypesReproducible folds the same round twice, under a
// robust rule and a norm bound, and expects the same bytes; the norm is the
// whole flattened update's, across dtypes.
func TestFoldMixedDTypesReproducible(t *testing.T) {
	for _, rule := range []aggregate.Spec{{Rule: "fedavg"}, {Rule: "median"}, {Rule: "fedadam"}} {
		c := newFoldCase(t, rule, "")
		a, b := c.fold(t), c.fold(t)
		if !bytes.Equal(a.Model, b.Model) || !bytes.Equal(a.State, b.State) {
			t.Fatalf("%s: two folds differ", rule.Rule)
		}
	}
	// The norm bound applies to the whole flattened update: p1's F64 part
	// (0.5) and its F32 part (1) are each under 1.1, together 1.118 is
	// above it; p2's norm is about 0.5.
	c := newFoldCase(t, aggregate.Spec{Rule: "fedavg"}, "1.1")
	c.job.Quorum = 1
	out := c.fold(t)
	if out.Records[0].Reason != ledger.ReasonNorm || out.Records[1].Reason != "" {
		t.Fatalf("reasons %q, %q", out.Records[0].Reason, out.Records[1].Reason)
	}
}

// misalignedCopy returns a copy of b at an address that is 2 mod 4, so
// that no view of its float32 values is possible.
func misalignedCopy(b []byte) []byte {
	buf := make([]byte, len(b)+4)
	for off := range 4 {
		if uintptr(unsafe.Pointer(&buf[off]))%4 == 2 {
			c := buf[off : off+len(b)]
			copy(c, b)
			return c
		}
	}
	panic("no misaligned offset")
}

// TestFoldViewsMatchCopies: a fold that reads an all-F32 model and its
// updates where they are (model.ViewSafetensors, DecodeDeltaView) and
// writes the output in place (NewSafetensorsF32) gives the bytes of the
// fold that copies them (the same files at misaligned addresses), under
// each kind of rule and with clipping, and leaves its inputs as they were.
func TestFoldViewsMatchCopies(t *testing.T) {
	g := &model.Params{Tensors: []model.Tensor{
		{Name: "a", Shape: []int{3, 4}, Data: make([]float32, 12)},
		{Name: "b", Shape: []int{5}, Data: make([]float32, 5)},
		{Name: "step", Shape: []int{}, DType: model.I64, Raw: le64(3)},
	}}
	for i := range g.Tensors[0].Data {
		g.Tensors[0].Data[i] = float32(i) / 7
	}
	global, err := model.MarshalSafetensors(g, map[string]string{"floe.round": "0"})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var subs []ledger.SignedSubmission
	for k := range 7 {
		u := g.Clone()
		d := make([]float32, 17)
		for j := range d {
			d[j] = float32((k+1)*(j%5)-7) / float32(3+k)
		}
		if err := u.SetFlat(d); err != nil {
			t.Fatal(err)
		}
		b, err := model.MarshalSafetensors(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("p%d", k)
		files[name] = b
		subs = append(subs, ledger.SignedSubmission{Sub: ledger.Submission{Participant: name, NumExamples: uint64(10 + k), UpdateHash: ledger.Sum(b)}})
	}
	fold := func(job *ledger.JobSpec, misaligned bool) *FoldOutput {
		t.Helper()
		in := global
		if misaligned {
			in = misalignedCopy(global)
		}
		before := bytes.Clone(in)
		open := func(_ context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
			b := files[s.Sub.Participant]
			if misaligned {
				return misalignedCopy(b), "", nil
			}
			return b, "", nil // the files themselves: the fold must not write them
		}
		fin := FoldInput{Job: job, Round: 1, Global: in, Subs: subs, NoiseSeed: ledger.Hash{7}}
		var dirty []byte
		if !misaligned {
			// An output buffer full of garbage: the fold must write over
			// every byte of the output it puts there (the copies' fold
			// below writes a new file, and the two must be equal).
			dirty = bytes.Repeat([]byte{0xff}, 4096)
			fin.OutputBuffer = func() []byte { return dirty[:0] }
		}
		out, err := Fold(context.Background(), fin, open)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(in, before) {
			t.Fatal("the fold changed its input model")
		}
		if dirty != nil && out.Status == ledger.StatusOK && &out.Model[0] != &dirty[0] {
			t.Fatal("the fold did not write its output into the buffer it was given")
		}
		return out
	}
	for _, tc := range []struct {
		rule      aggregate.Spec
		normBound string
		clip      bool
	}{
		{aggregate.Spec{Rule: "fedavg"}, "", false},
		{aggregate.Spec{Rule: "fedavg"}, "1.5", true},
		{aggregate.Spec{Rule: "fedadam"}, "", false},
		{aggregate.Spec{Rule: "median"}, "", false},
		{aggregate.Spec{Rule: "krum", Params: map[string]float64{"f": 1}}, "", false},
	} {
		job := &ledger.JobSpec{Arch: model.ArchFile, Aggregation: tc.rule.Canonical(), Quorum: 3, NormBound: tc.normBound, Clip: tc.clip}
		view, cp := fold(job, false), fold(job, true)
		if view.Status != ledger.StatusOK {
			t.Fatalf("%s: status %s (%s)", tc.rule.Rule, view.Status, view.Reason)
		}
		if !bytes.Equal(view.Model, cp.Model) || !bytes.Equal(view.State, cp.State) {
			t.Fatalf("%s (bound %q, clip %v): the fold through views differs from the fold through copies", tc.rule.Rule, tc.normBound, tc.clip)
		}
		if bytes.Equal(view.Model, global) {
			t.Fatalf("%s: the model did not change", tc.rule.Rule)
		}
	}
	for name, b := range files {
		if ledger.Sum(b) != subsHash(subs, name) {
			t.Fatalf("the fold changed update %s", name)
		}
	}
}

func subsHash(subs []ledger.SignedSubmission, name string) ledger.Hash {
	for _, s := range subs {
		if s.Sub.Participant == name {
			return s.Sub.UpdateHash
		}
	}
	return ledger.Hash{}
}

// TestFoldMemory folds six updates of a 32 MiB all-F32 model under
// FedAvg and requires the heap to grow by at most 4.5 times the model
// while it runs: the float64 sum (2x), the output (1x) and the update being
// folded (1x), nothing more. Copies of the input model, of each update's
// values or of the output's (what Fold made before it read files where
// they are) would each add a model's size.
func TestFoldMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("32 MiB fold skipped in -short mode")
	}
	const n = 8 << 20 // float32 parameters: 32 MiB
	g := &model.Params{Tensors: []model.Tensor{
		{Name: "w", Shape: []int{n - 1000}, Data: make([]float32, n-1000)},
		{Name: "b", Shape: []int{1000}, Data: make([]float32, 1000)},
	}}
	global, err := model.MarshalSafetensors(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	var subs []ledger.SignedSubmission
	for k := range 6 {
		subs = append(subs, ledger.SignedSubmission{Sub: ledger.Submission{Participant: fmt.Sprintf("p%d", k), NumExamples: 10}})
	}
	// Two update files; the opener hands the fold a copy of one in a buffer
	// it reuses once the fold asks for the next (round.Opener's contract;
	// the coordinator's fetches do likewise), so no update is garbage.
	var files [2][]byte
	for k := range files {
		u := g.Clone()
		for i := range u.Tensors[0].Data {
			u.Tensors[0].Data[i] = float32(k+1) / 64
		}
		if files[k], err = model.MarshalSafetensors(u, nil); err != nil {
			t.Fatal(err)
		}
	}
	for k := range subs {
		subs[k].Sub.UpdateHash = ledger.Sum(files[k%2])
	}
	var buf []byte
	open := func(_ context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		var k int
		fmt.Sscanf(s.Sub.Participant, "p%d", &k)
		buf = append(buf[:0], files[k%2]...)
		return buf, "", nil
	}
	job := &ledger.JobSpec{Arch: model.ArchFile, Aggregation: aggregate.Spec{Rule: "fedavg"}.Canonical(), Quorum: 6}
	var out *FoldOutput
	grew := memtest.HeapGrowth(func() {
		out, err = Fold(context.Background(), FoldInput{Job: job, Round: 1, Global: global, Subs: subs}, open)
	})
	if err != nil || out.Status != ledger.StatusOK || out.Valid != 6 {
		t.Fatalf("fold: %v %+v", err, out)
	}
	ratio := float64(grew) / float64(len(global))
	t.Logf("the fold grew the heap by %.1f MiB, %.2f times the model", float64(grew)/(1<<20), ratio)
	if ratio > 4.5 {
		t.Fatalf("the fold grew the heap by %.2f times the model, want at most 4.5", ratio)
	}
}

// TestFoldHashVerdictFirst folds updates of more than parallelHashMin
// bytes, whose plaintext hash foldOne computes beside the decoding and
// checks: a wrong hash rejects an update as ReasonHash whatever its values
// (even non-finite, or of another shape), as when the hash was checked
// first; with the right hash the values' own verdicts stand.
func TestFoldHashVerdictFirst(t *testing.T) {
	const n = parallelHashMin/4 + 1000
	g := &model.Params{Tensors: []model.Tensor{{Name: "w", Shape: []int{n}, Data: make([]float32, n)}}}
	global, err := model.MarshalSafetensors(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var subs []ledger.SignedSubmission
	add := func(name string, mutate func(u *model.Params), wrongHash bool) {
		u := g.Clone()
		for i := range u.Tensors[0].Data {
			u.Tensors[0].Data[i] = float32(i%9) / 8
		}
		if mutate != nil {
			mutate(u)
		}
		b, err := model.MarshalSafetensors(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < parallelHashMin {
			t.Fatalf("update of %d bytes: below parallelHashMin", len(b))
		}
		h := ledger.Sum(b)
		if wrongHash {
			h[0] ^= 1
		}
		files[name] = b
		subs = append(subs, ledger.SignedSubmission{Sub: ledger.Submission{Participant: name, NumExamples: 5, UpdateHash: h}})
	}
	nan := func(u *model.Params) { u.Tensors[0].Data[n-1] = float32(math.NaN()) }
	short := func(u *model.Params) { u.Tensors[0].Shape, u.Tensors[0].Data = []int{n - 1}, u.Tensors[0].Data[:n-1] }
	add("a-ok", nil, false)
	add("b-hash", nil, true)
	add("c-nan-hash", nan, true)
	add("d-shape-hash", short, true)
	add("e-nan", nan, false)
	add("f-shape", short, false)
	add("g-ok", nil, false)
	open := func(_ context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		return files[s.Sub.Participant], "", nil
	}
	job := &ledger.JobSpec{Arch: model.ArchFile, Aggregation: aggregate.Spec{Rule: "fedavg"}.Canonical(), Quorum: 2}
	out, err := Fold(context.Background(), FoldInput{Job: job, Round: 1, Global: global, Subs: subs}, open)
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.Reason{"", ledger.ReasonHash, ledger.ReasonHash, ledger.ReasonHash, ledger.ReasonNonFinite, ledger.ReasonShape, ""}
	for i, r := range out.Records {
		if r.Reason != want[i] {
			t.Errorf("%s: reason %q, want %q", r.Signed.Sub.Participant, r.Reason, want[i])
		}
	}
	if out.Status != ledger.StatusOK || out.Valid != 2 {
		t.Fatalf("status %s, %d valid, want ok and 2", out.Status, out.Valid)
	}
}

// TestFoldChecked: the fold does not hash a plaintext the opener vouches
// for (FoldInput.Checked), so an opener must vouch only for what it
// checked: here it vouches for an update with a wrong hash, which is then
// accepted, and the same update is rejected when it does not.
func TestFoldChecked(t *testing.T) {
	g := &model.Params{Tensors: []model.Tensor{{Name: "w", Shape: []int{300000}, Data: make([]float32, 300000)}}}
	global, err := model.MarshalSafetensors(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := g.Clone()
	u.Tensors[0].Data[7] = 1
	file, err := model.MarshalSafetensors(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := ledger.Sum(file)
	bad[3] ^= 1
	subs := []ledger.SignedSubmission{{Sub: ledger.Submission{Participant: "a", NumExamples: 1, UpdateHash: bad}}}
	open := func(context.Context, *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		return bytes.Clone(file), "", nil
	}
	job := &ledger.JobSpec{Arch: model.ArchFile, Aggregation: aggregate.Spec{Rule: "fedavg"}.Canonical(), Quorum: 1}
	for _, vouch := range []bool{false, true} {
		out, err := Fold(context.Background(), FoldInput{Job: job, Round: 1, Global: global, Subs: subs,
			Checked: func(*ledger.SignedSubmission) bool { return vouch }}, open)
		if err != nil {
			t.Fatal(err)
		}
		want := ledger.ReasonHash
		if vouch {
			want = ""
		}
		if got := out.Records[0].Reason; got != want {
			t.Fatalf("opener vouches %v: reason %q, want %q", vouch, got, want)
		}
	}
}
