package round

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/decimal"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
)

// Opener returns the plaintext update file of an accepted submission. A
// non-empty reason rejects the submission (blob unavailable, does not open);
// an error aborts the fold (the caller cannot decide, e.g. an auditor that is
// not a recipient). The fold is done with an opening once it asks for the
// next one or returns: it keeps nothing of it, so an opener may reuse its
// memory then (package prefetch's Recycle).
type Opener func(ctx context.Context, s *ledger.SignedSubmission) (plaintext []byte, reason ledger.Reason, err error)

// FoldInput is everything a round's aggregation depends on.
type FoldInput struct {
	Job       *ledger.JobSpec
	Round     uint64
	Global    []byte // the input model file (safetensors)
	State     []byte // aggregator state before the round (nil: fresh)
	NoiseSeed ledger.Hash
	Subs      []ledger.SignedSubmission // accepted at receipt, ascending by participant
	SecAgg    *SecAggTask               // secagg rounds (FoldTask.SecAgg)
	// Checked, when set, reports whether the opener has already checked
	// the plaintext it returned for s against s.Sub.UpdateHash (the
	// coordinator checks the updates it fetches as they arrive); the fold
	// then does not hash it again. Auditors leave it nil.
	Checked func(s *ledger.SignedSubmission) bool
	// OutputBuffer, when set, returns memory the fold may write the output
	// model into once it has folded every update (the coordinator's last
	// update buffer, its own to give then): the output then takes no new
	// memory. nil, or too small: the fold allocates.
	OutputBuffer func() []byte
}

// FoldOutput is a round's result.
type FoldOutput struct {
	Records []ledger.SubmissionRecord // one per input submission, in order, with status and share
	Valid   int
	Status  ledger.Status // ledger.StatusOK or ledger.StatusFailed
	Reason  string        // why a failed round failed
	Model   []byte        // the output model file; the input model when the round failed
	State   []byte        // aggregator state after the round
	// Secrets are what a secagg round's unmasking recovered (cohort
	// order), recorded in its commitment.
	Secrets []ledger.RecoveredSecret
}

// ErrFold reports a fold that cannot be computed from its inputs.
var ErrFold = errors.New("round: fold")

// ModelMeta returns the metadata written into round r's model file. Version
// 0 (the initial model) carries no "floe.job": the job ID commits to the
// initial model's hash, so the file cannot name the job it is part of, and
// any value written before the job is complete would name a different one.
// Later versions carry the real job ID.
func ModelMeta(job *ledger.JobSpec, round uint64) map[string]string {
	meta := map[string]string{
		model.MetaArch: job.Arch,
		"floe.round":   strconv.FormatUint(round, 10),
	}
	if round > 0 {
		meta["floe.job"] = job.ID().String()
	}
	return meta
}

