package aggregate

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want, rtol float64) {
	t.Helper()
	if math.Abs(got-want) > rtol*math.Abs(want) {
		t.Errorf("%s = %.10g, want %.10g (rtol %g)", what, got, want, rtol)
	}
}

// Published values from TensorFlow Privacy,
// tensorflow_privacy/privacy/analysis/rdp_accountant_test.py
// (github.com/tensorflow/privacy, commit 385fefc85e80dacd262cc63fb485a42062983622):
// test_compute_rdp_no_data, test_compute_rdp_no_sampling,
// test_compute_rdp_scalar and test_compute_rdp_sequence.
func TestRDPPublished(t *testing.T) {
	r, _ := RDP(0, 10, 20)
	if r != 0 {
		t.Errorf("q=0: %v", r)
	}
	r, _ = RDP(1, 10, 20)
	near(t, "q=1 sigma=10 alpha=20", r, 0.1, 1e-12)
	r, _ = RDP(0.1, 2, 5)
	if math.Abs(10*r-0.07737) > 5e-6 { // assertAlmostEqual(places=5)
		t.Errorf("compute_rdp(0.1, 2, 10, 5) = %.7f, want 0.07737", 10*r)
	}
	orders := []float64{1.5, 2.5, 5, 50, 100}
	want := []float64{6.5007e-04, 1.0854e-03, 2.1808e-03, 2.3846e-02, 1.6742e+02}
	for k, a := range orders {
		r, err := RDP(0.01, 2.5, a)
		if err != nil {
			t.Fatal(err)
		}
		near(t, "compute_rdp(0.01, 2.5, 50, order)", 50*r, want[k], 1e-4)
	}
	if r, _ := RDP(0.01, 2.5, math.Inf(1)); !math.IsInf(r, 1) {
		t.Errorf("order inf: %v", r)
	}
}

// TestEpsilonConversionPublished: TensorFlow Privacy rdp_accountant_test.py
// test_get_privacy_spent_check_target_delta (same commit): constant RDP 1.1
// over orders 2..32 gives eps 1.32783806176 at order 32 for delta 1e-5, and
// the Gaussian mechanism with sigma 4.530877117 (q = 1) is (1, 1e-6)-DP
// over the orders 1.000, 1.001, ..., 99.999.
func TestEpsilonConversionPublished(t *testing.T) {
	var orders, rdp []float64
	for a := 2; a <= 32; a++ {
		orders = append(orders, float64(a))
		rdp = append(rdp, 1.1)
	}
	eps, order, err := EpsilonFromRDP(orders, rdp, 1e-5)
	if err != nil || order != 32 {
		t.Fatalf("order %v err %v", order, err)
	}
	near(t, "eps", eps, 1.32783806176, 1e-10)

	orders = orders[:0]
	for i := 1000; i < 100000; i++ {
		orders = append(orders, 0.001*float64(i))
	}
	eps, _, err = EpsilonOrders(1, 4.530877117, 1, 1e-6, orders)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "gaussian eps", eps, 1, 1e-6)
}

// tfpOrders are the orders of TensorFlow Privacy's compute_dp_sgd_privacy_lib.
func tfpOrders() []float64 {
	o := []float64{1.25, 1.5, 1.75, 2., 2.25, 2.5, 3., 3.5, 4., 4.5}
	for a := 5; a < 64; a++ {
		o = append(o, float64(a))
	}
	return append(o, 128, 256, 512)
}

// TestDPSGDPublished: TensorFlow Privacy
// tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy_test.py
// (commit 943ef91ee932207f22e3840753e0d5b1dd07d503), which computes
// q = batch/n, steps = ceil(epochs*n/batch) over tfpOrders with the
// dp_accounting RdpAccountant (the improved conversion).
func TestDPSGDPublished(t *testing.T) {
	cases := []struct {
		n, batch        float64
		sigma, epochs   float64
		delta, eps, ord float64
	}{
		{60000, 150, 1.3, 15, 1e-5, 0.7242234026109595, 19},
		{100000, 100, 1.0, 30, 1e-7, 1.4154988495444845, 13},
		{100000000, 1024, 0.1, 10, 1e-7, 5907982.31138195, 1.25},
	}
	for _, c := range cases {
		q := c.batch / c.n
		steps := int(math.Ceil(c.epochs * c.n / c.batch))
		eps, ord, err := EpsilonOrders(q, c.sigma, steps, c.delta, tfpOrders())
		if err != nil {
			t.Fatal(err)
		}
		near(t, "eps", eps, c.eps, 1e-6) // far tighter than three significant digits
		if ord != c.ord {
			t.Errorf("order %v, want %v", ord, c.ord)
		}
	}
}

