package secagg

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/math/polynomial"
	"github.com/cloudflare/circl/secretsharing"
)

// ErrTooFewShares is returned by Recover with t or fewer shares.
var ErrTooFewShares = errors.New("secagg: too few shares")

// ErrInconsistentShares is returned by Recover when more than t+1 shares
// do not lie on one polynomial of degree t.
var ErrInconsistentShares = errors.New("secagg: inconsistent shares")

// ShareValue is one Shamir share of a Secret held by participant Holder:
// the sharing polynomial evaluated at x = Holder+1.
type ShareValue struct {
	Holder int
	Value  Secret // a canonical scalar
}

// Split shares s among holders with threshold t (circl's convention: t
// is the number of shares that reveal nothing; any t+1 recover s). The
// polynomial's t random coefficients are drawn from r as NewSecret draws.
// It returns an error if len(holders) < t+1, a holder repeats or is
// negative.
func Split(s Secret, t int, holders []int, r io.Reader) ([]ShareValue, error) {
	out, _, err := split(s, t, holders, r)
	return out, err
}

// split is Split, also returning the polynomial's coefficients.
func split(s Secret, t int, holders []int, r io.Reader) ([]ShareValue, []group.Scalar, error) {
	if t < 0 || len(holders) < t+1 {
		return nil, nil, fmt.Errorf("secagg: split: %d holders for threshold %d", len(holders), t)
	}
	if err := distinct(holders); err != nil {
		return nil, nil, err
	}
	c := make([]group.Scalar, t+1)
	var err error
	if c[0], err = s.scalar(); err != nil {
		return nil, nil, err
	}
	for i := 1; i <= t; i++ {
		ri, err := NewSecret(r)
		if err != nil {
			return nil, nil, err
		}
		c[i], _ = ri.scalar()
	}
	p := polynomial.New(c)
	out := make([]ShareValue, len(holders))
	x := group.Ristretto255.NewScalar()
	for i, h := range holders {
		x.SetUint64(uint64(h) + 1)
		out[i] = ShareValue{Holder: h, Value: secretOf(p.Evaluate(x))}
	}
	return out, c, nil
}

func distinct(ids []int) error {
	s := slices.Clone(ids)
	slices.Sort(s)
	for i, v := range s {
		if v < 0 || v > 1<<31-2 {
			return fmt.Errorf("secagg: participant index %d out of range", v)
		}
		if i > 0 && s[i-1] == v {
			return fmt.Errorf("secagg: participant %d repeated", v)
		}
	}
	return nil
}

// Recover returns the Secret shared with threshold t from at least t+1
// shares with distinct holders (circl's secretsharing.Recover on the first
// t+1); every further share must lie on the same polynomial, else
// ErrInconsistentShares. With t or fewer shares it returns ErrTooFewShares.
func Recover(t int, shares []ShareValue) (Secret, error) {
	if t < 0 || len(shares) < t+1 {
		return Secret{}, fmt.Errorf("%w: have %d, need %d", ErrTooFewShares, len(shares), t+1)
	}
	ids := make([]int, len(shares))
	for i, s := range shares {
		ids[i] = s.Holder
	}
	if err := distinct(ids); err != nil {
		return Secret{}, err
	}
	ss := make([]secretsharing.Share, len(shares))
	for i, s := range shares {
		v, err := s.Value.scalar()
		if err != nil {
			return Secret{}, err
		}
		id := group.Ristretto255.NewScalar()
		id.SetUint64(uint64(s.Holder) + 1)
		ss[i] = secretsharing.Share{ID: id, Value: v}
	}
	sec := lagrangeAtZero(ss[:t+1])
	if len(ss) > t+1 {
		x := make([]group.Scalar, t+1)
		y := make([]group.Scalar, t+1)
		for i := range x {
			x[i], y[i] = ss[i].ID, ss[i].Value
		}
		l := polynomial.NewLagrangePolynomial(x, y)
		for _, s := range ss[t+1:] {
			if !l.Evaluate(s.ID).IsEqual(s.Value) {
				return Secret{}, ErrInconsistentShares
			}
		}
	}
	return secretOf(sec), nil
}

// lagrangeAtZero returns the value at x = 0 of the polynomial through the
// shares (distinct non-zero IDs): sum_i y_i * prod_{j != i} x_j / (x_j -
// x_i), with the len(ss) denominators inverted at once (Montgomery's
// trick: one inversion and 3(len-1) multiplications instead of one
// inversion each). It is the value circl's secretsharing.Recover gives.
func lagrangeAtZero(ss []secretsharing.Share) group.Scalar {
	g := group.Ristretto255
	n := len(ss)
	num := make([]group.Scalar, n) // prod_{j != i} x_j
	den := make([]group.Scalar, n) // prod_{j != i} (x_j - x_i)
	diff := g.NewScalar()
	for i := range ss {
		num[i], den[i] = g.NewScalar(), g.NewScalar()
		num[i].SetUint64(1)
		den[i].SetUint64(1)
		for j := range ss {
			if j == i {
				continue
			}
			num[i].Mul(num[i], ss[j].ID)
			diff.Sub(ss[j].ID, ss[i].ID)
			den[i].Mul(den[i], diff)
		}
	}
	// prefix[i] = den[0]*...*den[i-1]; one inversion of the whole product.
	prefix := make([]group.Scalar, n+1)
	prefix[0] = g.NewScalar()
	prefix[0].SetUint64(1)
	for i := range den {
		prefix[i+1] = g.NewScalar()
		prefix[i+1].Mul(prefix[i], den[i])
	}
	inv := g.NewScalar()
	inv.Inv(prefix[n])
	sum, term, invI := g.NewScalar(), g.NewScalar(), g.NewScalar()
	for i := n - 1; i >= 0; i-- {
		invI.Mul(inv, prefix[i]) // 1/den[i]
		inv.Mul(inv, den[i])     // 1/(den[0]*...*den[i-1])
		term.Mul(ss[i].Value, num[i])
		term.Mul(term, invI)
		sum.Add(sum, term)
	}
	return sum
}
