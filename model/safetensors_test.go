package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

func tinyParams() *Params {
	return &Params{Tensors: []Tensor{
		{Name: "w", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}},
		{Name: "b", Shape: []int{2}, Data: []float32{-1, 0.5}},
		{Name: "s", Shape: []int{}, Data: []float32{7}},
	}}
}

// TestSafetensorsVector checks exact bytes against a hand-made file.
func TestSafetensorsVector(t *testing.T) {
	got, err := MarshalSafetensors(tinyParams(), map[string]string{"z": "1", "a": "x\"y"})
	if err != nil {
		t.Fatal(err)
	}
	header := `{"__metadata__":{"a":"x\"y","z":"1"},` +
		`"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},` +
		`"s":{"dtype":"F32","shape":[],"data_offsets":[24,28]},` +
		`"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`
	for len(header)%8 != 0 {
		header += " "
	}
	var want bytes.Buffer
	binary.Write(&want, binary.LittleEndian, uint64(len(header)))
	want.WriteString(header)
	for _, v := range []float32{1, 2, 3, 4, -1, 0.5, 7} {
		binary.Write(&want, binary.LittleEndian, math.Float32bits(v))
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("bytes differ:\n got %q\nwant %q", got, want.Bytes())
	}
	p, meta, err := UnmarshalSafetensors(got)
	if err != nil {
		t.Fatal(err)
	}
	if meta["a"] != "x\"y" || meta["z"] != "1" || len(meta) != 2 {
		t.Fatalf("meta = %v", meta)
	}
	assertParamsEqual(t, tinyParams(), p)
}

func assertParamsEqual(t *testing.T, want, got *Params) {
	t.Helper()
	if err := want.SameLayout(got); err != nil {
		t.Fatal(err)
	}
	for i := range want.Tensors {
		for j, v := range want.Tensors[i].Data {
			if math.Float32bits(v) != math.Float32bits(got.Tensors[i].Data[j]) {
				t.Fatalf("tensor %q[%d] = %v, want %v", want.Tensors[i].Name, j, got.Tensors[i].Data[j], v)
			}
		}
	}
}

func TestSafetensorsRoundTripModel(t *testing.T) {
	a, _ := ParseArch("mlp:20-7-5-3")
	p := a.Init(1)
	b1, err := MarshalSafetensors(p, a.Meta())
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := MarshalSafetensors(p.Clone(), a.Meta())
	if !bytes.Equal(b1, b2) {
		t.Fatal("marshal is not deterministic")
	}
	q, meta, err := UnmarshalSafetensors(b1)
	if err != nil {
		t.Fatal(err)
	}
	if meta[MetaArch] != "mlp:20-7-5-3" {
		t.Fatalf("meta = %v", meta)
	}
	assertParamsEqual(t, p, q)
	b3, _ := MarshalSafetensors(q, meta)
	if !bytes.Equal(b1, b3) {
		t.Fatal("re-marshalled bytes differ")
	}
	// Header length is a multiple of 8 so tensor data is aligned.
	if binary.LittleEndian.Uint64(b1)%8 != 0 {
		t.Fatal("header not padded to 8 bytes")
	}
}

