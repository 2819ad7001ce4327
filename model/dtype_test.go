package model

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/x448/float16"
)

// mixedParams is a small model with every kind of tensor floe handles: the
// float dtypes, integer buffers and a BOOL mask, ordered as safetensors'
// own writers order them (largest element first), so every tensor's data
// is aligned to its element size.
func mixedParams() *Params {
	return &Params{Tensors: []Tensor{
		{Name: "d", Shape: []int{1}, DType: F64, Data: []float32{0.1}},
		{Name: "n", Shape: []int{}, DType: I64, Raw: []byte{7, 0, 0, 0, 0, 0, 0, 0}},
		{Name: "w", Shape: []int{2}, Data: []float32{1, -2}},
		{Name: "i", Shape: []int{2}, DType: I32, Raw: []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
		{Name: "h", Shape: []int{3}, DType: F16, Data: []float32{0.5, -1, 65504}},
		{Name: "b", Shape: []int{2}, DType: BF16, Data: []float32{1.5, -0.25}},
		{Name: "m", Shape: []int{3}, DType: BOOL, Raw: []byte{1, 0, 1}},
	}}
}

// mixedGolden is mixedParams' file, written out by hand.
func mixedGolden() []byte {
	header := `{"__metadata__":{"floe.arch":"file"},` +
		`"b":{"dtype":"BF16","shape":[2],"data_offsets":[38,42]},` +
		`"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},` +
		`"h":{"dtype":"F16","shape":[3],"data_offsets":[32,38]},` +
		`"i":{"dtype":"I32","shape":[2],"data_offsets":[24,32]},` +
		`"m":{"dtype":"BOOL","shape":[3],"data_offsets":[42,45]},` +
		`"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]},` +
		`"w":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}`
	for len(header)%8 != 0 {
		header += " "
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	binary.Write(&b, binary.LittleEndian, float64(float32(0.1))) // F64 holds the float32
	binary.Write(&b, binary.LittleEndian, int64(7))
	binary.Write(&b, binary.LittleEndian, []float32{1, -2})
	binary.Write(&b, binary.LittleEndian, []int32{1, -1})
	binary.Write(&b, binary.LittleEndian, []uint16{0x3800, 0xbc00, 0x7bff}) // F16 0.5, -1, 65504
	binary.Write(&b, binary.LittleEndian, []uint16{0x3fc0, 0xbe80})         // BF16 1.5, -0.25
	b.Write([]byte{1, 0, 1})
	return b.Bytes()
}

// TestSafetensorsMixedGolden checks the exact bytes of a file with every
// dtype kind, and that it decodes back to the same params and bytes.
func TestSafetensorsMixedGolden(t *testing.T) {
	meta := map[string]string{MetaArch: "file"}
	got, err := MarshalSafetensors(mixedParams(), meta)
	if err != nil {
		t.Fatal(err)
	}
	want := mixedGolden()
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes differ:\n got %q\nwant %q", got, want)
	}
	p, meta2, err := UnmarshalSafetensors(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := mixedParams().SameSchema(p); err != nil {
		t.Fatal(err)
	}
	assertParamsEqual(t, mixedParams(), p)
	if p.Len() != 8 || p.Tensor("n").Data != nil || !bytes.Equal(p.Tensor("i").Raw, mixedParams().Tensor("i").Raw) {
		t.Fatalf("decoded %+v", p)
	}
	again, _ := MarshalSafetensors(p, meta2)
	if !bytes.Equal(again, want) {
		t.Fatal("re-encoded bytes differ")
	}
	if err := p.Clone().SameSchema(p); err != nil {
		t.Fatal(err)
	}
}

// TestHalfRoundTrip checks every binary16 value (NaN payloads included)
// through float32 and back, and float32 to binary16 against x448/float16
// on a sweep of bit patterns (ties, subnormals, overflow).
func TestHalfRoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		if got := float32ToHalf(halfToFloat32(uint16(h))); got != uint16(h) {
			t.Fatalf("F16 %#04x -> %v -> %#04x", h, halfToFloat32(uint16(h)), got)
		}
		if want := float16.Frombits(uint16(h)).Float32(); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
			if math.Float32bits(halfToFloat32(uint16(h))) != math.Float32bits(want) {
				t.Fatalf("F16 %#04x decodes to %v, want %v", h, halfToFloat32(uint16(h)), want)
			}
		}
	}
	for b := uint64(0); b < 1<<32; b += 65521 {
		v := math.Float32frombits(uint32(b))
		if v != v {
			continue
		}
		if got, want := float32ToHalf(v), uint16(float16.Fromfloat32(v)); got != want {
			t.Fatalf("%v -> %#04x, want %#04x", v, got, want)
		}
	}
	// Ties go to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
	if got := float32ToHalf(1 + 1.0/2048); got != 0x3c00 {
		t.Fatalf("tie rounded to %#04x", got)
	}
	if got := float32ToHalf(70000); got != 0x7c00 {
		t.Fatalf("overflow gave %#04x, want +Inf", got)
	}
}

