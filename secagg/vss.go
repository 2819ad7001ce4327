package secagg

import (
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/group"
)

// Feldman's verifiable secret sharing over Ristretto255: the dealer
// publishes Commitment C_k = a_k*G for the coefficients a_0..a_t of its
// sharing polynomial (a_0 is the Secret), and anyone checks a share y of
// holder h against it: y*G = sum_k C_k * x^k with x = h+1. With the
// commitment signed by its dealer, a holder knows at once whether the
// dealer's share for it is good, a revealed share that is not the dealer's
// is refused whoever reveals it, and any t+1 good shares recover the same
// Secret. The commitment reveals a_0*G, which hides the Secret under the
// discrete-logarithm assumption; the keys floe derives from a Secret go
// through HKDF, so a_0*G tells nothing about them.

// PointSize is the length of a compressed Ristretto255 point.
const PointSize = 32

// Commitment is a Feldman commitment: t+1 compressed points.
type Commitment [][]byte

// ErrBadCommitment reports a commitment that does not decode.
var ErrBadCommitment = errors.New("secagg: malformed share commitment")

// SplitVerifiable is Split (the same shares for the same reader), also
// returning the Feldman commitment of the sharing polynomial.
func SplitVerifiable(s Secret, t int, holders []int, r io.Reader) ([]ShareValue, Commitment, error) {
	out, coef, err := split(s, t, holders, r)
	if err != nil {
		return nil, nil, err
	}
	c := make(Commitment, len(coef))
	for i, a := range coef {
		p := group.Ristretto255.NewElement().MulGen(a)
		if c[i], err = p.MarshalBinaryCompress(); err != nil {
			return nil, nil, err
		}
	}
	return out, c, nil
}

// Points decodes a commitment of threshold t (t+1 points).
func (c Commitment) points(t int) ([]group.Element, error) {
	if len(c) != t+1 {
		return nil, fmt.Errorf("%w: %d points for threshold %d", ErrBadCommitment, len(c), t)
	}
	ps := make([]group.Element, len(c))
	for i, b := range c {
		if len(b) != PointSize {
			return nil, fmt.Errorf("%w: point %d of %d bytes", ErrBadCommitment, i, len(b))
		}
		ps[i] = group.Ristretto255.NewElement()
		if err := ps[i].UnmarshalBinary(b); err != nil {
			return nil, fmt.Errorf("%w: point %d: %v", ErrBadCommitment, i, err)
		}
	}
	return ps, nil
}

// Check reports whether c is a well-formed commitment of threshold t.
func (c Commitment) Check(t int) error {
	_, err := c.points(t)
	return err
}

// Verify reports whether share is the dealer's share for its holder under
// the commitment c of threshold t.
func (c Commitment) Verify(t int, share ShareValue) bool {
	ps, err := c.points(t)
	if err != nil {
		return false
	}
	y, err := share.Value.scalar()
	if err != nil {
		return false
	}
	if share.Holder < 0 || share.Holder > 1<<31-2 {
		return false
	}
	x := uint64(share.Holder) + 1
	// Horner: acc = C_t; acc = acc*x + C_k down to k = 0. x is a public
	// index below 2^31, so each step multiplies by double-and-add over its
	// 31 bits instead of a full 253-bit scalar multiplication.
	acc := group.Ristretto255.NewElement().Set(ps[t])
	tmp := group.Ristretto255.NewElement()
	for k := t - 1; k >= 0; k-- {
		mulSmall(acc, tmp, x)
		acc.Add(acc, ps[k])
	}
	want := group.Ristretto255.NewElement().MulGen(y)
	return acc.IsEqual(want)
}

// Commits reports whether c commits to the Secret s (its constant term).
func (c Commitment) Commits(t int, s Secret) bool {
	ps, err := c.points(t)
	if err != nil {
		return false
	}
	x, err := s.scalar()
	if err != nil {
		return false
	}
	return ps[0].IsEqual(group.Ristretto255.NewElement().MulGen(x))
}

// mulSmall sets e to x*e by double-and-add over x's bits, tmp a scratch
// element: variable time, for public multipliers only.
func mulSmall(e, tmp group.Element, x uint64) {
	tmp.Set(e)
	e.Set(group.Ristretto255.Identity())
	for ; x > 0; x >>= 1 {
		if x&1 == 1 {
			e.Add(e, tmp)
		}
		tmp.Dbl(tmp)
	}
}
