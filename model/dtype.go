package model

import (
	"encoding/binary"
	"math"

	"github.com/x448/float16"
)

// DType is a tensor's element type, spelled as in safetensors headers.
type DType string

// The dtypes floe reads and writes. The float ones are aggregated; the
// others are carried as raw bytes.
const (
	F32  DType = "F32"
	F64  DType = "F64"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U64  DType = "U64"
	U32  DType = "U32"
	U16  DType = "U16"
	U8   DType = "U8"
	BOOL DType = "BOOL"
)

// supportedSize gives the element size of every dtype Params can hold.
var supportedSize = map[DType]int{
	F32: 4, F64: 8, F16: 2, BF16: 2,
	I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
}

// Size reports the element size in bytes of d and whether Params can hold
// d at all (the 8-bit float and complex dtypes of safetensors cannot).
func (d DType) Size() (int, bool) {
	n, ok := supportedSize[d]
	return n, ok
}

// IsFloat reports whether d is one of the aggregated float dtypes: F32,
// F64, F16 or BF16.
func (d DType) IsFloat() bool { return d == F32 || d == F64 || d == F16 || d == BF16 }

// decodeFloats converts the little-endian values of a float tensor to
// float32: F16 and BF16 exactly, F64 rounded to nearest (ties to even).
func decodeFloats(d DType, raw []byte, dst []float32) {
	switch d {
	case F32:
		for j := range dst {
			dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
	case F64:
		for j := range dst {
			dst[j] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*j:])))
		}
	case BF16:
		for j := range dst {
			dst[j] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*j:])) << 16)
		}
	case F16:
		for j := range dst {
			dst[j] = halfToFloat32(binary.LittleEndian.Uint16(raw[2*j:]))
		}
	default:
		panic("model: decodeFloats of " + string(d))
	}
}

// encodeFloats writes src as little-endian values of dtype d into dst,
// which holds len(src) elements: F32 as is, F64 exactly, F16 and BF16
// rounded to nearest, ties to even (overflow gives an infinity, as IEEE 754
// rounding says; a NaN keeps its sign and the top bits of its payload).
func encodeFloats(d DType, src []float32, dst []byte) {
	switch d {
	case F32:
		for j, v := range src {
			binary.LittleEndian.PutUint32(dst[4*j:], math.Float32bits(v))
		}
	case F64:
		for j, v := range src {
			binary.LittleEndian.PutUint64(dst[8*j:], math.Float64bits(float64(v)))
		}
	case BF16:
		for j, v := range src {
			binary.LittleEndian.PutUint16(dst[2*j:], float32ToBF16(v))
		}
	case F16:
		for j, v := range src {
			binary.LittleEndian.PutUint16(dst[2*j:], float32ToHalf(v))
		}
	default:
		panic("model: encodeFloats of " + string(d))
	}
}

// roundTo rounds every value of x to the nearest value of dtype d (a no-op
// for F32 and F64).
func roundTo(d DType, x []float32) {
	switch d {
	case F16:
		for j, v := range x {
			x[j] = halfToFloat32(float32ToHalf(v))
		}
	case BF16:
		for j, v := range x {
			x[j] = math.Float32frombits(uint32(float32ToBF16(v)) << 16)
		}
	}
}

// float32ToHalf converts to IEEE 754 binary16, rounding to nearest with
// ties to even (x448/float16, checked by its author on all 2^32 inputs). A
// NaN keeps its sign, its quiet bit and the top 10 bits of its payload, so
// that every binary16 value survives halfToFloat32 and back.
func float32ToHalf(v float32) uint16 {
	if v != v {
		h, _ := float16.FromNaN32ps(v)
		return uint16(h)
	}
	return uint16(float16.Fromfloat32(v))
}

// float32ToBF16 converts to bfloat16 (the top half of a float32), rounding
// to nearest with ties to even. A NaN keeps its sign and the top 7 bits of
// its payload, made quiet when they would be zero.
func float32ToBF16(v float32) uint16 {
	b := math.Float32bits(v)
	if v != v {
		h := uint16(b >> 16)
		if h&0x7f == 0 {
			h |= 0x40
		}
		return h
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// halfToFloat32 converts an IEEE 754 binary16 value exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: value = frac * 2^-24
		v := float32(frac) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	}
}
