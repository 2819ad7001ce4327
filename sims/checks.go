package sims

import (
	"context"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/decimal"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/round"
)

// Checker names (Check.Name).
const (
	CheckAudit        = "audit"        // the chain audits from its head alone
	CheckAggregate    = "aggregate"    // each committed model is the reference rule on the accepted updates
	CheckAcknowledged = "acknowledged" // every submission answered ok is in its round's commitment
	CheckClean        = "clean"        // the clean run, beside
)

// Check statuses.
const (
	CheckPass = "pass"
	CheckFail = "fail"
	CheckSkip = "skip" // nothing to check (no audit, no rule with a reference, ...)
)

// Check is one checker's verdict on a run.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

func (c Check) String() string { return c.Name + ": " + c.Status + ": " + c.Detail }

// FailedChecks returns the checks of r that failed.
func (r *Result) FailedChecks() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == CheckFail {
			out = append(out, c)
		}
	}
	return out
}

// CleanRun is the run of the same options without faults (same seed).
type CleanRun struct {
	Head     ledger.BlobID
	Rounds   int
	Accuracy float64 // of its last ok round; NaN if none
	Round    uint64  // that round
}

// Tolerances of the aggregate checker. The reference sums in float64 as
// the rule does, so a plain or sealed round differs from it only by the
// rounding of the output model to float32 (half an ulp, 6e-8 relative):
// refRelTol allows a few ulps and refAbsTol values near zero. A secagg
// round's mean is decoded from fixed point: each member's weighted value
// is rounded (stochastically) to 2^-frac_bits, so the mean is within
// 2^-frac_bits of the float mean; secaggQuanta allows twice that.
const (
	refRelTol    = 1e-6
	refAbsTol    = 1e-7
	secaggQuanta = 2
)

// checks runs the checkers on a finished run (after its audit).
func (s *sim) checks(ctx context.Context, res *Result) []Check {
	out := []Check{auditCheck(res)}
	get, err := s.getter()
	var ch *ledger.Chain
	if err == nil {
		ch, err = ledger.Walk(ctx, get, res.Head)
	}
	if err != nil {
		fail := fmt.Sprintf("cannot read the chain: %v", err)
		return append(out, Check{CheckAggregate, CheckFail, fail}, Check{CheckAcknowledged, CheckFail, fail})
	}
	return append(out, s.aggregateCheck(ctx, get, ch), s.ackCheck(ch))
}

// getter reads the run's blobs as the audit does.
func (s *sim) getter() (ledger.Getter, error) {
	if s.o.Store == ledger.StoreWalrus {
		st, err := s.walrusStore()
		if err != nil {
			return nil, err
		}
		return st.Get, nil
	}
	return s.cstoreInner().Get, nil
}

func auditCheck(res *Result) Check {
	if res.Audit == nil {
		return Check{CheckAudit, CheckSkip, "not audited (no_audit)"}
	}
	if err := res.Audit.Err(); err != nil {
		return Check{CheckAudit, CheckFail, err.Error()}
	}
	return Check{CheckAudit, CheckPass, fmt.Sprintf("%s: %d rounds replayed from the head alone", res.Audit.Verdict, len(res.Audit.Rounds))}
}

// ackCheck: every submission the coordinator answered ok is in its
// round's commitment (the same blob), accepted or rejected by the fold for
// what it holds (its norm, say); one that is missing, or rejected because
// its blob could not be read, was lost. Rounds not committed (a cancelled
// run) are left out.
func (s *sim) ackCheck(ch *ledger.Chain) Check {
	s.mu.Lock()
	keys := make([]ackKey, 0, len(s.acks))
	for k := range s.acks {
		keys = append(keys, k)
	}
	acks := s.acks
	s.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].round != keys[j].round {
			return keys[i].round < keys[j].round
		}
		return keys[i].peer < keys[j].peer
	})
	var lost []string
	accepted, folded, later := 0, map[ledger.Reason]int{}, 0
	for _, k := range keys {
		if k.round > uint64(len(ch.Commitments)) {
			later++
			continue
		}
		c := &ch.Commitments[k.round-1].C
		var rec *ledger.SubmissionRecord
		for i := range c.Submissions {
			if r := &c.Submissions[i]; r.Signed.Sub.Participant == k.peer && r.Signed.Sub.Blob == acks[k] {
				rec = r
				if r.Status == ledger.StatusAccepted {
					break
				}
			}
		}
		switch {
		case rec == nil:
			lost = append(lost, fmt.Sprintf("round %d %s: not in the commitment", k.round, k.peer))
		case rec.Status == ledger.StatusAccepted:
			accepted++
		case rec.Reason.Stage() == ledger.StageFold && rec.Reason != ledger.ReasonBlobMissing:
			folded[rec.Reason]++
		default:
			lost = append(lost, fmt.Sprintf("round %d %s: %s (%s)", k.round, k.peer, rec.Status, rec.Reason))
		}
	}
	if len(lost) > 0 {
		return Check{CheckAcknowledged, CheckFail, fmt.Sprintf("%d of %d acknowledged submissions lost: %s", len(lost), len(keys)-later, strings.Join(lost, "; "))}
	}
	if len(keys)-later == 0 {
		return Check{CheckAcknowledged, CheckSkip, "no submission was acknowledged"}
	}
	detail := fmt.Sprintf("all %d acknowledged submissions are in the chain: %d accepted", len(keys)-later, accepted)
	for _, r := range slices.Sorted(maps.Keys(folded)) {
		detail += fmt.Sprintf(", %d rejected by the fold (%s)", folded[r], r)
	}
	return Check{CheckAcknowledged, CheckPass, detail}
}