// Fold opens, validates and aggregates a round's accepted submissions in their
// fixed order. It is the one function both the coordinator and the auditor run,
// so the same inputs give the same model bytes.
//
// The vector the rule works on is the global model's float tensors (F32,
// F64, F16, BF16), flattened in the file's tensor order as float32 (see
// package model); an update is a file of deltas with the global model's
// names, order, shapes and dtypes (else ReasonShape), and norms, clipping
// and the robust rules see its whole flattened delta. The rule accumulates
// in float64 (package aggregate); the new values are rounded to each
// tensor's own dtype, to nearest with ties to even. Integer and BOOL tensors
// are not aggregated: the output keeps the global model's values whatever
// an update holds, and they never reject an update.
func Fold(ctx context.Context, in FoldInput, open Opener) (*FoldOutput, error) {
	if in.SecAgg != nil {
		return foldSecAgg(ctx, in, open)
	}
	job := in.Job
	spec, err := aggregate.ParseCanonical(job.Aggregation)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFold, err)
	}
	// The global model's values alias in.Global when they can (gflat, see
	// model.ViewSafetensors): global is then read-only.
	global, _, gflat, err := model.ViewSafetensors(in.Global)
	if err != nil {
		return nil, fmt.Errorf("%w: input model: %v", ErrFold, err)
	}
	dim := global.Len()
	agg, err := aggregate.New(spec, dim)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFold, err)
	}
	if len(in.State) > 0 {
		if err := agg.SetState(in.State); err != nil {
			return nil, fmt.Errorf("%w: aggregator state: %v", ErrFold, err)
		}
	}
	nb, err := decimal.ParseOptional(job.NormBound)
	bound := nb.Float64()
	if err != nil {
		return nil, fmt.Errorf("%w: norm bound: %v", ErrFold, err)
	}
	val := aggregate.Validator{Dim: dim, NormBound: bound, Clip: job.Clip}
	out := &FoldOutput{Records: make([]ledger.SubmissionRecord, len(in.Subs))}
	var totalExamples uint64
	var delta []float32 // one buffer for every update's values, in turn
	for i := range in.Subs {
		s := &in.Subs[i]
		rec := &out.Records[i]
		rec.Signed = *s
		reason, err := foldOne(ctx, s, open, in.Checked, val, global, agg, &delta)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			rec.Status, rec.Reason = ledger.StatusRejected, reason
			continue
		}
		rec.Status = ledger.StatusAccepted
		out.Valid++
		totalExamples += s.Sub.NumExamples
	}
	if out.Status, out.Reason = Outcome(job, out.Valid); out.Status == ledger.StatusFailed {
		agg.Reset()
		out.Model, out.State = in.Global, in.State
		return out, nil
	}
	agg.SetNoiseSeed(in.NoiseSeed)
	// The new values go straight into the output file when its float
	// values are one F32 run (model.NewSafetensorsF32), else into a flat
	// copy that sets a private copy of the global model.
	meta := ModelMeta(job, in.Round)
	var outBuf []byte
	if in.OutputBuffer != nil {
		outBuf = in.OutputBuffer()
	}
	if len(in.Global) >= collectBeforeOutput && outBuf == nil {
		// The updates are folded and the buffers that held them are
		// garbage: collect them now, so that the output reuses their
		// pages instead of new ones (memory: the accumulator, the input
		// and the output models; a collection of these few pointer-free
		// buffers costs milliseconds).
		runtime.GC()
	}
	var file []byte
	var flat []float32
	direct := false
	if gflat != nil {
		if file, flat, direct, err = model.NewSafetensorsF32Into(outBuf, global, meta); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFold, err)
		}
	}
	if !direct {
		if gflat != nil {
			if global, _, err = model.UnmarshalSafetensors(in.Global); err != nil {
				return nil, fmt.Errorf("%w: input model: %v", ErrFold, err)
			}
		}
		flat = global.Flatten(nil)
		gflat = flat
	}
	if err := agg.Finish(gflat, flat); err != nil {
		// The rule cannot run on the valid updates it has (Krum with fewer
		// than 2f+3, say): the round fails with the rule's reason and the
		// job goes on, as when the quorum is not reached.
		agg.Reset()
		out.Status, out.Reason = ledger.StatusFailed, RuleFailedPrefix+err.Error()
		out.Model, out.State = in.Global, in.State
		return out, nil
	}
	for i := range out.Records {
		if out.Records[i].Status == ledger.StatusAccepted {
			out.Records[i].Share = Share(out.Records[i].Signed.Sub.NumExamples, totalExamples)
		}
	}
	if direct {
		out.Model = file
	} else {
		if err := global.SetFlat(flat); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFold, err)
		}
		if out.Model, err = model.MarshalSafetensors(global, meta); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFold, err)
		}
	}
	out.State = agg.State()
	return out, nil
}

// collectBeforeOutput is the model size from which Fold collects garbage
// before it allocates the output model.
const collectBeforeOutput = 64 << 20

