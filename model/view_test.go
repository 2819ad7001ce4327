package model

import (
	"bytes"
	"testing"
	"unsafe"
)

// f32Global is a model whose float tensors are all F32, with an integer
// tensor after them: the layout the views alias.
func f32Global() *Params {
	return &Params{Tensors: []Tensor{
		{Name: "w", Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, 0, 1e-3, -7}},
		{Name: "e", Shape: []int{0}, Data: []float32{}},
		{Name: "b", Shape: []int{2}, Data: []float32{0.25, 9}},
		{Name: "n", Shape: []int{1}, DType: I64, Raw: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
	}}
}

// within reports whether v's values lie in b's bytes.
func within(b []byte, v []float32) bool {
	lo, hi := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))+uintptr(len(b))
	p := uintptr(unsafe.Pointer(&v[0]))
	return p >= lo && p+4*uintptr(len(v)) <= hi
}

// misaligned returns a copy of b starting at an address that is 1 mod 4.
func misaligned(b []byte) []byte {
	buf := make([]byte, len(b)+4)
	for off := range 4 {
		if uintptr(unsafe.Pointer(&buf[off]))%4 == 1 {
			c := buf[off : off+len(b)]
			copy(c, b)
			return c
		}
	}
	panic("no misaligned offset")
}

// TestViewSafetensors: the view gives UnmarshalSafetensors' Params and
// Flatten's values, aliasing the file when the float tensors are F32,
// consecutive and aligned, and copies otherwise.
func TestViewSafetensors(t *testing.T) {
	meta := map[string]string{"round": "3"}
	for _, tc := range []struct {
		name  string
		p     *Params
		view  bool
		shift bool
	}{
		{"f32", f32Global(), true, false},
		{"f32 misaligned", f32Global(), false, true},
		{"mixed dtypes", deltaGlobal(), false, false},
		{"integer between floats", &Params{Tensors: []Tensor{
			{Name: "a", Shape: []int{1}, Data: []float32{1}},
			{Name: "n", Shape: []int{1}, DType: I32, Raw: make([]byte, 4)},
			{Name: "z", Shape: []int{1}, Data: []float32{2}},
		}}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := MarshalSafetensors(tc.p, meta)
			if err != nil {
				t.Fatal(err)
			}
			if tc.shift {
				b = misaligned(b)
			}
			want, wmeta, err := UnmarshalSafetensors(b)
			if err != nil {
				t.Fatal(err)
			}
			got, gmeta, flat, err := ViewSafetensors(b)
			if err != nil {
				t.Fatal(err)
			}
			assertParamsEqual(t, want, got)
			if gmeta["round"] != wmeta["round"] {
				t.Fatalf("metadata %v, want %v", gmeta, wmeta)
			}
			if (flat != nil) != tc.view {
				t.Fatalf("view %v, want %v", flat != nil, tc.view)
			}
			if !tc.view {
				return
			}
			sameBits(t, flat, want.Flatten(nil))
			if !within(b, flat) {
				t.Fatal("the flat view is not in the file's bytes")
			}
			// The view aliases the file: a change to the bytes shows.
			before := got.Tensors[2].Data[1]
			for i := range b {
				b[i] = 0
			}
			if got.Tensors[2].Data[1] == before || flat[len(flat)-1] != 0 {
				t.Fatal("the view does not alias the file")
			}
		})
	}
	if _, _, _, err := ViewSafetensors([]byte("short")); err == nil {
		t.Fatal("a truncated file views")
	}
}

// TestDecodeDeltaViewAliases: on an all-F32 update the view is the file's
// own bytes, and on a misaligned copy it is DecodeDelta's copy into dst.
func TestDecodeDeltaViewAliases(t *testing.T) {
	g := f32Global()
	b, err := MarshalSafetensors(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkDecodeDelta(t, g, b)
	v, aliased, err := DecodeDeltaView(b, g, nil)
	if err != nil || !aliased || !within(b, v) {
		t.Fatalf("aliased %v, err %v", aliased, err)
	}
	m := misaligned(b)
	checkDecodeDelta(t, g, m)
	dst := make([]float32, 0, 16)
	v, aliased, err = DecodeDeltaView(m, g, dst)
	if err != nil || aliased || &v[0] != &dst[:1][0] {
		t.Fatalf("misaligned: aliased %v, err %v, dst not reused", aliased, err)
	}
}

// TestNewSafetensorsF32: filling the view with the model's values gives
// MarshalSafetensors' bytes; layouts it cannot alias say so.
func TestNewSafetensorsF32(t *testing.T) {
	meta := map[string]string{"k": "v", "round": "12"}
	p := f32Global()
	file, flat, ok, err := NewSafetensorsF32(p, meta)
	if err != nil || !ok {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	copy(flat, p.Flatten(nil))
	want, err := MarshalSafetensors(p, meta)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, want) {
		t.Fatalf("file differs from MarshalSafetensors:\n%q\n%q", file, want)
	}
	if _, _, ok, err := NewSafetensorsF32(deltaGlobal(), meta); ok || err != nil {
		t.Fatalf("mixed dtypes: ok %v, err %v", ok, err)
	}
	bad := f32Global()
	bad.Tensors[0].Shape = []int{5}
	if _, _, _, err := NewSafetensorsF32(bad, nil); err == nil {
		t.Fatal("a shape that does not match its values is accepted")
	}
}
