package aggregate

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// DPConfig is central differential privacy for the FedAvg family: each
// update is clipped to L2 norm ClipNorm, the clipped updates are summed with
// weight 1 each, and Gaussian noise of standard deviation
// NoiseMultiplier*ClipNorm is added to every coordinate of the sum before
// it is divided by the number of updates.
type DPConfig struct {
	ClipNorm        float64 // C, the per-update L2 bound
	NoiseMultiplier float64 // sigma, noise stddev in units of C
}

// Stddev reports the standard deviation of the noise added to the sum.
func (c DPConfig) Stddev() float64 { return c.ClipNorm * c.NoiseMultiplier }

// Validate reports whether c is usable.
func (c DPConfig) Validate() error {
	if !(c.ClipNorm > 0) || math.IsInf(c.ClipNorm, 0) {
		return fmt.Errorf("aggregate: DP clip norm %v must be positive and finite", c.ClipNorm)
	}
	if !(c.NoiseMultiplier >= 0) || math.IsInf(c.NoiseMultiplier, 0) {
		return fmt.Errorf("aggregate: DP noise multiplier %v must be >= 0 and finite", c.NoiseMultiplier)
	}
	return nil
}

// gaussian draws standard normal values from a ChaCha8 stream
// (math/rand/v2, the C2SP chacha8rand generator, whose output is fixed by
// its specification) with the Marsaglia polar method, using only
// correctly rounded IEEE operations and the FMA-free logarithm detLog, so
// the values are the same bits on every platform and Go release:
//
//	u = (Uint64() >> 11) * 2^-52 - 1, v likewise (uniform on [-1, 1))
//	s = float64(u*u) + float64(v*v); retry unless 0 < s < 1
//	f = sqrt(-2*detLog(s) / s); emit u*f, then v*f
type gaussian struct {
	r     *rand.ChaCha8
	spare float64
	has   bool
}

func newGaussian(seed [32]byte) *gaussian { return &gaussian{r: rand.NewChaCha8(seed)} }

func (g *gaussian) next() float64 {
	if g.has {
		g.has = false
		return g.spare
	}
	for {
		u := float64(float64(g.r.Uint64()>>11)*0x1p-52) - 1
		v := float64(float64(g.r.Uint64()>>11)*0x1p-52) - 1
		s := float64(u*u) + float64(v*v)
		if s >= 1 || s == 0 {
			continue
		}
		f := math.Sqrt(-2 * detLog(s) / s)
		g.spare, g.has = v*f, true
		return u * f
	}
}

// AddGaussianNoise adds independent N(0, stddev^2) noise to every element of
// dst, in index order, from the generator seeded with seed:
// dst[i] = float32(float64(stddev*z_i) + float64(dst[i])). The same seed
// gives the same bytes on every platform.
func AddGaussianNoise(dst []float32, stddev float64, seed [32]byte) {
	g := newGaussian(seed)
	for i := range dst {
		dst[i] = float32(float64(stddev*g.next()) + float64(dst[i]))
	}
}

// addNoise64 is AddGaussianNoise on a float64 vector (the DP sum).
func addNoise64(dst []float64, stddev float64, seed [32]byte) {
	g := newGaussian(seed)
	for i := range dst {
		dst[i] = float64(stddev*g.next()) + dst[i]
	}
}

// detLog is the natural logarithm for 0 < x < +Inf, computed with the
// fdlibm e_log.c algorithm (the one Go's pure-Go math.Log uses) with every
// product rounded explicitly, so no platform can fuse it into an FMA and no
// assembly implementation can change it.
func detLog(x float64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01
		ln2Lo = 1.90821492927058770002e-10
		l1    = 6.666666666666735130e-01
		l2    = 3.999999999940941908e-01
		l3    = 2.857142874366239149e-01
		l4    = 2.222219843214978396e-01
		l5    = 1.818357216161805012e-01
		l6    = 1.531383769920937332e-01
		l7    = 1.479819860511658591e-01
	)
	f1, ki := math.Frexp(x)
	if f1 < math.Sqrt2/2 {
		f1 *= 2
		ki--
	}
	f := f1 - 1
	k := float64(ki)
	s := f / (2 + f)
	s2 := float64(s * s)
	s4 := float64(s2 * s2)
	t1 := float64(s2 * (l1 + float64(s4*(l3+float64(s4*(l5+float64(s4*l7)))))))
	t2 := float64(s4 * (l2 + float64(s4*(l4+float64(s4*l6)))))
	R := t1 + t2
	hfsq := float64(float64(0.5*f) * f)
	return float64(k*ln2Hi) - ((hfsq - (float64(s*(hfsq+R)) + float64(k*ln2Lo))) - f)
}