// TestLogAAgainstQuadrature checks log(A_alpha) for integer and fractional
// orders against direct numerical integration of
// A = E_{z~N(0,sigma^2)}[(1 - q + q exp((2z-1)/(2 sigma^2)))^alpha]
// (the definition TensorFlow Privacy's test integrates with mpmath),
// integrating A-1 so that A close to 1 keeps its relative precision.
func TestLogAAgainstQuadrature(t *testing.T) {
	for _, c := range []struct{ q, sigma, alpha float64 }{
		{1e-4, 1, 1.5}, {1e-3, 1, 2}, {0.01, 10, 20}, {0.1, 100, 20.5}, {0.01, 2.5, 2.5}, {0.05, 1.1, 7.3}, {0.2, 3, 12},
	} {
		const steps = 400000
		lo, hi := -40*c.sigma, 40*c.sigma+c.alpha
		h := (hi - lo) / steps
		var s float64
		for k := 0; k <= steps; k++ {
			z := lo + float64(k)*h
			w := 1.0
			if k == 0 || k == steps {
				w = 0.5
			}
			pdf := math.Exp(-z*z/(2*c.sigma*c.sigma)) / (c.sigma * math.Sqrt(2*math.Pi))
			// (1 - q + q e^x)^alpha - 1, accurate when A is close to 1
			x := (2*z - 1) / (2 * c.sigma * c.sigma)
			s += w * pdf * math.Expm1(c.alpha*math.Log1p(c.q*math.Expm1(x)))
		}
		want := math.Log1p(s * h) // the trapezoid integral of the pdf itself is 1 to ~1e-16
		r, err := RDP(c.q, c.sigma, c.alpha)
		if err != nil {
			t.Fatal(err)
		}
		near(t, "log A", r*(c.alpha-1), want, 1e-6)
	}
}

func TestSigmaFor(t *testing.T) {
	q, steps, delta := 150.0/60000, 6000, 1e-5
	for _, target := range []float64{0.5, 1, 3, 8} {
		s, err := SigmaFor(q, steps, delta, target)
		if err != nil {
			t.Fatal(err)
		}
		e, _, _ := Epsilon(q, s, steps, delta)
		if e > target {
			t.Errorf("eps(%v) = %v above target %v", s, e, target)
		}
		e2, _, _ := Epsilon(q, s*(1-1e-4), steps, delta)
		if e2 <= target {
			t.Errorf("sigma %v not minimal for eps %v", s, target)
		}
	}
	// Epsilon decreases as sigma grows.
	prev := math.Inf(1)
	for s := 0.5; s < 5; s += 0.25 {
		e, _, _ := Epsilon(0.01, s, 1000, 1e-5)
		if e >= prev {
			t.Fatalf("epsilon not decreasing at sigma %v", s)
		}
		prev = e
	}
	for _, bad := range []struct{ q, s, d float64 }{{-0.1, 1, 1e-5}, {1.5, 1, 1e-5}, {0.1, 0, 1e-5}, {0.1, 1, 0}, {0.1, 1, 1}, {math.NaN(), 1, 1e-5}} {
		if _, _, err := Epsilon(bad.q, bad.s, 10, bad.d); err == nil {
			t.Errorf("Epsilon(%v) accepted", bad)
		}
	}
	if _, err := SigmaFor(0.1, 10, 1e-5, 0); err == nil {
		t.Error("SigmaFor eps=0 accepted")
	}
	if _, err := SigmaFor(0.1, 0, 1e-5, 1); err == nil {
		t.Error("SigmaFor steps=0 accepted")
	}
	// A generous budget needs little noise, and the search still ends.
	if s, err := SigmaFor(0.01, 10, 1e-5, 50); err != nil || !(s > 0 && s < 1) {
		t.Errorf("SigmaFor(eps=50) = %v, %v", s, err)
	}
}

// opacusOrders are Opacus's RDPAccountant.DEFAULT_ALPHAS.
func opacusOrders() []float64 {
	var o []float64
	for x := 1; x < 100; x++ {
		o = append(o, 1+float64(x)/10)
	}
	for a := 12; a < 64; a++ {
		o = append(o, float64(a))
	}
	return o
}

// TestOpacusPublished: Opacus opacus/tests/accountants_test.py
// (github.com/pytorch/opacus, commit 2f4b54640c031948c4264d56b6f101baf5676490),
// test_rdp_accountant: epsilon 7.32911117143 for noise multiplier 1.5,
// sample rate 0.04, int(90/0.04) = 2250 steps, delta 1e-5, over Opacus's
// default orders. (The same file's test_get_noise_multiplier value is not
// used: it depends on the stopping rule of Opacus's search.)
func TestOpacusPublished(t *testing.T) {
	eps, _, err := EpsilonOrders(0.04, 1.5, 2250, 1e-5, opacusOrders())
	if err != nil {
		t.Fatal(err)
	}
	near(t, "opacus eps", eps, 7.32911117143, 1e-9)
}