func foldOne(ctx context.Context, s *ledger.SignedSubmission, open Opener, checked func(*ledger.SignedSubmission) bool, val aggregate.Validator, global *model.Params, agg aggregate.Aggregator, buf *[]float32) (ledger.Reason, error) {
	pt, reason, err := open(ctx, s)
	if err != nil || reason != "" {
		return reason, err
	}
	// The plaintext's hash is checked first, but a large update's is
	// computed on another core while its values are decoded and checked:
	// neither writes pt, and the verdict is the one of doing them in turn
	// (a wrong hash rejects the update whatever the values are).
	var hashed <-chan ledger.Hash
	if checked == nil || !checked(s) {
		hashed = hashPlaintext(pt)
	}
	delta, reason := checkOne(pt, val, global, buf)
	if hashed != nil && <-hashed != s.Sub.UpdateHash {
		return ledger.ReasonHash, nil
	}
	if reason != "" {
		return reason, nil
	}
	if err := agg.Add(aggregate.Update{Participant: s.Sub.Participant, NumExamples: s.Sub.NumExamples, Delta: delta}); err != nil {
		// The rule itself may refuse an update (e.g. zero examples, or
		// non-finite values under DP): that rejects the update, not the round.
		var re *aggregate.RejectError
		if errors.As(err, &re) {
			if re.Reason == aggregate.ReasonNonFinite {
				return ledger.ReasonNonFinite, nil
			}
			return ledger.ReasonBadUpdate, nil
		}
		return "", fmt.Errorf("%w: %v", ErrFold, err)
	}
	return "", nil
}

// parallelHashMin is the plaintext size from which foldOne hashes an
// update on its own goroutine, beside the decoding and checks.
const parallelHashMin = 1 << 20

// hashPlaintext returns a channel that delivers ledger.Sum(pt): computed
// on a goroutine of its own when pt is large and there is more than one
// core to run it, else right away.
func hashPlaintext(pt []byte) <-chan ledger.Hash {
	c := make(chan ledger.Hash, 1)
	if len(pt) < parallelHashMin || runtime.GOMAXPROCS(0) < 2 {
		c <- ledger.Sum(pt)
		return c
	}
	go func() { c <- ledger.Sum(pt) }()
	return c
}

// checkOne decodes and checks an opened update against the global model
// and the validator, and returns its values; a non-empty reason rejects
// it. It never writes pt.
func checkOne(pt []byte, val aggregate.Validator, global *model.Params, buf *[]float32) (delta []float32, _ ledger.Reason) {
	// Names, order, shapes and dtypes must be the global model's. The
	// update's integer and BOOL tensors pass this check but their values
	// are never read: the output keeps the global model's. The values are
	// decoded straight into the fold's one buffer (model.DecodeDelta: the
	// verdicts of UnmarshalSafetensors and SameSchema, without a copy).
	//
	// When the validator may clip (it scales the values in place), or the
	// values are not one aligned F32 run, they are copied into buf; else
	// the fold reads them where they are, in pt, which the opener handed
	// over (model.DecodeDeltaView): the fold then holds one copy of the
	// update, not two.
	var err error
	if val.Clip && val.NormBound > 0 {
		delta, err = model.DecodeDelta(pt, global, *buf)
		*buf = delta
	} else {
		var aliased bool
		delta, aliased, err = model.DecodeDeltaView(pt, global, *buf)
		if !aliased {
			*buf = delta
		}
	}
	switch {
	case errors.Is(err, model.ErrSchema):
		return nil, ledger.ReasonShape
	case err != nil:
		return nil, ledger.ReasonBadUpdate
	}
	if _, err := val.Check(delta); err != nil {
		var re *aggregate.RejectError
		if errors.As(err, &re) {
			switch re.Reason {
			case aggregate.ReasonShape:
				return nil, ledger.ReasonShape
			case aggregate.ReasonNonFinite:
				return nil, ledger.ReasonNonFinite
			case aggregate.ReasonNorm:
				return nil, ledger.ReasonNorm
			}
		}
		return nil, ledger.ReasonBadUpdate
	}
	return delta, ""
}
