package aggregate

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// edgeF32 returns values that stress rounding: subnormals, large
// magnitudes, exact halves, signed zeros.
func edgeF32(r interface{ Float64() float64 }, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		switch i % 7 {
		case 0:
			v[i] = float32(r.Float64()*2 - 1)
		case 1:
			v[i] = float32(math.Ldexp(r.Float64(), -140)) // subnormal float32
		case 2:
			v[i] = float32(math.Ldexp(r.Float64()-0.5, 100))
		case 3:
			v[i] = float32(math.Copysign(0, r.Float64()-0.5))
		default:
			v[i] = float32((r.Float64() - 0.5) * 1e-3)
		}
	}
	return v
}

// TestAxpyKernelMatchesReference: the serial kernel (SSE2 assembly on
// amd64 unless built with noasm) equals the pure-Go reference loop bit for
// bit, for every length, offset and weight tried.
func TestAxpyKernelMatchesReference(t *testing.T) {
	r := seeded(21)
	for _, w := range []float64{1, 3, 0.1, 1e-300, 12345.678, -2.5} {
		for n := 0; n < 70; n++ {
			for off := range 3 {
				x := edgeF32(r, n+off)[off:]
				a := make([]float64, n+off)[off:]
				for i := range a {
					a[i] = (r.Float64() - 0.5) * math.Ldexp(1, r.IntN(40)-20)
				}
				b := append([]float64(nil), a...)
				axpy32Serial(a, w, x)
				for i := range b {
					b[i] = float64(w*float64(x[i])) + b[i]
				}
				for i := range a {
					if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
						t.Fatalf("w=%v n=%d off=%d i=%d: kernel %v, reference %v (asm %v)", w, n, off, i, a[i], b[i], haveAxpyAsm)
					}
				}
			}
		}
	}
}

// TestAddBatchEqualsAdd: AddBatch gives the same bytes as one Add per
// update, for batch sizes that do and do not divide the cohort, and an
// invalid batch adds nothing.
func TestAddBatchEqualsAdd(t *testing.T) {
	const dim = 30011
	for _, s := range []Spec{{Rule: "fedavg"}, {Rule: "fedadam"}, {Rule: "fedavg", Params: map[string]float64{"dp_clip": 0.3}}, {Rule: "median"}} {
		r := seeded(31)
		us := randUpdates(r, 13, dim, 0.05)
		global := randVec(r, dim)
		want := sum256F32(run(t, mustNew(t, s, dim), global, us))
		for _, k := range []int{1, 2, 4, 5, 13} {
			a := mustNew(t, s, dim)
			for i := 0; i < len(us); i += k {
				if err := a.AddBatch(us[i:min(i+k, len(us))]); err != nil {
					t.Fatal(err)
				}
			}
			dst := make([]float32, dim)
			if err := a.Finish(global, dst); err != nil {
				t.Fatal(err)
			}
			if sum256F32(dst) != want {
				t.Fatalf("%s: AddBatch(k=%d) differs from Add", s.Rule, k)
			}
		}
		a := mustNew(t, s, dim)
		bad := []Update{us[0], {Participant: "zzz", NumExamples: 1, Delta: make([]float32, 3)}}
		if err := a.AddBatch(bad); err == nil || a.Len() != 0 {
			t.Fatalf("%s: invalid batch: err %v, Len %d", s.Rule, err, a.Len())
		}
		if err := a.AddBatch([]Update{us[1], us[0]}); err == nil || a.Len() != 0 {
			t.Fatalf("%s: out-of-order batch accepted", s.Rule)
		}
	}
}

// TestDistLanesMatchesReference: the lane kernel (SSE2 on amd64) equals
// the per-lane Go loop bit for bit.
func TestDistLanesMatchesReference(t *testing.T) {
	r := seeded(22)
	for n := 0; n < 90; n++ {
		x, y := edgeF32(r, n), edgeF32(r, n)
		var got, want [8]float64
		for k := range got {
			got[k] = r.Float64()
			want[k] = got[k]
		}
		distLanes(&got, x, y)
		for i := range x {
			d := float64(x[i]) - float64(y[i])
			want[i%8] = float64(d*d) + want[i%8]
		}
		if got != want {
			t.Fatalf("n=%d: kernel %v, reference %v", n, got, want)
		}
	}
}

func TestF32Key(t *testing.T) {
	r := seeded(23)
	vals := append(edgeF32(r, 2000), 0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32)
	for _, a := range vals {
		if keyF32(f32key(a)) != a || math.Signbit(float64(keyF32(f32key(a)))) != math.Signbit(float64(a)) {
			t.Fatalf("round trip of %v", a)
		}
		for _, b := range vals[:50] {
			if a < b && f32key(a) >= f32key(b) || a > b && f32key(a) <= f32key(b) {
				t.Fatalf("order of %v, %v", a, b)
			}
		}
	}
	if f32key(float32(math.Copysign(0, -1))) >= f32key(0) {
		t.Fatal("-0 must sort before +0")
	}
}

func TestAddBatchErrorNamesUpdate(t *testing.T) {
	a := mustNew(t, Spec{Rule: "fedavg"}, 2)
	err := a.AddBatch([]Update{{"a", 1, []float32{1, 2}}, {"b", 0, []float32{1, 2}}})
	var re *RejectError
	if !errors.As(err, &re) || re.Reason != ReasonExamples || !strings.Contains(err.Error(), `update 1 (participant "b")`) {
		t.Fatalf("AddBatch error %v", err)
	}
}
