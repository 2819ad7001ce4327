package sims

import (
	"fmt"
	"math"
	"sort"
)

// participantsMax bounds Options.Participants: each participant is a libp2p
// host with its own data set in this one process.
const participantsMax = 1 << 14

// ValidateInputs reports the first bad option, as Validate does, after
// checking the numbers Validate leaves to the data generators and the
// aggregation rules (which would fail mid-run, or never): Synthetic alpha and
// beta, the Dirichlet concentration, the dropout rate and the rule parameters
// must be finite and in range, and the federation of a size one process can
// hold. It does not modify o.
func (o *Options) ValidateInputs() error {
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	switch {
	case !finite(o.Alpha) || o.Alpha < 0 || !finite(o.Beta) || o.Beta < 0:
		return fmt.Errorf("sims: --alpha and --beta must be finite and >= 0, got %g and %g", o.Alpha, o.Beta)
	case !finite(o.DirAlpha) || o.DirAlpha <= 0:
		return fmt.Errorf("sims: --dirichlet-alpha must be finite and > 0, got %g", o.DirAlpha)
	case math.IsNaN(o.Dropout):
		return fmt.Errorf("sims: --dropout must be in [0, 1), got NaN")
	case !finite(o.LR) || !finite(o.Mu) || !finite(o.NormBound):
		return fmt.Errorf("sims: --lr, --mu and --norm-bound must be finite, got %g, %g and %g", o.LR, o.Mu, o.NormBound)
	case o.Participants > participantsMax:
		return fmt.Errorf("sims: --participants must be at most %d, got %d", participantsMax, o.Participants)
	case o.Epochs < 1 || o.Batch < 1:
		return fmt.Errorf("sims: --epochs and --batch must be at least 1, got %d and %d", o.Epochs, o.Batch)
	case o.Deadline <= 0:
		return fmt.Errorf("sims: --deadline must be positive, got %v", o.Deadline)
	}
	names := make([]string, 0, len(o.Rule.Params))
	for k := range o.Rule.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if v := o.Rule.Params[k]; !finite(v) {
			return fmt.Errorf("sims: --rule-param %s=%g: want a finite number", k, v)
		}
	}
	return o.Validate()
}
