package aggregate

import (
	"errors"
	"fmt"
	"math"
)

// DefaultOrders are the Rényi orders Epsilon minimises over: 1.1 to 10.9 in
// steps of 0.1, the integers 11 to 63, and 128, 256, 512 (the orders of
// Opacus and dp_accounting, plus TensorFlow Privacy's large ones).
var DefaultOrders = func() []float64 {
	var o []float64
	for x := 1; x < 100; x++ {
		o = append(o, 1+float64(x)/10)
	}
	for a := 11; a < 64; a++ {
		o = append(o, float64(a))
	}
	return append(o, 128, 256, 512)
}()

func checkMechanism(q, sigma float64) error {
	if !(q >= 0 && q <= 1) {
		return fmt.Errorf("aggregate: sampling rate q = %v must be in [0, 1]", q)
	}
	if !(sigma > 0) || math.IsInf(sigma, 0) {
		return fmt.Errorf("aggregate: noise multiplier sigma = %v must be positive and finite", sigma)
	}
	return nil
}

// RDP reports the Rényi differential privacy at order alpha > 1 of one
// step of the Poisson-sampled Gaussian mechanism with sampling rate q and
// noise multiplier sigma (Mironov, Talwar and Zhang 2019), computed as
// TensorFlow Privacy's compute_rdp: log(A_alpha)/(alpha-1), with A_alpha
// summed exactly for integer alpha (Section 3.3) and by the two-sided
// series for fractional alpha (Section 3.2). T steps compose to T*RDP.
func RDP(q, sigma, alpha float64) (float64, error) {
	if err := checkMechanism(q, sigma); err != nil {
		return 0, err
	}
	if !(alpha >= 1) {
		return 0, fmt.Errorf("aggregate: Rényi order %v must be >= 1", alpha)
	}
	switch {
	case q == 0:
		return 0, nil
	case math.IsInf(alpha, 1):
		return math.Inf(1), nil
	case q == 1:
		return alpha / (2 * sigma * sigma), nil
	case alpha == 1:
		return 0, fmt.Errorf("aggregate: Rényi order 1 needs q = 0 or 1 (got %v)", q)
	}
	var logA float64
	var err error
	if alpha == math.Trunc(alpha) && alpha < 1<<20 {
		logA = logAInt(q, sigma, int(alpha))
	} else {
		logA, err = logAFrac(q, sigma, alpha)
	}
	if err != nil {
		return 0, err
	}
	return logA / (alpha - 1), nil
}

// logAdd reports log(exp(a) + exp(b)).
func logAdd(a, b float64) float64 {
	lo, hi := math.Min(a, b), math.Max(a, b)
	if math.IsInf(lo, -1) {
		return hi
	}
	return math.Log1p(math.Exp(lo-hi)) + hi
}

// logSub reports log(exp(a) - exp(b)) for a >= b.
func logSub(a, b float64) float64 {
	if math.IsInf(b, -1) {
		return a
	}
	if a <= b {
		return math.Inf(-1)
	}
	d := math.Expm1(a - b)
	if math.IsInf(d, 1) {
		return a
	}
	return math.Log(d) + b
}

// logAbsBinom reports log|binom(a, i)| and the sign of binom(a, i) for real
// a and integer i >= 0, via log-gamma.
func logAbsBinom(a float64, i int) (float64, int) {
	l1, s1 := math.Lgamma(a + 1)
	l2, _ := math.Lgamma(float64(i) + 1)
	l3, s3 := math.Lgamma(a - float64(i) + 1)
	return l1 - l2 - l3, s1 * s3
}

// logErfc reports log(erfc(x)), using the asymptotic expansion where
// erfc underflows.
func logErfc(x float64) float64 {
	r := math.Erfc(x)
	if r > 1e-300 {
		return math.Log(r)
	}
	x2 := x * x
	return -math.Log(math.Pi)/2 - math.Log(x) - x2 - 0.5/x2 + 0.625/(x2*x2) - 37.0/24.0/(x2*x2*x2) + 353.0/64.0/(x2*x2*x2*x2)
}

// logAInt reports log(A_alpha) for integer alpha:
// A = sum_{i=0}^{alpha} binom(alpha, i) (1-q)^(alpha-i) q^i exp((i^2-i)/(2 sigma^2)).
func logAInt(q, sigma float64, alpha int) float64 {
	logA := math.Inf(-1)
	lq, l1q := math.Log(q), math.Log1p(-q)
	for i := 0; i <= alpha; i++ {
		lb, _ := logAbsBinom(float64(alpha), i)
		fi := float64(i)
		s := lb + fi*lq + float64(alpha-i)*l1q + (fi*fi-fi)/(2*sigma*sigma)
		logA = logAdd(logA, s)
	}
	return logA
}

