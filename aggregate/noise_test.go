package aggregate

import (
	"errors"
	"math"
	"testing"
)

func TestDetLogMatchesMathLog(t *testing.T) {
	r := seeded(11)
	for range 200000 {
		x := math.Ldexp(0.5+r.Float64(), r.IntN(2000)-1000)
		got, want := detLog(x), math.Log(x)
		if got != want && math.Abs(got-want) > math.Abs(want)*0x1p-52 {
			t.Fatalf("detLog(%v) = %v, math.Log = %v", x, got, want)
		}
	}
	for _, x := range []float64{1, 2, math.E, 0.5, 1e-300, 1e300} {
		if d := math.Abs(detLog(x) - math.Log(x)); d > 1e-15*math.Max(1, math.Abs(math.Log(x))) {
			t.Errorf("detLog(%v) off by %v", x, d)
		}
	}
	// Subnormals: math.Log's amd64 assembly returns -709.09 for 5e-324
	// (it mishandles subnormals); detLog gives the true -744.44.
	if got, want := detLog(math.SmallestNonzeroFloat64), -1074*math.Ln2; math.Abs(got-want) > 1e-12 {
		t.Errorf("detLog(5e-324) = %v, want %v", got, want)
	}
}

func TestGaussianNoise(t *testing.T) {
	const n = 400000
	v := make([]float32, n)
	AddGaussianNoise(v, 2, [32]byte{1})
	var s, s2, s4 float64
	for _, x := range v {
		f := float64(x)
		s += f
		s2 += f * f
		s4 += f * f * f * f
	}
	mean, vr := s/n, s2/n
	if math.Abs(mean) > 5*2/math.Sqrt(n) {
		t.Errorf("mean %v", mean)
	}
	if math.Abs(vr-4) > 5*4*math.Sqrt(2.0/n) {
		t.Errorf("variance %v, want 4", vr)
	}
	if k := s4 / n / (vr * vr); math.Abs(k-3) > 0.05 { // normal kurtosis
		t.Errorf("kurtosis %v, want 3", k)
	}
	w := make([]float32, n)
	AddGaussianNoise(w, 2, [32]byte{1})
	if sum256F32(v) != sum256F32(w) {
		t.Fatal("same seed gave different noise")
	}
	AddGaussianNoise(w, 2, [32]byte{2})
	if sum256F32(v) == sum256F32(w) {
		t.Fatal("different seeds gave the same noise")
	}
}

func TestCentralDP(t *testing.T) {
	const dim = 20000
	s := Spec{Rule: "fedavg", Params: map[string]float64{"dp_clip": 1, "dp_noise_multiplier": 0}}
	// Clipping only: each update scaled to norm <= 1, unweighted mean.
	us := []Update{
		{"a", 1, make([]float32, dim)},
		{"b", 1000, make([]float32, dim)},
	}
	us[0].Delta[0] = 3 // norm 3 -> clipped to 1
	us[1].Delta[1] = 0.5
	got := run(t, mustNew(t, s, dim), make([]float32, dim), us)
	if got[0] != 0.5 || got[1] != 0.25 {
		t.Fatalf("clipped unweighted mean = %v, %v; want 0.5, 0.25", got[0], got[1])
	}
	if us[0].Delta[0] != 3 {
		t.Fatal("Add modified the caller's update")
	}
	// With noise: a seed is required, the same seed replays, the noise has
	// stddev sigma*C/n per coordinate.
	s.Params["dp_noise_multiplier"] = 2
	a := mustNew(t, s, dim)
	for _, u := range us {
		a.Add(u)
	}
	if err := a.Finish(make([]float32, dim), make([]float32, dim)); !errors.Is(err, ErrNoSeed) {
		t.Fatalf("Finish without seed: %v", err)
	}
	noisy := func(seed byte) []float32 {
		a := mustNew(t, s, dim)
		a.SetNoiseSeed([32]byte{seed})
		return run(t, a, make([]float32, dim), us)
	}
	n1, n2, n3 := noisy(1), noisy(1), noisy(2)
	if sum256F32(n1) != sum256F32(n2) || sum256F32(n1) == sum256F32(n3) {
		t.Fatal("noise not a function of the seed")
	}
	var s2 float64
	for j := 2; j < dim; j++ {
		s2 += float64(n1[j]) * float64(n1[j])
	}
	sd := math.Sqrt(s2 / (dim - 2))
	if want := 2.0 * 1 / 2; math.Abs(sd-want) > 0.05*want {
		t.Fatalf("noise stddev %v, want %v", sd, want)
	}
	if c, on := s.DP(); !on || c.Stddev() != 2 || c.Validate() != nil {
		t.Fatalf("Spec.DP = %+v %v", c, on)
	}
	if (DPConfig{ClipNorm: 0}).Validate() == nil || (DPConfig{ClipNorm: 1, NoiseMultiplier: -1}).Validate() == nil {
		t.Fatal("bad DPConfig accepted")
	}
}
