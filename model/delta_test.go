package model

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// deltaGlobal is a global model of mixed dtypes for DecodeDelta's tests.
func deltaGlobal() *Params {
	return &Params{Tensors: []Tensor{
		{Name: "w", Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, 0, 1e-3, -7}},
		{Name: "h", Shape: []int{4}, DType: F16, Data: []float32{0.5, -1, 2, 0.25}},
		{Name: "n", Shape: []int{1}, DType: I64, Raw: make([]byte, 8)},
		{Name: "d", Shape: []int{2}, DType: F64, Data: []float32{1.5, -0.125}},
		{Name: "b", Shape: []int{3}, DType: BF16, Data: []float32{1, 2, 3}},
	}}
}

// checkDecodeDelta compares DecodeDelta with UnmarshalSafetensors,
// SameSchema and Flatten on b: the same verdict, the same bits.
func checkDecodeDelta(t *testing.T, global *Params, b []byte) {
	t.Helper()
	got, err := DecodeDelta(b, global, nil)
	p, _, uerr := UnmarshalSafetensors(b)
	switch {
	case uerr != nil:
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("UnmarshalSafetensors refuses (%v), DecodeDelta says %v", uerr, err)
		}
	case global.SameSchema(p) != nil:
		if !errors.Is(err, ErrSchema) {
			t.Fatalf("SameSchema refuses (%v), DecodeDelta says %v", global.SameSchema(p), err)
		}
	default:
		if err != nil {
			t.Fatalf("the old path accepts, DecodeDelta: %v", err)
		}
		sameBits(t, got, p.Flatten(nil))
	}
	// DecodeDeltaView: DecodeDelta's verdict and bits, a view only of b.
	view, aliased, verr := DecodeDeltaView(b, global, nil)
	if (verr == nil) != (err == nil) || (err != nil && (errors.Is(err, ErrMalformed) != errors.Is(verr, ErrMalformed) || errors.Is(err, ErrSchema) != errors.Is(verr, ErrSchema))) {
		t.Fatalf("DecodeDelta says %v, DecodeDeltaView %v", err, verr)
	}
	if err == nil {
		sameBits(t, view, got)
		if aliased && len(view) > 0 && !within(b, view) {
			t.Fatal("DecodeDeltaView says aliased, its values are not in b")
		}
	}
}

func sameBits(t *testing.T, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("value %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// TestDecodeDelta: on an update of the global model, one of another shape,
// dtype or name, and truncated or corrupted files, DecodeDelta agrees with
// the path it replaces, and it reuses the buffer it is given.
func TestDecodeDelta(t *testing.T) {
	g := deltaGlobal()
	good, err := MarshalSafetensors(g, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	checkDecodeDelta(t, g, good)
	buf := make([]float32, 0, 64)
	out, err := DecodeDelta(good, g, buf)
	if err != nil || &out[0] != &buf[:1][0] {
		t.Fatalf("buffer not reused: %v", err)
	}
	for _, mutate := range []func(p *Params){
		func(p *Params) { p.Tensors[0].Shape = []int{3, 2} },
		func(p *Params) { p.Tensors[1].DType = BF16 },
		func(p *Params) { p.Tensors[3].Name = "e" },
		func(p *Params) { p.Tensors = p.Tensors[:4] },
		func(p *Params) { p.Tensors[2].DType, p.Tensors[2].Raw = I32, make([]byte, 4) },
	} {
		p := deltaGlobal()
		mutate(p)
		b, err := MarshalSafetensors(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkDecodeDelta(t, g, b)
	}
	checkDecodeDelta(t, g, good[:len(good)-1])
	bad := append([]byte(nil), good...)
	bad[9] = '['
	checkDecodeDelta(t, g, bad)
}

// FuzzDecodeDelta: whatever the bytes, DecodeDelta gives the old path's
// verdict and bits.
func FuzzDecodeDelta(f *testing.F) {
	g := deltaGlobal()
	good, _ := MarshalSafetensors(g, nil)
	f.Add(good)
	f.Add(good[:20])
	if b, err := MarshalSafetensors(f32Global(), nil); err == nil {
		f.Add(b)
	}
	if dir := os.Getenv("FLOE_WRITE_CORPUS"); dir != "" {
		p := deltaGlobal()
		p.Tensors[1].DType = BF16
		other, _ := MarshalSafetensors(p, nil)
		f32, _ := MarshalSafetensors(f32Global(), nil)
		for name, b := range map[string][]byte{"good": good, "truncated": good[:20], "other-dtype": other, "all-f32": f32} {
			os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644)
		}
	}
	f32 := f32Global()
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeDelta(t, g, b)
		checkDecodeDelta(t, f32, b)
	})
}
