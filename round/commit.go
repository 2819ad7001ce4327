package round

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/floe-fl/floe/decimal"

	"github.com/floe-fl/floe/ledger"
)

// Quorum returns the fewest valid updates an ok round of job needs.
func Quorum(job *ledger.JobSpec) uint64 { return max(job.Quorum, 1) }

// Outcome returns a round's status given its count of valid updates, and
// for a failed round the reason as the commitment records it.
func Outcome(job *ledger.JobSpec, valid int) (ledger.Status, string) {
	if need := Quorum(job); uint64(valid) < need {
		return ledger.StatusFailed, fmt.Sprintf("quorum not reached: %d valid updates, need %d", valid, need)
	}
	return ledger.StatusOK, ""
}

// RuleFailedPrefix starts the reason of a round that had a quorum of valid
// updates on which the aggregation rule could not run; the rule's error
// follows. Published text: never change it.
const RuleFailedPrefix = "aggregation rule cannot run: "

// Share returns a contribution share in parts per million: the update's
// examples over the round's total of accepted examples, in exact integer
// arithmetic (rounded down).
func Share(examples, total uint64) uint64 {
	if total == 0 {
		return 0
	}
	return examples * 1_000_000 / total
}

// canonical returns a round's receipt log in the order its commitment
// records (SubmissionRecord.Arrival): the receipts taken before the round
// opened, then the others, each part grouped by participant and, within a
// participant, in the order they were taken; Arrival is renumbered 1..n.
//
// The rules' verdict on a submission depends on the round's state and on
// earlier submissions of the same participant only (a duplicate is one
// after an accepted one), never on other participants' submissions, so
// this order replays to the same verdicts as the order of arrival, and it
// does not depend on how the messages of different participants happened
// to interleave: the same submissions give the same commitment bytes.
func canonical(log []ledger.SubmissionRecord, opened uint64) []ledger.SubmissionRecord {
	out := slices.Clone(log)
	part := func(r *ledger.SubmissionRecord) int {
		if r.Arrival <= opened {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(out, func(a, b ledger.SubmissionRecord) int {
		if pa, pb := part(&a), part(&b); pa != pb {
			return pa - pb
		}
		return strings.Compare(a.Signed.Sub.Participant, b.Signed.Sub.Participant)
	})
	for i := range out {
		out[i].Arrival = uint64(i) + 1
	}
	return out
}

// FoldResult is what the driver hands back after running a FoldTask: the
// fold's output and where it stored the new model and aggregator state.
type FoldResult struct {
	Round       uint64
	Out         *FoldOutput
	OutputModel ledger.BlobID // where Out.Model is stored (ok rounds)
	StateBlob   ledger.BlobID // where Out.State is stored (ok rounds with a state)
	NoiseSeed   ledger.Hash
	// Metrics are the coordinator's evaluation of the new model: its word,
	// not replayed by auditors.
	Metrics []ledger.Metric
}

// Commitment builds the closing round's commitment from the machine's state
// and the fold's result. It is a pure function of the two and changes
// nothing: the coordinator signs what it returns, and an auditor compares
// what it returns for the replayed round with the record, field by field.
//
// Submissions are the fold's records (participant order) followed by the
// rejections made at receipt (arrival order); every record carries its
// arrival in the round's receipt log.
func (m *Machine) Commitment(res *FoldResult) (ledger.Commitment, error) {
	out := res.Out
	if out == nil {
		return ledger.Commitment{}, fmt.Errorf("round: fold result of round %d without output", res.Round)
	}
	arrival := make(map[string]uint64, len(m.accepted))
	var rejected []ledger.SubmissionRecord
	for _, r := range canonical(m.receipts, m.opened) {
		if r.Status == ledger.StatusAccepted {
			arrival[r.Signed.Sub.Participant] = r.Arrival
		} else {
			rejected = append(rejected, r)
		}
	}
	subs := make([]ledger.SubmissionRecord, 0, len(out.Records)+len(rejected))
	for _, r := range out.Records {
		a, ok := arrival[r.Signed.Sub.Participant]
		if !ok {
			return ledger.Commitment{}, fmt.Errorf("round: fold of round %d has a record of %s, which was not accepted", res.Round, r.Signed.Sub.Participant)
		}
		r.Arrival = a
		subs = append(subs, r)
	}
	if len(out.Records) != len(arrival) {
		return ledger.Commitment{}, fmt.Errorf("round: fold of round %d has %d records for %d accepted submissions", res.Round, len(out.Records), len(arrival))
	}
	subs = append(subs, rejected...)
	c := ledger.Commitment{
		Version: ledger.Version, Job: m.jobID, Round: m.round, Prev: m.head,
		InputModel: m.model, InputModelHash: m.modelHash,
		CohortSeed: m.seed, Candidates: slices.Clone(m.candidates), Cohort: slices.Clone(m.cohort),
		Submissions: subs, Rule: m.job.Aggregation,
		Status: out.Status, Reason: out.Reason, TimeMillis: m.closeMillis, DroppedRejects: m.dropped, Opened: m.opened,
		OutputModel: m.model, OutputModelHash: m.modelHash, StateBlob: m.stateBlob,
	}
	if m.sa != nil {
		rec := m.saRecord()
		rec.Secrets = slices.Clone(out.Secrets)
		c.SecAgg = &rec
	}
	if out.Status == ledger.StatusOK {
		c.NoiseSeed = res.NoiseSeed
		c.OutputModel, c.OutputModelHash = res.OutputModel, ledger.Sum(out.Model)
		if len(out.State) > 0 {
			c.StateBlob, c.StateHash = res.StateBlob, ledger.Sum(out.State)
		}
		c.Metrics = slices.Clone(res.Metrics)
		c.ParticipantMetrics = WeightedMetrics(out.Records)
	}
	return c, nil
}

// WeightedMetrics returns, for each metric name the accepted records
// report, its example-weighted mean over the records that report it, in
// float64 summed in record order (participant order), as a decimal of 6
// significant digits; names sorted. Values that are not finite are left
// out.
func WeightedMetrics(records []ledger.SubmissionRecord) []ledger.Metric {
	type acc struct{ sum, weight float64 }
	sums := map[string]*acc{}
	for i := range records {
		r := &records[i]
		if r.Status != ledger.StatusAccepted {
			continue
		}
		w := float64(r.Signed.Sub.NumExamples)
		for _, m := range r.Signed.Sub.Metrics {
			d, err := decimal.Parse(m.Value)
			if err != nil {
				continue
			}
			a := sums[m.Name]
			if a == nil {
				a = &acc{}
				sums[m.Name] = a
			}
			a.sum += float64(w * d.Float64())
			a.weight += w
		}
	}
	var out []ledger.Metric
	for _, name := range slices.Sorted(maps.Keys(sums)) {
		a := sums[name]
		v := a.sum / a.weight
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		out = append(out, ledger.Metric{Name: name, Value: strconv.FormatFloat(v, 'g', 6, 64)})
	}
	return out
}