// aggregateCheck compares each ok round's output model with the input
// model plus the reference rule (refRule) on the round's accepted updates,
// read back from the chain (sealed ones opened with the auditor's key); in
// secagg, with the mean of the deltas the members encoded (captured at the
// participants: no one can read a masked input). Rounds whose rule has no
// reference, and failed rounds, are counted as skipped.
func (s *sim) aggregateCheck(ctx context.Context, get ledger.Getter, ch *ledger.Chain) Check {
	job := &ch.Job.Job
	secagg := job.Privacy == ledger.PrivacySecAgg
	checked, worst := 0, 0.0
	skipped := map[string]int{}
	var bad []string
	for _, sc := range ch.Commitments {
		c := &sc.C
		if c.Status != ledger.StatusOK {
			skipped["failed rounds"]++
			continue
		}
		spec, err := aggregate.ParseCanonical(c.Rule)
		if err != nil {
			bad = append(bad, fmt.Sprintf("round %d: rule %q: %v", c.Round, c.Rule, err))
			continue
		}
		if why := noReference(spec, secagg); why != "" {
			skipped[why]++
			continue
		}
		in, err := readFlat(ctx, get, c.InputModel)
		var out []float32
		if err == nil {
			out, err = readFlat(ctx, get, c.OutputModel)
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("round %d: %v", c.Round, err))
			continue
		}
		var agg []float64
		abs := refAbsTol
		if secagg {
			s.mu.Lock()
			ref, ok := s.saRef[c.Round]
			s.mu.Unlock()
			switch {
			case !ok:
				err = fmt.Errorf("no deltas captured")
			case ref.err != nil:
				err = ref.err
			}
			agg, abs = ref.mean, ref.tol
		} else {
			agg, err = s.plainReference(ctx, get, job, c, spec, len(in))
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("round %d: %v", c.Round, err))
			continue
		}
		if len(agg) != len(in) || len(out) != len(in) {
			bad = append(bad, fmt.Sprintf("round %d: %d parameters in, %d out, %d in the reference", c.Round, len(in), len(out), len(agg)))
			continue
		}
		checked++
		for j := range in {
			want := float64(in[j]) + agg[j]
			diff := math.Abs(float64(out[j]) - want)
			tol := abs + refRelTol*math.Abs(want)
			if !(diff <= tol) {
				bad = append(bad, fmt.Sprintf("round %d: parameter %d is %g, the reference %g (tolerance %g)", c.Round, j, out[j], want, tol))
				break
			}
			worst = max(worst, diff/tol)
		}
	}
	var skips []string
	for _, why := range slices.Sorted(maps.Keys(skipped)) {
		skips = append(skips, fmt.Sprintf("%d skipped (%s)", skipped[why], why))
	}
	tail := ""
	if len(skips) > 0 {
		tail = "; " + strings.Join(skips, ", ")
	}
	switch {
	case len(bad) > 0:
		return Check{CheckAggregate, CheckFail, strings.Join(bad, "; ") + tail}
	case checked == 0:
		return Check{CheckAggregate, CheckSkip, "no round to compare" + tail}
	}
	what := "the accepted updates read back from the chain"
	if secagg {
		what = "the deltas the members encoded"
	}
	return Check{CheckAggregate, CheckPass, fmt.Sprintf("%d rounds equal the reference rule on %s (largest difference %.2g of the tolerance)%s", checked, what, worst, tail)}
}

