package secagg

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// ErrRingTooSmall is returned by RingBits when no ring Z_{2^k} with k <= 64
// holds the sum.
var ErrRingTooSmall = errors.New("secagg: no ring of at most 64 bits holds the sum")

// ErrWrapped is returned by Encoding.DecodeMean when a sum lies outside the
// range honest inputs can produce: it wrapped around the ring or was
// tampered with.
var ErrWrapped = errors.New("secagg: sum out of range (wrapped or tampered)")

// Encoding is the fixed-point encoding of weighted updates into Z_{2^Bits}.
// An update of dim float32 values becomes dim+1 ring elements: w*x_j*2^f
// stochastically rounded, then the weight w itself.
type Encoding struct {
	Bits      int     // k: ring Z_{2^k}, 1..64
	FracBits  int     // f: scale 2^f, 0..52
	Clip      float64 // c: coordinates are clipped to [-c, c], c > 0
	MaxWeight uint64  // W: largest weight accepted, >= 1
}

// magnitude returns B = ceil(W*c*2^f) computed as the encoder computes, and
// whether it fits below 2^63.
func magnitude(maxWeight uint64, clip float64, fracBits int) (uint64, bool) {
	b := math.Ceil(math.Ldexp(float64(maxWeight)*clip, fracBits))
	if !(b < 1<<63) {
		return 0, false
	}
	return uint64(b), true
}

// RingBits returns the smallest k such that the sum of cohort weighted
// updates, each encoded with weights up to maxWeight, clip c and fracBits,
// cannot wrap in Z_{2^k}: with B = ceil(maxWeight*clip*2^fracBits) and
// M = max(B, maxWeight), it is the least k with cohort*M <= 2^(k-1) - 1.
// Every coordinate sum (and the weight sum) then lies in
// [-(2^(k-1)-1), 2^(k-1)-1] and decodes as a signed k-bit integer.
// It returns ErrRingTooSmall when k would exceed 64.
func RingBits(cohort int, maxWeight uint64, clip float64, fracBits int) (int, error) {
	if cohort < 1 || maxWeight < 1 || !(clip > 0) || math.IsInf(clip, 0) || fracBits < 0 || fracBits > 52 {
		return 0, fmt.Errorf("secagg: invalid ring parameters cohort=%d max_weight=%d clip=%g frac_bits=%d", cohort, maxWeight, clip, fracBits)
	}
	b, ok := magnitude(maxWeight, clip, fracBits)
	if !ok {
		return 0, ErrRingTooSmall
	}
	m := max(b, maxWeight)
	hi, lo := bits.Mul64(uint64(cohort), m)
	if hi != 0 || lo >= 1<<63 {
		return 0, ErrRingTooSmall
	}
	// least k with lo < 2^(k-1): k-1 = bit length of lo.
	return bits.Len64(lo) + 1, nil
}

// NewEncoding returns the Encoding for a cohort with Bits = RingBits(...).
func NewEncoding(cohort int, maxWeight uint64, clip float64, fracBits int) (Encoding, error) {
	k, err := RingBits(cohort, maxWeight, clip, fracBits)
	if err != nil {
		return Encoding{}, err
	}
	return Encoding{Bits: k, FracBits: fracBits, Clip: clip, MaxWeight: maxWeight}, nil
}

// Validate reports whether e is well formed and its ring holds the sum of
// cohort updates. It does not modify e.
func (e Encoding) Validate(cohort int) error {
	k, err := RingBits(cohort, e.MaxWeight, e.Clip, e.FracBits)
	if err != nil {
		return err
	}
	if e.Bits < k || e.Bits > 64 {
		return fmt.Errorf("secagg: ring of %d bits; a cohort of %d needs %d..64", e.Bits, cohort, k)
	}
	return nil
}

// Mask64 returns 2^Bits - 1, the mask reducing a uint64 modulo 2^Bits.
func (e Encoding) Mask64() uint64 { return ringMask(e.Bits) }