// logAFrac reports log(A_alpha) for fractional alpha by the series of
// Mironov et al. 2019, Section 3.2, split at z0 = sigma^2 log(1/q - 1) + 1/2.
func logAFrac(q, sigma, alpha float64) (float64, error) {
	a0, a1 := math.Inf(-1), math.Inf(-1)
	z0 := sigma*sigma*math.Log(1/q-1) + 0.5
	lq, l1q := math.Log(q), math.Log1p(-q)
	for i := 0; ; i++ {
		if i > 1_000_000 {
			return 0, errors.New("aggregate: RDP series did not converge")
		}
		lb, sign := logAbsBinom(alpha, i)
		fi := float64(i)
		j := alpha - fi
		t0 := lb + fi*lq + j*l1q
		t1 := lb + j*lq + fi*l1q
		e0 := math.Log(0.5) + logErfc((fi-z0)/(math.Sqrt2*sigma))
		e1 := math.Log(0.5) + logErfc((z0-j)/(math.Sqrt2*sigma))
		s0 := t0 + (fi*fi-fi)/(2*sigma*sigma) + e0
		s1 := t1 + (j*j-j)/(2*sigma*sigma) + e1
		if sign > 0 {
			a0, a1 = logAdd(a0, s0), logAdd(a1, s1)
		} else {
			a0, a1 = logSub(a0, s0), logSub(a1, s1)
		}
		if math.Max(s0, s1) < -30 {
			break
		}
	}
	return logAdd(a0, a1), nil
}

// EpsilonFromRDP converts accumulated RDP values at the given orders to the
// smallest epsilon for delta, with the conversion of Canonne, Kamath and
// Steinke 2020 / Balle et al. 2020 (as in dp_accounting and Opacus):
// eps = rdp + log1p(-1/alpha) - log(delta*alpha)/(alpha-1), taken as 0 when
// delta^2 + expm1(-rdp) >= 0, and skipped for alpha <= 1.01. It reports
// the epsilon and the order that attains it.
func EpsilonFromRDP(orders, rdp []float64, delta float64) (eps, order float64, err error) {
	if !(delta > 0 && delta < 1) {
		return 0, 0, fmt.Errorf("aggregate: delta = %v must be in (0, 1)", delta)
	}
	if len(orders) != len(rdp) || len(orders) == 0 {
		return 0, 0, fmt.Errorf("aggregate: %d orders for %d RDP values", len(orders), len(rdp))
	}
	eps, order = math.Inf(1), math.NaN()
	for k, a := range orders {
		r := rdp[k]
		if !(a >= 1) || r < 0 || math.IsNaN(r) {
			return 0, 0, fmt.Errorf("aggregate: bad RDP %v at order %v", r, a)
		}
		var e float64
		switch {
		case delta*delta+math.Expm1(-r) >= 0:
			e = 0
		case a > 1.01:
			e = r + math.Log1p(-1/a) - math.Log(delta*a)/(a-1)
		default:
			e = math.Inf(1)
		}
		if e < eps || math.IsNaN(order) {
			eps, order = e, a
		}
	}
	return math.Max(0, eps), order, nil
}

// EpsilonOrders is Epsilon over the given orders.
func EpsilonOrders(q, sigma float64, steps int, delta float64, orders []float64) (eps, order float64, err error) {
	if steps < 0 {
		return 0, 0, fmt.Errorf("aggregate: steps = %d must be >= 0", steps)
	}
	rdp := make([]float64, len(orders))
	for k, a := range orders {
		r, err := RDP(q, sigma, a)
		if err != nil {
			return 0, 0, err
		}
		rdp[k] = r * float64(steps)
	}
	return EpsilonFromRDP(orders, rdp, delta)
}

// Epsilon reports the epsilon for delta of steps rounds of the sampled
// Gaussian mechanism (sampling rate q, noise multiplier sigma), and the
// Rényi order of DefaultOrders that gives it.
func Epsilon(q, sigma float64, steps int, delta float64) (eps, order float64, err error) {
	return EpsilonOrders(q, sigma, steps, delta, DefaultOrders)
}

// SigmaFor reports the smallest noise multiplier (to a relative 1e-6) for
// which Epsilon(q, sigma, steps, delta) <= eps, by doubling then bisection.
func SigmaFor(q float64, steps int, delta, eps float64) (float64, error) {
	if !(eps > 0) || math.IsInf(eps, 0) {
		return 0, fmt.Errorf("aggregate: target epsilon %v must be positive and finite", eps)
	}
	if steps < 1 || !(q > 0 && q <= 1) {
		return 0, fmt.Errorf("aggregate: SigmaFor needs steps >= 1 and q in (0, 1], got %d and %v", steps, q)
	}
	f := func(s float64) (float64, error) {
		e, _, err := Epsilon(q, s, steps, delta)
		return e, err
	}
	lo, hi := 0.0, 1.0
	for {
		e, err := f(hi)
		if err != nil {
			return 0, err
		}
		if e <= eps {
			break
		}
		lo, hi = hi, hi*2
		if hi > 1e6 {
			return 0, fmt.Errorf("aggregate: no noise multiplier up to 1e6 reaches epsilon %v", eps)
		}
	}
	for it := 0; hi-lo > 1e-6*hi && it < 200; it++ {
		mid := (lo + hi) / 2
		e, err := f(mid)
		if err != nil {
			return 0, err
		}
		if e <= eps {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}