// noReference says why rounds of spec have no reference ("": they have).
func noReference(spec aggregate.Spec, secagg bool) string {
	if _, dp := spec.DP(); dp {
		return "central DP noise"
	}
	switch spec.Rule {
	case "fedavg":
		return ""
	case "median", "trimmedmean":
		if !secagg {
			return ""
		}
	}
	return "no reference for rule " + spec.Rule
}

// readFlat reads a model or update file and flattens it.
func readFlat(ctx context.Context, get ledger.Getter, id ledger.BlobID) ([]float32, error) {
	b, err := get(ctx, id)
	if err != nil {
		return nil, err
	}
	return flatten(b)
}

func flatten(file []byte) ([]float32, error) {
	p, _, err := model.UnmarshalSafetensors(file)
	if err != nil {
		return nil, err
	}
	return p.Flatten(nil), nil
}

// plainReference reads round c's accepted updates (opening sealed ones as
// the auditor) and returns the reference rule's aggregate delta.
func (s *sim) plainReference(ctx context.Context, get ledger.Getter, job *ledger.JobSpec, c *ledger.Commitment, spec aggregate.Spec, dim int) ([]float64, error) {
	clip, err := normClip(job)
	if err != nil {
		return nil, err
	}
	var deltas [][]float32
	var weights []uint64
	for _, rec := range accepted(c) {
		b, err := get(ctx, rec.Signed.Sub.Blob)
		if err != nil {
			return nil, fmt.Errorf("update of %s: %w", rec.Signed.Sub.Participant, err)
		}
		if job.Privacy == "sealed" {
			var reason ledger.Reason
			if b, reason, err = round.OpenSealed(job, &rec.Signed, b, AuditorName, s.auditorKey); err != nil || reason != "" {
				return nil, fmt.Errorf("update of %s does not open: %v%s", rec.Signed.Sub.Participant, err, reason)
			}
		}
		d, err := flatten(b)
		if err != nil {
			return nil, fmt.Errorf("update of %s: %w", rec.Signed.Sub.Participant, err)
		}
		if len(d) != dim {
			return nil, fmt.Errorf("update of %s has %d parameters, the model %d", rec.Signed.Sub.Participant, len(d), dim)
		}
		deltas = append(deltas, clipNorm(d, clip))
		weights = append(weights, rec.Signed.Sub.NumExamples)
	}
	if len(deltas) == 0 {
		return nil, fmt.Errorf("an ok round without accepted updates")
	}
	return refRule(spec, deltas, weights)
}

// accepted returns c's accepted submission records, in order.
func accepted(c *ledger.Commitment) []*ledger.SubmissionRecord {
	var out []*ledger.SubmissionRecord
	for i := range c.Submissions {
		if c.Submissions[i].Status == ledger.StatusAccepted {
			out = append(out, &c.Submissions[i])
		}
	}
	return out
}

// normClip returns the norm updates are clipped to (0: none): the job's
// norm bound when the job clips.
func normClip(job *ledger.JobSpec) (float64, error) {
	if !job.Clip {
		return 0, nil
	}
	nb, err := decimal.ParseOptional(job.NormBound)
	return nb.Float64(), err
}

// clipNorm returns d scaled to L2 norm bound when it is longer (bound 0:
// d as it is).
func clipNorm(d []float32, bound float64) []float32 {
	if bound <= 0 {
		return d
	}
	var ss float64
	for _, v := range d {
		ss += float64(v) * float64(v)
	}
	if n := math.Sqrt(ss); n > bound {
		out := make([]float32, len(d))
		for j, v := range d {
			out[j] = float32(float64(v) * bound / n)
		}
		return out
	}
	return d
}

// refRule is the reference implementation of the rules the checker
// knows, written to be obviously right rather than fast: float64 loops,
// one coordinate at a time.
//   - fedavg: sum_i n_i d_i / sum_i n_i (n_i the examples);
//   - median: the middle value of each coordinate, the mean of the two
//     middle ones for an even count;
//   - trimmedmean(beta): each coordinate's mean after dropping the
//     floor(beta*n) smallest and largest values.
func refRule(spec aggregate.Spec, deltas [][]float32, weights []uint64) ([]float64, error) {
	n, dim := len(deltas), len(deltas[0])
	out := make([]float64, dim)
	switch spec.Rule {
	case "fedavg":
		var total float64
		for _, w := range weights {
			total += float64(w)
		}
		if total == 0 {
			return nil, fmt.Errorf("fedavg: no examples")
		}
		for j := range dim {
			var sum float64
			for i := range n {
				sum += float64(weights[i]) * float64(deltas[i][j])
			}
			out[j] = sum / total
		}
	case "median", "trimmedmean":
		trim := 0
		if spec.Rule == "trimmedmean" {
			trim = int(math.Floor(spec.Params["beta"] * float64(n)))
		}
		if n-2*trim < 1 {
			return nil, fmt.Errorf("%s: %d updates leave none after trimming %d from each end", spec.Rule, n, trim)
		}
		col := make([]float64, n)
		for j := range dim {
			for i := range n {
				col[i] = float64(deltas[i][j])
			}
			sort.Float64s(col)
			if spec.Rule == "median" {
				if n%2 == 1 {
					out[j] = col[n/2]
				} else {
					out[j] = (col[n/2-1] + col[n/2]) / 2
				}
				continue
			}
			var sum float64
			for _, v := range col[trim : n-trim] {
				sum += v
			}
			out[j] = sum / float64(n-2*trim)
		}
	default:
		return nil, fmt.Errorf("no reference for rule %s", spec.Rule)
	}
	return out, nil
}

