package aggregate

import (
	"fmt"
	"math"
)

// Reasons reported by RejectError. The strings are stable: they are
// recorded in round commitments.
const (
	ReasonShape     = "shape"      // wrong number of parameters
	ReasonNonFinite = "non-finite" // a NaN or an infinity
	ReasonNorm      = "norm"       // L2 norm above the bound
	ReasonExamples  = "examples"   // zero examples for an example-weighted rule
)

// RejectError reports why an update was refused.
type RejectError struct {
	Reason string // one of the Reason constants
	Detail string // human-readable specifics
}

func (e *RejectError) Error() string {
	return "aggregate: update rejected (" + e.Reason + "): " + e.Detail
}

// Validator checks updates before aggregation.
type Validator struct {
	Dim       int     // required number of parameters
	NormBound float64 // L2 norm bound; 0 means no bound
	Clip      bool    // scale updates above NormBound down to it instead of rejecting
}

// Norm reports the L2 norm of x, summed in float64 in the fixed lane order
// of sumSquares32 (8 interleaved lanes, combined pairwise), so that every
// platform computes the same bits.
func Norm(x []float32) float64 { return math.Sqrt(sumSquares32(x)) }

// Check reports whether delta is acceptable. It returns a *RejectError
// with Reason "shape" for a wrong length, "non-finite" for a NaN or an
// infinity, and "norm" for an L2 norm above NormBound. With Clip set, an
// update above the bound is instead scaled in place by NormBound/norm
// (each element float32(float64(x)*scale)) and Check reports clipped =
// true; rounding may leave the clipped norm above the bound by a few
// float32 ulps.
func (v Validator) Check(delta []float32) (clipped bool, err error) {
	if len(delta) != v.Dim {
		return false, &RejectError{Reason: ReasonShape, Detail: fmt.Sprintf("update has %d parameters, model has %d", len(delta), v.Dim)}
	}
	if i := allFinite(delta); i >= 0 {
		return false, &RejectError{Reason: ReasonNonFinite, Detail: fmt.Sprintf("parameter %d is %v", i, delta[i])}
	}
	if v.NormBound <= 0 {
		return false, nil
	}
	norm := Norm(delta)
	if math.IsInf(norm, 0) {
		return false, &RejectError{Reason: ReasonNonFinite, Detail: "L2 norm overflows float64"}
	}
	if norm <= v.NormBound {
		return false, nil
	}
	if !v.Clip {
		return false, &RejectError{Reason: ReasonNorm, Detail: fmt.Sprintf("L2 norm %.6g above bound %.6g", norm, v.NormBound)}
	}
	scale := v.NormBound / norm
	forChunks(len(delta), func(lo, hi int) {
		x := delta[lo:hi]
		for i := range x {
			x[i] = float32(float64(x[i]) * scale)
		}
	})
	return true, nil
}
