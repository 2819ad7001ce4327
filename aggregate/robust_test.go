package aggregate

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestValidator(t *testing.T) {
	var re *RejectError
	v := Validator{Dim: 4, NormBound: 5}
	cases := []struct {
		d      []float32
		reason string
	}{
		{[]float32{1, 2, 3}, ReasonShape},
		{[]float32{1, 2, 3, 4, 5}, ReasonShape},
		{[]float32{1, float32(math.NaN()), 0, 0}, ReasonNonFinite},
		{[]float32{1, 0, float32(math.Inf(-1)), 0}, ReasonNonFinite},
		{[]float32{3, 4, 0, 0.1}, ReasonNorm},
		{[]float32{3, 4, 0, 0}, ""},
	}
	for _, c := range cases {
		clipped, err := v.Check(c.d)
		if c.reason == "" {
			if err != nil || clipped {
				t.Errorf("%v: %v %v", c.d, clipped, err)
			}
			continue
		}
		if !errors.As(err, &re) || re.Reason != c.reason {
			t.Errorf("%v: got %v, want reason %q", c.d, err, c.reason)
		}
	}
	v.Clip = true
	d := []float32{30, 40, 0, 0}
	clipped, err := v.Check(d)
	if err != nil || !clipped || d[0] != 3 || d[1] != 4 {
		t.Fatalf("clip: %v %v %v", d, clipped, err)
	}
	if n := Norm(d); math.Abs(n-5) > 1e-6 {
		t.Fatalf("clipped norm %v", n)
	}
	// Clipping never hides non-finite values.
	if _, err := v.Check([]float32{float32(math.Inf(1)), 0, 0, 0}); !errors.As(err, &re) || re.Reason != ReasonNonFinite {
		t.Fatalf("clip of Inf: %v", err)
	}
	// Norm uses the fixed lane order; it equals a naive sum closely.
	r := seeded(5)
	x := randVec(r, 10001)
	var naive float64
	for _, e := range x {
		naive += float64(e) * float64(e)
	}
	if got := Norm(x); math.Abs(got-math.Sqrt(naive)) > 1e-9*got {
		t.Fatalf("Norm %v, naive %v", got, math.Sqrt(naive))
	}
}

// byzantineRound builds n honest updates clustered around a common mean and
// f Byzantine ones of the given kind, interleaved in participant order.
func byzantineRound(seed uint64, n, f, dim int, kind string) (us []Update, lo, hi []float32) {
	r := seeded(seed)
	mu := randVec(r, dim)
	lo = make([]float32, dim)
	hi = make([]float32, dim)
	for j := range lo {
		lo[j], hi[j] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	for i := range n {
		d := make([]float32, dim)
		byz := i%(n/f) == 0 && i/(n/f) < f
		for j := range d {
			h := mu[j] + float32(0.1*r.NormFloat64())
			switch {
			case !byz:
				d[j] = h
				lo[j] = min(lo[j], h)
				hi[j] = max(hi[j], h)
			case kind == "huge":
				d[j] = 1e30
			case kind == "signflip":
				d[j] = -10 * h
			}
		}
		ex := uint64(10)
		if byz {
			ex = 1000 // Byzantine participants also claim many examples
		}
		us = append(us, Update{Participant: fmt.Sprintf("peer-%03d", i), NumExamples: ex, Delta: d})
	}
	return us, lo, hi
}

// TestByzantine: with f Byzantine updates (huge values or scaled sign
// flips), median, trimmed mean, Krum and Multi-Krum stay inside the range
// of the honest updates in every coordinate; FedAvg does not.
func TestByzantine(t *testing.T) {
	const n, f, dim = 20, 4, 500
	robustSpecs := []Spec{
		{Rule: "median"},
		{Rule: "trimmedmean", Params: map[string]float64{"beta": 0.2}},
		{Rule: "krum", Params: map[string]float64{"f": f}},
		{Rule: "multikrum", Params: map[string]float64{"f": f, "m": n - f}},
	}
	for _, kind := range []string{"huge", "signflip"} {
		for seed := uint64(1); seed <= 3; seed++ {
			us, lo, hi := byzantineRound(seed, n, f, dim, kind)
			global := make([]float32, dim)
			for _, s := range robustSpecs {
				got := run(t, mustNew(t, s, dim), global, us)
				for j := range got {
					if got[j] < lo[j] || got[j] > hi[j] {
						t.Fatalf("%s/%s seed %d: coord %d = %v outside honest range [%v, %v]", s.Rule, kind, seed, j, got[j], lo[j], hi[j])
					}
				}
			}
			got := run(t, mustNew(t, Spec{Rule: "fedavg"}, dim), global, us)
			outside := 0
			for j := range got {
				if got[j] < lo[j] || got[j] > hi[j] {
					outside++
				}
			}
			if outside < dim*9/10 {
				t.Fatalf("fedavg/%s seed %d: only %d of %d coordinates outside the honest range", kind, seed, outside, dim)
			}
		}
	}
}

func TestRobustRulesSmall(t *testing.T) {
	us := []Update{
		{"a", 1, []float32{1, 10}},
		{"b", 1, []float32{2, 40}},
		{"c", 1, []float32{3, 20}},
		{"d", 1, []float32{100, 30}},
	}
	g := []float32{0, 1}
	cases := []struct {
		s    Spec
		want []float32
	}{
		{Spec{Rule: "median"}, []float32{2.5, 26}},
		{Spec{Rule: "trimmedmean", Params: map[string]float64{"beta": 0.25}}, []float32{2.5, 26}},
		{Spec{Rule: "trimmedmean", Params: map[string]float64{"beta": 0}}, []float32{26.5, 26}},
	}
	for _, c := range cases {
		got := run(t, mustNew(t, c.s, 2), g, us)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.s.Canonical(), got, c.want)
		}
	}
	// Krum: f=1 keeps n-f-2 = 3 neighbours. Scores: 0: 4+9+16 = 29,
	// 2: 1+4+4 = 9, 3: 1+1+9 = 11, 4: 1+4+9 = 14, 7: 9+16+25 = 50, 100: huge.
	var ku []Update
	for i, v := range []float32{0, 2, 3, 4, 7, 100} {
		ku = append(ku, Update{fmt.Sprint(i), 1, []float32{v}})
	}
	got := run(t, mustNew(t, Spec{Rule: "krum", Params: map[string]float64{"f": 1}}, 1), []float32{0}, ku)
	if got[0] != 2 {
		t.Errorf("krum picked %v, want 2", got[0])
	}
	got = run(t, mustNew(t, Spec{Rule: "multikrum", Params: map[string]float64{"f": 1, "m": 3}}, 1), []float32{0}, ku)
	if got[0] != 3 { // mean of 2, 3, 4
		t.Errorf("multikrum gave %v, want 3", got[0])
	}
	// Too few updates for Krum is an error, and resets the round.
	a := mustNew(t, Spec{Rule: "krum", Params: map[string]float64{"f": 2}}, 1)
	for _, u := range ku {
		if err := a.Add(u); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Finish([]float32{0}, []float32{0}); err == nil {
		t.Fatal("krum f=2 with 6 updates accepted (needs 7)")
	}
	if a.Len() != 0 {
		t.Fatal("failed Finish did not reset the round")
	}
	// Buffered rules copy: mutating the caller's slice after Add has no effect.
	m := mustNew(t, Spec{Rule: "median"}, 1)
	buf := []float32{5}
	m.Add(Update{"a", 1, buf})
	buf[0] = 1000
	dst := []float32{0}
	if err := m.Finish([]float32{0}, dst); err != nil || dst[0] != 5 {
		t.Fatalf("median after caller reuse: %v %v", dst, err)
	}
	var re *RejectError
	if err := m.Add(Update{"a", 1, []float32{float32(math.NaN())}}); !errors.As(err, &re) || re.Reason != ReasonNonFinite {
		t.Fatalf("median NaN: %v", err)
	}
}