// secaggRef is a secagg round's reference: the example-weighted mean of
// the deltas its accepted members encoded, each clipped as the encoding
// clips it, and the absolute tolerance of its fixed point.
type secaggRef struct {
	mean []float64
	tol  float64
	err  error
}

// secaggReference computes round c's secagg reference from the captured
// deltas (an ok round), then frees the deltas of rounds up to c's.
func (s *sim) secaggReference(c *ledger.Commitment) {
	s.mu.Lock()
	caught := s.captured[c.Round]
	for r := range s.captured {
		if r <= c.Round {
			delete(s.captured, r)
		}
	}
	s.mu.Unlock()
	if c.Status != ledger.StatusOK {
		return
	}
	ref := secaggRef{}
	defer func() {
		s.mu.Lock()
		s.saRef[c.Round] = ref
		s.mu.Unlock()
	}()
	job := &s.job.Job
	enc, err := job.SecAgg.Encoding(job.ExamplesBound())
	if err != nil {
		ref.err = err
		return
	}
	clip, err := normClip(job)
	if err != nil {
		ref.err = err
		return
	}
	ref.tol = secaggQuanta * math.Ldexp(1, -enc.FracBits)
	var deltas [][]float32
	var weights []uint64
	for _, rec := range accepted(c) {
		d, ok := caught[rec.Signed.Sub.Participant]
		if !ok {
			ref.err = fmt.Errorf("no delta captured for %s", rec.Signed.Sub.Participant)
			return
		}
		d = slices.Clone(clipNorm(d, clip))
		for j, v := range d {
			d[j] = float32(math.Max(-enc.Clip, math.Min(enc.Clip, float64(v))))
		}
		deltas = append(deltas, d)
		weights = append(weights, round.SecAggWeight(job, rec.Signed.Sub.NumExamples))
	}
	if len(deltas) == 0 {
		ref.err = fmt.Errorf("an ok round without accepted inputs")
		return
	}
	ref.mean, ref.err = refRule(aggregate.Spec{Rule: "fedavg"}, deltas, weights)
}

// runClean runs o without its faults (same seed, no audit) under
// Out/clean.
func runClean(ctx context.Context, o Options) (*CleanRun, error) {
	o.Dropout, o.Crashes, o.DeadNodes, o.Faults = 0, 0, 0, nil
	o.NoAudit, o.NoClean = true, true
	o.Out = filepath.Join(o.Out, "clean")
	if o.Logger != nil {
		o.Logger = o.Logger.With("run", "clean")
	}
	res, err := run(ctx, o, nil)
	if err != nil {
		return nil, err
	}
	c := &CleanRun{Head: res.Head, Rounds: len(res.Rounds)}
	c.Round, c.Accuracy = finalAccuracy(res.Rounds)
	return c, nil
}

// finalAccuracy returns the last ok round and its accuracy (0, NaN: none).
func finalAccuracy(rounds []RoundStat) (uint64, float64) {
	for i := len(rounds) - 1; i >= 0; i-- {
		if rounds[i].Status == ledger.StatusOK {
			return rounds[i].Round, rounds[i].Accuracy
		}
	}
	return 0, math.NaN()
}

// cleanCheck reports the clean run beside the run: it passes when the
// clean run ran (the accuracies are for reading, not a verdict).
func cleanCheck(res *Result, c *CleanRun, err error) Check {
	if err != nil {
		return Check{CheckClean, CheckFail, "the clean run failed: " + err.Error()}
	}
	r, acc := finalAccuracy(res.Rounds)
	return Check{CheckClean, CheckPass, fmt.Sprintf("final accuracy %.4f (round %d) with faults, %.4f (round %d) in the clean run with the same seed (difference %+.4f)",
		acc, r, c.Accuracy, c.Round, acc-c.Accuracy)}
}
