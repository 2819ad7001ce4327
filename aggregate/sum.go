package aggregate

import (
	"errors"
	"fmt"
	"math"
)

// MeanAdder is implemented by the FedAvg family (FedAvg, FedAvgM, FedAdam,
// FedYogi, FedAdagrad, with or without central DP): the rules that need
// only the weighted mean of a round's updates, which secure aggregation
// delivers without any single update.
type MeanAdder interface {
	// AddMean sets the round's updates to count updates whose weighted
	// mean delta is mean and whose weights sum to weight: the accumulator
	// becomes mean*weight, exactly as if the updates had been added one
	// by one up to rounding. With central DP every update weighs 1, so
	// weight must equal count, and each update must have been clipped to
	// dp_clip by its sender (the aggregator cannot see it). It is an
	// error after Add in the same round.
	AddMean(mean []float64, weight float64, count int) error
}

// ErrNeedsUpdates reports a rule that needs the individual updates
// (median, trimmed mean, Krum): it cannot run on a mean alone.
var ErrNeedsUpdates = errors.New("aggregate: the rule needs the individual updates, not their mean")

// AddMean adds a round's weighted mean to a, if its rule can take one.
func AddMean(a Aggregator, mean []float64, weight float64, count int) error {
	m, ok := a.(MeanAdder)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNeedsUpdates, a.Rule())
	}
	return m.AddMean(mean, weight, count)
}

func (a *mean) AddMean(mean []float64, weight float64, count int) error {
	switch {
	case a.ord.n != 0:
		return fmt.Errorf("aggregate: AddMean after %d updates in the round", a.ord.n)
	case len(mean) != a.dim:
		return &RejectError{Reason: ReasonShape, Detail: fmt.Sprintf("mean has %d parameters, model has %d", len(mean), a.dim)}
	case count < 1 || !(weight > 0) || math.IsInf(weight, 0):
		return fmt.Errorf("aggregate: AddMean of %d updates with weight %g", count, weight)
	case a.isDP && weight != float64(count):
		return fmt.Errorf("aggregate: with central DP each update weighs 1: weight %g for %d updates", weight, count)
	}
	for i, x := range mean {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return &RejectError{Reason: ReasonNonFinite, Detail: "mean has a non-finite value"}
		}
		a.acc[i] = x * weight
	}
	a.weight = weight
	a.ord.n = count
	a.ord.last = "\xff" // no Add may follow in this round
	return nil
}
