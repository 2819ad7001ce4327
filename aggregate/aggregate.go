package aggregate

import (
	"errors"
	"fmt"
)

// Update is one participant's contribution to a round.
type Update struct {
	// Participant is the participant's libp2p peer ID string. Updates are
	// combined in ascending byte order of Participant.
	Participant string
	// NumExamples is the number of local training examples; the FedAvg
	// family weights each update by it (unless central DP is on).
	NumExamples uint64
	// Delta is the local model minus the global model, one float32 per
	// parameter. Add does not retain it: the caller may reuse the slice.
	Delta []float32
}

// Aggregator combines the updates of one round into the next global model.
// An Aggregator is not safe for concurrent use; it may use goroutines
// internally, but its results never depend on their scheduling.
type Aggregator interface {
	// Rule reports the rule's canonical description (Spec.Canonical).
	Rule() string
	// Dim reports the number of parameters.
	Dim() int
	// Streaming reports whether Add folds each update into O(Dim) state and
	// drops it (true), or buffers every update until Finish (false).
	Streaming() bool
	// Add adds one update. Updates must arrive in strictly ascending
	// Participant order; an out-of-order or duplicate participant, a wrong
	// length or a zero NumExamples (for example-weighted rules) is an
	// error and leaves the aggregator unchanged. Add does not scan for
	// non-finite values or norms: run Validator.Check first.
	Add(u Update) error
	// AddBatch adds the updates of us in order, with a result bit-identical
	// to calling Add on each; a streaming rule folds them in one pass over
	// its accumulator, which is what makes FedAvg memory-bandwidth bound
	// rather than accumulator bound. If one update is refused (the error
	// says which), none is added. Memory stays O(len(us) * Dim) for the
	// caller's buffers, independent of the cohort size.
	AddBatch(us []Update) error
	// Len reports the number of updates added in the current round.
	Len() int
	// SetNoiseSeed sets the seed of the central-DP Gaussian noise for the
	// current round. Rules without DP noise ignore it; with DP noise, Finish
	// fails unless a seed was set since the last Finish or Reset.
	SetNoiseSeed(seed [32]byte)
	// Finish writes the new global model to dst (global plus the aggregated
	// delta, through the server optimizer if any), advances the server
	// optimizer state, and resets the round. global and dst must have
	// length Dim and may be the same slice. On error the optimizer state and
	// dst are unchanged, and the round is reset all the same.
	Finish(global, dst []float32) error
	// Reset abandons the current round's updates, keeping optimizer state.
	Reset()
	// State reports the server optimizer state (momentum, moments) in the
	// deterministic encoding described in doc.go.
	State() []byte
	// SetState restores state produced by State of an aggregator with the
	// same rule and Dim.
	SetState(b []byte) error
}

// ErrNoUpdates is returned by Finish when the round has no updates.
var ErrNoUpdates = errors.New("aggregate: no updates to aggregate")

// ErrNoSeed is returned by Finish when DP noise is configured and no noise
// seed was set for the round.
var ErrNoSeed = errors.New("aggregate: DP noise configured but no noise seed set for the round")

// New returns the aggregator of the rule s for models of dim parameters.
func New(s Spec, dim int) (Aggregator, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if dim <= 0 {
		return nil, fmt.Errorf("aggregate: model dimension %d must be positive", dim)
	}
	p := s.filled()
	r := rules[s.Rule]
	switch r.kind {
	case kindMean:
		return newMean(s, p, dim), nil
	default:
		return newRobust(s, p, dim), nil
	}
}

// order tracks the ascending-participant contract of Add.
type order struct {
	last string
	n    int
}

func (o *order) check(p string) error {
	if p == "" {
		return errors.New("aggregate: update has an empty participant ID")
	}
	if o.n > 0 {
		if p == o.last {
			return fmt.Errorf("aggregate: duplicate update from participant %q", p)
		}
		if p < o.last {
			return fmt.Errorf("aggregate: participant %q added after %q (Add needs ascending participant order)", p, o.last)
		}
	}
	return nil
}

func (o *order) accept(p string) { o.last = p; o.n++ }

func (o *order) reset() { o.last = ""; o.n = 0 }

// batchErr names the refused update of an AddBatch call; errors.As still
// finds a *RejectError inside.
func batchErr(k int, u Update, err error) error {
	return fmt.Errorf("aggregate: batch update %d (participant %q): %w", k, u.Participant, err)
}

func checkDst(dim int, global, dst []float32) error {
	if len(global) != dim || len(dst) != dim {
		return fmt.Errorf("aggregate: Finish needs global and dst of length %d, got %d and %d", dim, len(global), len(dst))
	}
	return nil
}