// TestBF16RoundTrip checks every bfloat16 value through float32 and back,
// and rounding to nearest even against a float64 reference.
func TestBF16RoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		if got := float32ToBF16(math.Float32frombits(uint32(h) << 16)); got != uint16(h) {
			t.Fatalf("BF16 %#04x -> %#04x", h, got)
		}
	}
	for b := uint64(0); b < 1<<32; b += 65521 {
		v := math.Float32frombits(uint32(b))
		if v != v || math.IsInf(float64(v), 0) {
			continue
		}
		got := float32ToBF16(v)
		// The two bfloat16 neighbours of v, and the nearer one (even on a tie).
		lo := uint16(b >> 16)
		hi := lo + 1
		dlo := math.Abs(float64(v) - float64(math.Float32frombits(uint32(lo)<<16)))
		dhi := math.Abs(float64(v) - bf16Value(hi))
		want := lo
		if dhi < dlo || dhi == dlo && lo&1 == 1 {
			want = hi
		}
		if got != want {
			t.Fatalf("%v (%#08x) -> %#04x, want %#04x", v, b, got, want)
		}
	}
}

// bf16Value is a bfloat16 value as float64, with the pattern just past the
// largest finite one standing for the overflow threshold's infinity.
func bf16Value(h uint16) float64 {
	v := float64(math.Float32frombits(uint32(h) << 16))
	if math.IsInf(v, 0) { // rounding overflows at max + half an ulp
		return math.Copysign(math.Ldexp(2, 127), v)
	}
	return v
}

func TestSetFlatRoundsToDType(t *testing.T) {
	p := mixedParams()
	f := p.Flatten(nil)
	if len(f) != 8 {
		t.Fatalf("flat has %d values", len(f))
	}
	for i := range f {
		f[i] = 1 + 1.0/3
	}
	if err := p.SetFlat(f); err != nil {
		t.Fatal(err)
	}
	if got := p.Tensor("h").Data[0]; got != halfToFloat32(float32ToHalf(1+1.0/3)) || got == 1+1.0/3 {
		t.Fatalf("F16 value %v not rounded", got)
	}
	if got := p.Tensor("w").Data[0]; got != 1+1.0/3 {
		t.Fatalf("F32 value %v changed", got)
	}
	if !bytes.Equal(p.Tensor("n").Raw, mixedParams().Tensor("n").Raw) {
		t.Fatal("SetFlat touched an integer tensor")
	}
}

func TestSchemaChecks(t *testing.T) {
	g := mixedParams()
	for _, c := range []struct {
		name   string
		mutate func(*Params)
		want   string // SameSchema's error; SameLayout passes when empty
		layout bool   // SameLayout fails too
	}{
		{"float dtype", func(p *Params) { p.Tensor("h").DType = F32 }, "dtype F32, want F16", false},
		{"integer width", func(p *Params) { t := p.Tensor("n"); t.DType, t.Raw = I32, t.Raw[:4] }, "dtype I32, want I64", true},
		{"integer as float", func(p *Params) { t := p.Tensor("n"); t.DType, t.Raw, t.Data = F32, nil, []float32{7} }, "dtype F32, want I64", true},
		{"shape", func(p *Params) { p.Tensor("w").Shape = []int{1, 2} }, "shape", true},
		{"name", func(p *Params) { p.Tensors[2].Name = "x" }, `is "x"`, true},
	} {
		q := g.Clone()
		c.mutate(q)
		err := g.SameSchema(q)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: SameSchema = %v, want %q", c.name, err, c.want)
		}
		if lerr := g.SameLayout(q); (lerr != nil) != c.layout {
			t.Errorf("%s: SameLayout = %v", c.name, lerr)
		}
	}
}

func TestValidateDTypes(t *testing.T) {
	for _, p := range []*Params{
		{Tensors: []Tensor{{Name: "a", Shape: []int{1}, DType: "F8_E4M3", Raw: []byte{1}}}},
		{Tensors: []Tensor{{Name: "a", Shape: []int{1}, DType: I64, Raw: []byte{1}}}},
		{Tensors: []Tensor{{Name: "a", Shape: []int{1}, DType: I64, Raw: make([]byte, 8), Data: []float32{1}}}},
		{Tensors: []Tensor{{Name: "a", Shape: []int{1}, DType: F16, Data: []float32{1}, Raw: []byte{}}}},
		{Tensors: []Tensor{{Name: "a", Shape: []int{1}, DType: BOOL, Raw: []byte{2}}}},
	} {
		if _, err := MarshalSafetensors(p, nil); err == nil {
			t.Errorf("accepted %+v", p.Tensors[0])
		}
	}
}