func ringMask(k int) uint64 {
	if k >= 64 {
		return math.MaxUint64
	}
	return 1<<uint(k) - 1
}

// signed returns the representative of v in [-2^(k-1), 2^(k-1)).
func signed(v uint64, k int) int64 {
	if k < 64 {
		v &= ringMask(k)
		if v >= 1<<uint(k-1) {
			return int64(v) - int64(1)<<uint(k)
		}
	}
	return int64(v)
}

// Encode writes the encoding of update with the given weight to dst, which
// must have length len(update)+1. Each x is clipped to [-Clip, Clip] (NaN
// becomes 0), t = float64(weight)*x*2^FracBits is rounded down or up with
// probability equal to its fractional part, using the AES-CTR stream keyed
// by seed (32 bytes; use a fresh secret seed per update), and stored modulo
// 2^Bits; dst[len(update)] = weight. Encode panics on a length mismatch.
func (e Encoding) Encode(dst []uint64, update []float32, weight uint64, seed [32]byte) error {
	if len(dst) != len(update)+1 {
		panic("secagg: Encode: len(dst) != len(update)+1")
	}
	if e.Bits < 1 || e.Bits > 64 || e.FracBits < 0 || e.FracBits > 52 || !(e.Clip > 0) {
		return fmt.Errorf("secagg: invalid encoding bits=%d frac_bits=%d clip=%g", e.Bits, e.FracBits, e.Clip)
	}
	if weight < 1 || weight > e.MaxWeight {
		return fmt.Errorf("secagg: weight %d outside [1, %d]", weight, e.MaxWeight)
	}
	mask := ringMask(e.Bits)
	key := sha256.Sum256(append([]byte("floe/secagg/v1 rounding\x00"), seed[:]...))
	rng := newPRG(&key)
	w := float64(weight)
	for i, x := range update {
		v := float64(x)
		switch {
		case v != v:
			v = 0
		case v > e.Clip:
			v = e.Clip
		case v < -e.Clip:
			v = -e.Clip
		}
		t := math.Ldexp(w*v, e.FracBits)
		fl := math.Floor(t)
		z := int64(fl)
		// u uniform in [0,1) with 53 bits; P(u < frac) = frac up to 2^-53.
		if u := float64(rng.Uint64()>>11) * 0x1p-53; u < t-fl {
			z++
		}
		dst[i] = uint64(z) & mask
	}
	dst[len(update)] = weight & mask
	return nil
}

// DecodeMean writes the weighted mean sum_i w_i*x_i / sum_i w_i to dst
// (length len(sum)-1) from the unmasked sum of count encodings, and
// returns the total weight. It returns ErrWrapped when the weight sum is
// not in [count, count*MaxWeight] or a coordinate exceeds the bound
// W_total*Clip*2^FracBits + count that honest encodings respect.
func (e Encoding) DecodeMean(dst []float64, sum []uint64, count int) (uint64, error) {
	if len(dst)+1 != len(sum) {
		panic("secagg: DecodeMean: len(dst)+1 != len(sum)")
	}
	if count < 1 {
		return 0, fmt.Errorf("secagg: DecodeMean: count %d < 1", count)
	}
	ws := signed(sum[len(dst)], e.Bits)
	hi, lo := bits.Mul64(uint64(count), e.MaxWeight)
	if ws < int64(count) || (hi == 0 && uint64(ws) > lo) {
		return 0, fmt.Errorf("%w: weight sum %d for %d inputs", ErrWrapped, ws, count)
	}
	wt := float64(ws)
	bound := math.Ldexp(wt*e.Clip, e.FracBits)*(1+0x1p-40) + float64(count) + 1
	scale := math.Ldexp(1, -e.FracBits) / wt
	for j := range dst {
		s := float64(signed(sum[j], e.Bits))
		if math.Abs(s) > bound {
			return 0, fmt.Errorf("%w: coordinate %d is %g, bound %g", ErrWrapped, j, s, bound)
		}
		dst[j] = s * scale
	}
	return uint64(ws), nil
}
