package aggregate

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
)

func TestSpecValidate(t *testing.T) {
	cases := []struct {
		s    Spec
		want string // substring of the error, "" for valid
	}{
		{Spec{Rule: "fedavg"}, ""},
		{Spec{Rule: "fedadam", Params: map[string]float64{"eta": 0.01, "beta1": 0.9}}, ""},
		{Spec{Rule: "krum", Params: map[string]float64{"f": 2}}, ""},
		{Spec{Rule: "multikrum", Params: map[string]float64{"f": 2, "m": 5}}, ""},
		{Spec{Rule: "fedavg", Params: map[string]float64{"dp_clip": 1, "dp_noise_multiplier": 1.1}}, ""},
		{Spec{Rule: "FedAvg"}, `unknown rule "FedAvg"`},
		{Spec{Rule: ""}, "unknown rule"},
		{Spec{Rule: "fedavg", Params: map[string]float64{"eta": 1}}, `rule fedavg has no parameter "eta"`},
		{Spec{Rule: "median", Params: map[string]float64{"beta": 0.1}}, "accepted: none"},
		{Spec{Rule: "fedadam", Params: map[string]float64{"beta1": 1}}, "beta1 = 1 must be in [0, 1)"},
		{Spec{Rule: "fedadam", Params: map[string]float64{"eta": -1}}, "must be > 0"},
		{Spec{Rule: "fedadam", Params: map[string]float64{"tau": math.NaN()}}, "not finite"},
		{Spec{Rule: "fedyogi", Params: map[string]float64{"eta": math.Inf(1)}}, "not finite"},
		{Spec{Rule: "krum"}, "needs parameter f"},
		{Spec{Rule: "krum", Params: map[string]float64{"f": 1.5}}, "integer"},
		{Spec{Rule: "multikrum", Params: map[string]float64{"f": 1}}, "needs parameter m"},
		{Spec{Rule: "multikrum", Params: map[string]float64{"f": 1, "m": 0}}, "integer >= 1"},
		{Spec{Rule: "trimmedmean", Params: map[string]float64{"beta": 0.5}}, "[0, 0.5)"},
		{Spec{Rule: "fedavg", Params: map[string]float64{"dp_noise_multiplier": 1}}, "needs dp_clip > 0"},
		{Spec{Rule: "fedavg", Params: map[string]float64{"dp_clip": -1}}, ">= 0"},
	}
	for _, c := range cases {
		err := c.s.Validate()
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: unexpected error %v", c.s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "aggregate: ") {
			t.Errorf("%+v: error %v, want one containing %q", c.s, err, c.want)
		}
		if _, nerr := New(c.s, 3); nerr == nil {
			t.Errorf("%+v: New accepted an invalid spec", c.s)
		}
	}
}

func TestCanonical(t *testing.T) {
	s := Spec{Rule: "fedadam", Params: map[string]float64{"eta": 0.01, "tau": 1e-3}}
	want := "fedadam(beta1=0.9,beta2=0.99,dp_clip=0,dp_noise_multiplier=0,eta=0.01,eta_l=0.1,tau=0.001)"
	if got := s.Canonical(); got != want {
		t.Fatalf("Canonical = %q, want %q", got, want)
	}
	for _, name := range Rules() {
		s := Spec{Rule: name, Params: map[string]float64{}}
		if strings.Contains(name, "krum") {
			s.Params["f"] = 1
		}
		if name == "multikrum" {
			s.Params["m"] = 3
		}
		c := s.Canonical()
		p, err := ParseCanonical(c)
		if err != nil {
			t.Fatalf("%s: ParseCanonical(%q): %v", name, c, err)
		}
		if p.Canonical() != c {
			t.Fatalf("%s: round trip gave %q", name, p.Canonical())
		}
	}
	for _, bad := range []string{"", "fedavg", "fedavg(", "fedavg(x=1)", "fedadam(eta=0.1)", "fedavg(dp_clip=0,dp_clip=0,dp_noise_multiplier=0)", "fedavg(dp_clip=00,dp_noise_multiplier=0)"} {
		if _, err := ParseCanonical(bad); err == nil {
			t.Errorf("ParseCanonical(%q) accepted", bad)
		}
	}
}