// file builds a safetensors file from a raw header and data.
func file(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestSafetensorsOtherDtypes(t *testing.T) {
	var data bytes.Buffer
	binary.Write(&data, binary.LittleEndian, math.Float64bits(-2.5))
	binary.Write(&data, binary.LittleEndian, uint16(0x3c00)) // f16 1.0
	binary.Write(&data, binary.LittleEndian, uint16(0xc000)) // f16 -2.0
	binary.Write(&data, binary.LittleEndian, uint16(0x0001)) // f16 smallest subnormal
	binary.Write(&data, binary.LittleEndian, uint16(0x7c00)) // f16 +Inf
	binary.Write(&data, binary.LittleEndian, uint16(0x3fc0)) // bf16 1.5
	h := `{"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[4],"data_offsets":[8,16]},` +
		`"b":{"dtype":"BF16","shape":[1],"data_offsets":[16,18]}}  `
	p, _, err := UnmarshalSafetensors(file(h, data.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float32{{-2.5}, {1, -2, float32(math.Ldexp(1, -24)), float32(math.Inf(1))}, {1.5}}
	for i, w := range want {
		for j := range w {
			if p.Tensors[i].Data[j] != w[j] {
				t.Errorf("tensor %q[%d] = %v, want %v", p.Tensors[i].Name, j, p.Tensors[i].Data[j], w[j])
			}
		}
	}
}

func TestSafetensorsRejects(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, HeaderSizeMax+1)
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"short length", []byte{1, 2, 3}, "truncated"},
		{"header too large", append(huge, '{', '}'), "exceeds limit"},
		{"header truncated", file(`{"a":{}}`, nil)[:10], "truncated"},
		{"data truncated", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32(1)), "truncated"},
		{"trailing bytes", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(2)), "trailing"},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, f32(3)), "overlap"},
		{"hole", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32(2)), "hole"},
		{"unknown dtype", file(`{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, f32(1)), "unknown dtype"},
		{"8-bit float dtype", file(`{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}`, f32(1)), "unsupported dtype"},
		{"complex dtype", file(`{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}`, f32(2)), "unsupported dtype"},
		{"bool not 0 or 1", file(`{"a":{"dtype":"BOOL","shape":[4],"data_offsets":[0,4]}}`, []byte{0, 1, 2, 0}), "not 0 or 1"},
		{"integer size mismatch", file(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,4]}}`, f32(1)), "needs 8 bytes"},
		{"shape mismatch", file(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, f32(2)), "needs 12 bytes"},
		{"end before begin", file(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}`, f32(2)), "end before begin"},
		{"negative dim", file(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, f32(1)), "non-negative"},
		{"float dim", file(`{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}`, f32(1)), "non-negative"},
		{"overflowing shape", file(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, f32(1)), "too large"},
		{"huge number", file(`{"a":{"dtype":"F32","shape":[99999999999999999999999],"data_offsets":[0,4]}}`, f32(1)), "overflows"},
		{"duplicate tensor", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32(2)), "duplicate key"},
		{"duplicate field", file(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(1)), "duplicate dtype"},
		{"unknown field", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, f32(1)), "unknown field"},
		{"missing field", file(`{"a":{"dtype":"F32","shape":[1]}}`, nil), "needs dtype"},
		{"three offsets", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}`, f32(1)), "more than 2"},
		{"not an object", file(`[1,2]`, nil), "start with"},
		{"bad json", file(`{"a":`, nil), "header"},
		{"garbage after object", file(`{} x`, nil), "after the JSON"},
		{"non-string metadata", file(`{"__metadata__":{"k":1}}`, nil), "not a string"},
		{"metadata not object", file(`{"__metadata__":"x"}`, nil), "__metadata__"},
		{"empty name", file(`{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(1)), "empty tensor name"},
		{"invalid utf8", file("{\"\xff\":{}}", nil), "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := UnmarshalSafetensors(c.b)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "model: ") {
				t.Fatalf("error %q, want ErrMalformed containing %q", err, c.want)
			}
		})
	}
}

func TestSafetensorsEmptyAndZeroSize(t *testing.T) {
	p := &Params{Tensors: []Tensor{{Name: "z", Shape: []int{0, 3}, Data: []float32{}}, {Name: "a", Shape: []int{1}, Data: []float32{2}}}}
	b, err := MarshalSafetensors(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, meta, err := UnmarshalSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	if meta != nil || q.Len() != 1 || q.Tensor("a").Data[0] != 2 || q.Tensor("z") == nil {
		t.Fatalf("got %+v %v", q, meta)
	}
	empty, _ := MarshalSafetensors(&Params{}, nil)
	if q, _, err := UnmarshalSafetensors(empty); err != nil || len(q.Tensors) != 0 {
		t.Fatalf("empty: %v %v", q, err)
	}
}

func TestMarshalRejectsBadParams(t *testing.T) {
	for _, p := range []*Params{
		{Tensors: []Tensor{{Name: "a", Shape: []int{2}, Data: []float32{1}}}},
		{Tensors: []Tensor{{Name: "a", Data: []float32{1}}, {Name: "a", Data: []float32{1}}}},
		{Tensors: []Tensor{{Name: "", Data: []float32{1}}}},
		{Tensors: []Tensor{{Name: "__metadata__", Data: []float32{1}}}},
	} {
		if _, err := MarshalSafetensors(p, nil); err == nil {
			t.Errorf("accepted %+v", p)
		}
	}
}

func TestFlatten(t *testing.T) {
	p := tinyParams()
	if p.Len() != 7 {
		t.Fatalf("Len = %d", p.Len())
	}
	f := p.Flatten(nil)
	want := []float32{1, 2, 3, 4, -1, 0.5, 7}
	for i := range want {
		if f[i] != want[i] {
			t.Fatalf("flat = %v", f)
		}
	}
	buf := make([]float32, 0, 100)
	if g := p.Flatten(buf); &g[0] != &buf[:1][0] {
		t.Fatal("Flatten did not reuse dst")
	}
	q := p.Clone()
	for i := range f {
		f[i] *= 2
	}
	if err := q.SetFlat(f); err != nil {
		t.Fatal(err)
	}
	if q.Tensors[2].Data[0] != 14 || p.Tensors[2].Data[0] != 7 {
		t.Fatal("SetFlat or Clone wrong")
	}
	if err := q.SetFlat(f[:3]); err == nil {
		t.Fatal("SetFlat accepted a short vector")
	}
}

// FuzzUnmarshalSafetensors checks that decoding never panics, that every
// accepted file re-encodes to a file that decodes to the same params, and
// that the re-encoded form is canonical: encoding it again after decoding
// gives the same bytes.
func FuzzUnmarshalSafetensors(f *testing.F) {
	b, _ := MarshalSafetensors(tinyParams(), map[string]string{"k": "v"})
	f.Add(b)
	f.Add(file(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}`, []byte{0, 0x3c}))
	f.Add(mixedGolden())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, meta, err := UnmarshalSafetensors(b)
		// ViewSafetensors: the same verdict, and the same model, viewed
		// or copied.
		vp, _, flat, verr := ViewSafetensors(b)
		if (err == nil) != (verr == nil) {
			t.Fatalf("UnmarshalSafetensors: %v, ViewSafetensors: %v", err, verr)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) || !errors.Is(verr, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v / %v", err, verr)
			}
			return
		}
		if err := p.SameSchema(vp); err != nil {
			t.Fatalf("the view's schema: %v", err)
		}
		pflat := p.Flatten(nil)
		if flat != nil {
			sameBits(t, flat, pflat)
		}
		sameBits(t, vp.Flatten(nil), pflat)
		out, err := MarshalSafetensors(p, meta)
		if err != nil {
			t.Fatalf("accepted params do not re-encode: %v", err)
		}
		q, meta2, err := UnmarshalSafetensors(out)
		if err != nil {
			t.Fatalf("re-encoded file rejected: %v", err)
		}
		if len(meta) != len(meta2) {
			t.Fatalf("metadata changed")
		}
		if err := p.SameSchema(q); err != nil {
			t.Fatal(err)
		}
		pf, qf := p.Flatten(nil), q.Flatten(nil)
		for i := range pf {
			if math.Float32bits(pf[i]) != math.Float32bits(qf[i]) {
				t.Fatalf("value %d changed", i)
			}
		}
		for i := range p.Tensors {
			if !bytes.Equal(p.Tensors[i].Raw, q.Tensors[i].Raw) {
				t.Fatalf("raw tensor %q changed", p.Tensors[i].Name)
			}
		}
		again, err := MarshalSafetensors(q, meta2)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-encoding is not canonical: %v", err)
		}
	})
}