// TestRobustReferences checks each robust rule against a naive reference
// written from its definition, and the degenerate cases that must agree
// with the plain mean: trimmed mean with beta = 0 and Multi-Krum with
// m = n. Outputs may alias the global model.
func TestRobustReferences(t *testing.T) {
	const n, dim = 9, 1001
	r := seeded(41)
	us := randUpdates(r, n, dim, 1)
	global := randVec(r, dim)
	col := func(j int) []float64 {
		c := make([]float64, n)
		for i, u := range us {
			c[i] = float64(u.Delta[j])
		}
		return c
	}
	sorted := func(j int) []float64 {
		c := col(j)
		for a := range c { // insertion sort: an independent reference
			for b := a; b > 0 && c[b] < c[b-1]; b-- {
				c[b], c[b-1] = c[b-1], c[b]
			}
		}
		return c
	}
	check := func(s Spec, ref func(j int) float64) {
		t.Helper()
		g := append([]float32(nil), global...)
		a := mustNew(t, s, dim)
		for _, u := range us {
			if err := a.Add(u); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Finish(g, g); err != nil { // dst aliases global
			t.Fatal(err)
		}
		for j := range dim {
			if want := float32(float64(global[j]) + ref(j)); g[j] != want {
				t.Fatalf("%s coord %d: %v, reference %v", s.Canonical(), j, g[j], want)
			}
		}
	}
	mean := func(j int) float64 {
		var s float64
		for _, v := range sorted(j) {
			s += v
		}
		return s / n
	}
	check(Spec{Rule: "median"}, func(j int) float64 { return sorted(j)[n/2] })
	check(Spec{Rule: "trimmedmean", Params: map[string]float64{"beta": 0.25}}, func(j int) float64 {
		var s float64
		for _, v := range sorted(j)[2 : n-2] {
			s += v
		}
		return s / (n - 4)
	})
	check(Spec{Rule: "trimmedmean", Params: map[string]float64{"beta": 0}}, mean)
	check(Spec{Rule: "multikrum", Params: map[string]float64{"f": 0, "m": n}}, func(j int) float64 {
		var s float64
		for _, v := range col(j) { // participant order
			s += v
		}
		return s / n
	})
	// Krum picks the row whose summed squared distance to its n-f-2 nearest
	// others is smallest.
	const f = 2
	best, bestScore := -1, math.Inf(1)
	for i := range us {
		var ds []float64
		for k := range us {
			if k != i {
				var d float64
				for j := range dim {
					e := float64(us[i].Delta[j]) - float64(us[k].Delta[j])
					d += e * e
				}
				ds = append(ds, d)
			}
		}
		for a := range ds {
			for b := a; b > 0 && ds[b] < ds[b-1]; b-- {
				ds[b], ds[b-1] = ds[b-1], ds[b]
			}
		}
		var s float64
		for _, d := range ds[:n-f-2] {
			s += d
		}
		if s < bestScore {
			best, bestScore = i, s
		}
	}
	check(Spec{Rule: "krum", Params: map[string]float64{"f": f}}, func(j int) float64 { return float64(us[best].Delta[j]) })
}
