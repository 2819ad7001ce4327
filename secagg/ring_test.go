package secagg

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestRingBits(t *testing.T) {
	for _, tc := range []struct {
		cohort    int
		maxWeight uint64
		clip      float64
		frac      int
		want      int
		err       bool
	}{
		{3, 5, 1, 0, 5, false},            // 3*5 = 15 = 2^4-1: exactly at the bound
		{4, 5, 1, 0, 6, false},            // 20 > 15
		{1, 1, 1, 0, 2, false},            // 1 <= 2^1-1
		{2, 8, 1, 0, 6, false},            // 16 = 2^4: one over 2^4-1
		{10, 1, 1, 16, 21, false},         // 10*65536 = 655360 < 2^20
		{1000, 1 << 20, 4, 20, 53, false}, // 1000*2^42 < 2^52
		{1000, 1 << 40, 1, 20, 0, true},
		{0, 1, 1, 0, 0, true},
		{1, 0, 1, 0, 0, true},
		{1, 1, 0, 0, 0, true},
	} {
		got, err := RingBits(tc.cohort, tc.maxWeight, tc.clip, tc.frac)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("RingBits(%d, %d, %g, %d) = %d, %v; want %d, err=%v", tc.cohort, tc.maxWeight, tc.clip, tc.frac, got, err, tc.want, tc.err)
		}
		if tc.err && tc.cohort > 0 && tc.maxWeight > 0 && tc.clip > 0 && !errors.Is(err, ErrRingTooSmall) {
			t.Errorf("want ErrRingTooSmall, got %v", err)
		}
	}
}

// TestRingBound: cohort updates at the clip bound with the maximum weight
// decode exactly in the ring RingBits chose; one more update wraps, and
// DecodeMean detects it.
func TestRingBound(t *testing.T) {
	const cohort, w = 3, 5
	e, err := NewEncoding(cohort, w, 1, 0)
	if err != nil || e.Bits != 5 {
		t.Fatalf("NewEncoding = %+v, %v", e, err)
	}
	for _, x := range []float32{1, -1} {
		sum := make([]uint64, 2)
		one := make([]uint64, 2)
		for i := range cohort + 1 {
			if err := e.Encode(one, []float32{x}, w, [32]byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			for j := range sum {
				sum[j] = (sum[j] + one[j]) & e.Mask64()
			}
			mean := make([]float64, 1)
			tw, err := e.DecodeMean(mean, sum, i+1)
			switch {
			case i+1 <= cohort:
				if err != nil || tw != uint64(w*(i+1)) || mean[0] != float64(x) {
					t.Errorf("x=%v n=%d: mean %v weight %d err %v", x, i+1, mean[0], tw, err)
				}
				if s := signed(sum[0], e.Bits); s != int64(x)*int64(w*(i+1)) {
					t.Errorf("x=%v n=%d: sum %d", x, i+1, s)
				}
			default:
				if !errors.Is(err, ErrWrapped) {
					t.Errorf("x=%v n=%d above the bound: err = %v, want ErrWrapped", x, i+1, err)
				}
			}
		}
	}
	if err := (Encoding{Bits: 4, Clip: 1, MaxWeight: w}).Validate(cohort); err == nil {
		t.Error("Validate accepted a 4-bit ring for the 5-bit bound")
	}
}

// TestEncodeRoundTrip: one update decodes within 2^-f/w of its clipped
// value.
func TestEncodeRoundTrip(t *testing.T) {
	r := rand.New(seeded(1))
	for _, w := range []uint64{1, 3, 1000} {
		e, err := NewEncoding(10, 1000, 2, 16)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 1000)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		x[0], x[1], x[2] = 5, -5, float32(math.NaN())
		enc := make([]uint64, len(x)+1)
		if err := e.Encode(enc, x, w, [32]byte{1}); err != nil {
			t.Fatal(err)
		}
		got := make([]float64, len(x))
		if tw, err := e.DecodeMean(got, enc, 1); err != nil || tw != w {
			t.Fatalf("DecodeMean: %d, %v", tw, err)
		}
		tol := math.Ldexp(1, -e.FracBits) / float64(w)
		for i, v := range x {
			want := math.Max(-e.Clip, math.Min(e.Clip, float64(v)))
			if v != v {
				want = 0
			}
			if d := math.Abs(got[i] - want); d >= tol {
				t.Fatalf("w=%d i=%d: got %v want %v (err %g >= %g)", w, i, got[i], want, d, tol)
			}
		}
	}
}

// TestStochasticRoundingUnbiased: the mean of many encodings of 1/3 at
// f=0 is 1/3 within five standard errors.
func TestStochasticRoundingUnbiased(t *testing.T) {
	e := Encoding{Bits: 32, FracBits: 0, Clip: 1, MaxWeight: 1}
	const n = 20000
	x := make([]float32, n)
	for i := range x {
		x[i] = 1.0 / 3
	}
	enc := make([]uint64, n+1)
	if err := e.Encode(enc, x, 1, [32]byte{9}); err != nil {
		t.Fatal(err)
	}
	s := 0.0
	for _, v := range enc[:n] {
		s += float64(signed(v, 32))
	}
	m := s / n
	se := math.Sqrt(float64(float32(1.0/3))*(1-float64(float32(1.0/3)))/n) * 5
	if math.Abs(m-float64(float32(1.0/3))) > se {
		t.Errorf("mean of roundings %v, want %v +- %v", m, 1.0/3, se)
	}
}