// TestSafetensorsReferenceVectors checks byte-for-byte agreement with the
// files the reference implementation (huggingface/safetensors, Rust)
// produces in its own serialization tests for the same tensors.
func TestSafetensorsReferenceVectors(t *testing.T) {
	six := []float32{0, 1, 2, 3, 4, 5}
	le := func(vals []float32) string {
		var b bytes.Buffer
		for _, v := range vals {
			binary.Write(&b, binary.LittleEndian, math.Float32bits(v))
		}
		return b.String()
	}
	cases := []struct {
		name string
		p    *Params
		meta map[string]string
		want string
	}{
		{"empty", &Params{}, nil, "\x08\x00\x00\x00\x00\x00\x00\x00{}      "},
		{"metadata only", &Params{}, map[string]string{"framework": "pt"},
			"\x28\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{\"framework\":\"pt\"}}     "},
		{"attn.0", &Params{Tensors: []Tensor{{Name: "attn.0", Shape: []int{1, 2, 3}, Data: six}}}, nil,
			"\x40\x00\x00\x00\x00\x00\x00\x00{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}" + le(six)},
		{"forced alignment", &Params{Tensors: []Tensor{{Name: "attn0", Shape: []int{1, 1, 2, 3}, Data: six}}}, nil,
			"\x48\x00\x00\x00\x00\x00\x00\x00{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       " + le(six)},
	}
	for _, c := range cases {
		got, err := MarshalSafetensors(c.p, c.meta)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
		if _, _, err := UnmarshalSafetensors([]byte(c.want)); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