// TestFedAvgIntegerExact: example-weighted FedAvg of small integer-valued
// updates equals the exact rational mean (computed with math/big) rounded
// to float32, for total weights that are powers of two, and is an exact
// integer whenever the exact mean is one.
func TestFedAvgIntegerExact(t *testing.T) {
	r := seeded(1)
	const dim = 257
	for trial := range 200 {
		n := 1 + r.IntN(20)
		us := make([]Update, n)
		var W uint64
		for i := range us {
			d := make([]float32, dim)
			for j := range d {
				d[j] = float32(r.IntN(2001) - 1000)
			}
			w := uint64(1 + r.IntN(50))
			if i == n-1 { // make the total weight a power of two
				p := uint64(1)
				for p < W+1 {
					p <<= 1
				}
				w = p - W
			}
			W += w
			us[i] = Update{Participant: fmt.Sprintf("p%03d", i), NumExamples: w, Delta: d}
		}
		global := make([]float32, dim)
		for j := range global {
			global[j] = float32(r.IntN(200) - 100)
		}
		got := run(t, mustNew(t, Spec{Rule: "fedavg"}, dim), global, us)
		for j := range dim {
			ex := new(big.Rat)
			for _, u := range us {
				ex.Add(ex, new(big.Rat).SetInt64(int64(u.Delta[j])*int64(u.NumExamples)))
			}
			ex.Quo(ex, new(big.Rat).SetInt64(int64(W)))
			ex.Add(ex, new(big.Rat).SetInt64(int64(global[j])))
			want, _ := ex.Float32()
			if got[j] != want {
				t.Fatalf("trial %d coord %d: got %v, exact %v (%s)", trial, j, got[j], want, ex.RatString())
			}
		}
	}
	// Unweighted integer means are exact integers.
	us := []Update{
		{"a", 3, []float32{1, -7, 100}},
		{"b", 3, []float32{2, 8, -50}},
		{"c", 3, []float32{6, 20, 10}},
	}
	got := run(t, mustNew(t, Spec{Rule: "fedavg"}, 3), []float32{10, 0, -1}, us)
	if want := []float32{13, 7, 19}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestAddContract(t *testing.T) {
	a := mustNew(t, Spec{Rule: "fedavg"}, 2)
	ok := func(p string) Update { return Update{Participant: p, NumExamples: 1, Delta: []float32{1, 2}} }
	if err := a.Add(ok("b")); err != nil {
		t.Fatal(err)
	}
	for _, u := range []Update{ok("a"), ok("b"), ok(""), {Participant: "c", NumExamples: 1, Delta: []float32{1}}, {Participant: "c", Delta: []float32{1, 2}}} {
		if err := a.Add(u); err == nil {
			t.Errorf("Add(%+v) accepted", u)
		}
	}
	var re *RejectError
	if err := a.Add(Update{Participant: "c", NumExamples: 1, Delta: []float32{1}}); !errors.As(err, &re) || re.Reason != ReasonShape {
		t.Errorf("wrong length: %v", err)
	}
	if err := a.Add(Update{Participant: "c", Delta: []float32{1, 2}}); !errors.As(err, &re) || re.Reason != ReasonExamples {
		t.Errorf("zero examples: %v", err)
	}
	if a.Len() != 1 {
		t.Fatalf("rejected updates changed Len to %d", a.Len())
	}
	dst := make([]float32, 2)
	if err := a.Finish([]float32{0, 0}, dst); err != nil || dst[0] != 1 || dst[1] != 2 {
		t.Fatalf("Finish = %v, %v", dst, err)
	}
	if err := a.Finish([]float32{0, 0}, dst); !errors.Is(err, ErrNoUpdates) {
		t.Fatalf("empty Finish: %v", err)
	}
	if err := a.Add(ok("a")); err != nil { // a new round starts afresh
		t.Fatal(err)
	}
	if err := a.Finish([]float32{0}, dst); err == nil {
		t.Fatal("Finish accepted a short global")
	}
}

// refOpt is a naive per-element reference of the server optimizers, written
// from the formulas in doc.go. The package must match it bit for bit.
type refOpt struct {
	rule string
	p    map[string]float64
	m, v []float64
}

func (o *refOpt) step(global []float32, us []Update) []float32 {
	dim := len(global)
	if o.m == nil {
		o.m = make([]float64, dim)
		o.v = make([]float64, dim)
		for i := range o.v {
			o.v[i] = o.p["tau"] * o.p["tau"]
		}
	}
	out := make([]float32, dim)
	for j := range dim {
		var acc, W float64
		for _, u := range us {
			w := float64(u.NumExamples)
			acc = float64(w*float64(u.Delta[j])) + acc
			W += w
		}
		d := acc / W
		var step float64
		switch o.rule {
		case "fedavg":
			step = d
		case "fedavgm":
			o.m[j] = float64(o.m[j]*o.p["momentum"]) + d
			step = float64(o.p["eta"] * o.m[j])
		default:
			b1 := o.p["beta1"]
			o.m[j] = float64(b1*o.m[j]) + float64((1-b1)*d)
			d2 := float64(d * d)
			switch o.rule {
			case "fedadam":
				b2 := o.p["beta2"]
				o.v[j] = float64(b2*o.v[j]) + float64((1-b2)*d2)
			case "fedyogi":
				s := float64((1 - o.p["beta2"]) * d2)
				if o.v[j] > d2 {
					o.v[j] -= s
				} else if o.v[j] < d2 {
					o.v[j] += s
				}
			case "fedadagrad":
				o.v[j] += d2
			}
			step = float64(o.p["eta"] * (o.m[j] / (math.Sqrt(o.v[j]) + o.p["tau"])))
		}
		out[j] = float32(float64(global[j]) + step)
	}
	return out
}

func TestServerOptimizersMatchReference(t *testing.T) {
	for _, rule := range []string{"fedavg", "fedavgm", "fedadam", "fedyogi", "fedadagrad"} {
		s := Spec{Rule: rule}
		a := mustNew(t, s, 1000)
		ref := &refOpt{rule: rule, p: s.filled()}
		r := seeded(7)
		global := randVec(r, 1000)
		for round := range 4 {
			us := randUpdates(r, 5+round, 1000, 0.01)
			got := run(t, a, global, us)
			want := ref.step(global, us)
			for j := range got {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("%s round %d coord %d: got %v, reference %v", rule, round, j, got[j], want[j])
				}
			}
			if sum256F32(got) == sum256F32(global) {
				t.Fatalf("%s round %d: model did not change", rule, round)
			}
			global = got
		}
	}
}

// TestStateRoundTrip: an aggregator restored from State continues exactly
// like the original.
func TestStateRoundTrip(t *testing.T) {
	for _, rule := range []string{"fedavg", "fedavgm", "fedadam", "fedyogi", "fedadagrad", "median"} {
		s := Spec{Rule: rule}
		r := seeded(3)
		global := randVec(r, 300)
		a := mustNew(t, s, 300)
		g1 := run(t, a, global, randUpdates(r, 4, 300, 0.1))
		st := a.State()
		b := mustNew(t, s, 300)
		if err := b.SetState(st); err != nil {
			t.Fatalf("%s: %v", rule, err)
		}
		if string(b.State()) != string(st) {
			t.Fatalf("%s: state changed in round trip", rule)
		}
		us := randUpdates(r, 4, 300, 0.1)
		if sum256F32(run(t, a, g1, us)) != sum256F32(run(t, b, g1, us)) {
			t.Fatalf("%s: restored aggregator diverged", rule)
		}
		// Wrong rule, dim or truncated state is refused.
		other := mustNew(t, Spec{Rule: "fedadam", Params: map[string]float64{"eta": 0.5}}, 300)
		if err := other.SetState(st); err == nil {
			t.Fatalf("%s: state accepted by another rule", rule)
		}
		if err := mustNew(t, s, 301).SetState(st); err == nil {
			t.Fatalf("%s: state accepted for another dim", rule)
		}
		if err := b.SetState(st[:len(st)-1]); err == nil {
			t.Fatalf("%s: truncated state accepted", rule)
		}
	}
}
