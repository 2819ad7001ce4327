package audit

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round"
)

// The audit replays each round through the coordinator's own rules: a
// round.Machine resumed after the previous round, fed the round's recorded
// receipts in arrival order (those before Opened while the previous round
// was current, the rest while the round was open), closed at the recorded
// time, folded with round.Fold, and asked for the commitment it would build
// (round.Machine.Commitment). The record must be that commitment, field for
// field; what rests on the coordinator's word (when the round opened and
// closed in the arrival order, stream-level rejections, metrics) is taken
// from the record and said so in the report.

// arrivals returns the round's submission records in arrival order. A
// record of an older floe has no arrival positions: its records are taken
// in their recorded order (aggregated ones first), as that version did.
func (x *roundCtx) arrivals() ([]ledger.SubmissionRecord, error) {
	c, r := x.c, x.r
	recs := slices.Clone(c.Submissions)
	legacy := true
	for i := range recs {
		if recs[i].Arrival != 0 {
			legacy = false
		}
	}
	if legacy {
		if len(recs) > 0 {
			x.note("the record has no arrival order (an older format): receipts are replayed in recorded order")
		}
		for i := range recs {
			recs[i].Arrival = uint64(i) + 1
		}
		return recs, nil
	}
	slices.SortStableFunc(recs, func(a, b ledger.SubmissionRecord) int { return int64cmp(a.Arrival, b.Arrival) })
	for i := range recs {
		if recs[i].Arrival == 0 || (i > 0 && recs[i].Arrival == recs[i-1].Arrival) {
			return nil, fail(r, CheckReceipt, fmt.Sprintf("submission records do not have distinct arrival positions (%s at %d)", recs[i].Signed.Sub.Participant, recs[i].Arrival))
		}
	}
	return recs, nil
}

func int64cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// event turns a recorded receipt back into the event the coordinator
// stepped. Stream-level rejections (malformed, oversized, a secagg masked
// input the coordinator could not fetch as signed) are replayed as the
// coordinator's word.
func event(rec *ledger.SubmissionRecord) round.Event {
	ss := rec.Signed
	switch {
	case rec.Reason == ledger.ReasonSender:
		// Another peer sent it: the stream's sender is not recorded.
		return round.Event{Kind: round.EvSubmit, Peer: "\x00another peer", Sub: &ss}
	case rec.Reason.Stage() == ledger.StageStream:
		return round.Event{Kind: round.EvReject, Peer: ss.Sub.Participant, Reason: rec.Reason}
	}
	return round.Event{Kind: round.EvSubmit, Peer: ss.Sub.Participant, Sub: &ss}
}

// cohort resumes the round machine after the previous round, registers
// the round's candidates, replays the receipts that came before the round
// opened and opens it. It checks the cohort against the machine's draw.
func (x *roundCtx) cohort() error {
	s, c, r := x.s, x.c, x.r
	if want := ledger.CohortSeed(s.JobID, r, c.Prev); c.CohortSeed != want {
		return failEv(r, CheckCohort, "cohort seed is not derived from the job, round and previous record", want, c.CohortSeed)
	}
	for i := 1; i < len(c.Candidates); i++ {
		if c.Candidates[i-1] >= c.Candidates[i] {
			return fail(r, CheckCohort, fmt.Sprintf("candidates are not sorted and distinct at %d", i))
		}
	}
	recs, err := x.arrivals()
	if err != nil {
		return err
	}
	x.recs = recs
	x.m = round.Resume(s.Job, s.Prev, s.verifyCert, round.After{Round: r - 1, Head: s.Prev, Model: s.Model, ModelHash: s.ModelHash, StateBlob: s.StateBlob, CloseMillis: s.TimeMillis})
	for _, p := range c.Candidates {
		if _, err := x.m.Apply(round.Event{Kind: round.EvRegister, Peer: p, NumExamples: 1}); err != nil {
			return fail(r, CheckCohort, fmt.Sprintf("candidate %q: %v", p, err))
		}
	}
	for i := range x.recs {
		if x.recs[i].Arrival > c.Opened {
			break
		}
		if err := x.receipt(&x.recs[i]); err != nil {
			return err
		}
	}
	if _, err := x.m.Apply(round.Event{Kind: round.EvStartRound, Round: r, Candidates: c.Candidates}); err != nil {
		return fail(r, CheckCohort, fmt.Sprintf("the round cannot open by the rules: %v", err))
	}
	if want := x.m.Cohort(); !slices.Equal(want, c.Cohort) {
		return failEv(r, CheckCohort, "the cohort is not the draw from the seed", text(strings.Join(want, ",")), text(strings.Join(c.Cohort, ",")))
	}
	x.ok(CheckCohort)
	return nil
}

// receipt replays one recorded receipt through the machine and checks the
// recorded fate against the rules' verdict.
func (x *roundCtx) receipt(rec *ledger.SubmissionRecord) error {
	r := x.r
	ev := event(rec)
	var got ledger.Reason
	var err error
	if x.saOpen() && !rec.SeenByFold() && (rec.Reason == ledger.ReasonSecAggStep || rec.Reason == ledger.ReasonLate) {
		// At which step it arrived is the coordinator's word.
		got, err = x.m.ApplyTimed(ev, rec.Reason)
		if got == rec.Reason {
			x.timed++
		}
	} else {
		got, err = x.m.Apply(ev)
	}
	if err != nil {
		return fail(r, CheckReceipt, fmt.Sprintf("submission of %q cannot be replayed: %v", rec.Signed.Sub.Participant, err))
	}
	p := rec.Signed.Sub.Participant
	if rec.SeenByFold() {
		if got != "" {
			return fail(r, CheckSubmission, fmt.Sprintf("aggregated submission of %s: the rules reject it at receipt as %q", p, got))
		}
		if rec.Status == ledger.StatusAccepted && rec.Reason != "" {
			return fail(r, CheckSubmission, fmt.Sprintf("aggregated submission of %s: accepted with a rejection reason", p))
		}
		return nil
	}
	switch {
	case rec.Status != ledger.StatusRejected:
		return fail(r, CheckReceipt, fmt.Sprintf("submission of %q has status %q", p, rec.Status))
	case rec.Share != 0:
		return fail(r, CheckReceipt, fmt.Sprintf("submission of %q rejected as %q, but it has a contribution share", p, rec.Reason))
	case rec.Reason.Stage() != ledger.StageStream && rec.Reason.Stage() != ledger.StageReceipt:
		return fail(r, CheckReceipt, fmt.Sprintf("submission of %q rejected as %q, but that is not a reason the coordinator gives at receipt", p, rec.Reason))
	case got == "":
		return failEv(r, CheckReceipt, fmt.Sprintf("submission of %q rejected as %q, but the rules accept it at that point of the arrival order", p, rec.Reason), text("accepted"), text(string(rec.Reason)))
	case got != rec.Reason:
		return failEv(r, CheckReceipt, fmt.Sprintf("submission of %q rejected as %q, but the rules give another reason at that point of the arrival order", p, rec.Reason), text(string(got)), text(string(rec.Reason)))
	}
	return nil
}

// receipts replays the receipts made while the round was open (in a
// secagg round, at its masked step).
func (x *roundCtx) receipts() error {
	for i := range x.recs {
		rec := &x.recs[i]
		if rec.Arrival <= x.c.Opened {
			continue
		}
		if err := x.receipt(rec); err != nil {
			return err
		}
	}
	x.ok(CheckSubmission)
	if x.timed > 0 {
		x.note("%d submissions refused as %q or %q: at which secagg step each arrived is the coordinator's word (the checks that do not depend on it were replayed)", x.timed, ledger.ReasonSecAggStep, ledger.ReasonLate)
	}
	return nil
}

// close closes the replayed round at the recorded time and checks the
// counted rejections.
func (x *roundCtx) close() error {
	c, r := x.c, x.r
	stream := 0
	for i := range x.recs {
		if x.recs[i].Reason.Stage() == ledger.StageStream {
			stream++
		}
	}
	if _, err := x.m.Apply(round.Event{Kind: round.EvClose, Round: r, Millis: c.TimeMillis}); err != nil {
		return fail(r, CheckReceipt, fmt.Sprintf("the round cannot close by the rules: %v", err))
	}
	if c.DroppedRejects > 0 {
		recorded := 0
		for i := range x.recs {
			if x.recs[i].Status == ledger.StatusRejected && !x.recs[i].SeenByFold() {
				recorded++
			}
		}
		if recorded < round.MaxRejectsRecorded {
			return failEv(r, CheckReceipt, "rejections counted but not recorded although the record cap was not reached",
				text(fmt.Sprintf("%d recorded", round.MaxRejectsRecorded)), text(fmt.Sprintf("%d recorded, %d dropped", recorded, c.DroppedRejects)))
		}
	}
	if stream > 0 {
		x.note("%d rejections for stream-level reasons (sender, malformed, oversized, masked input unavailable or not as signed) cannot be checked from the record", stream)
	}
	x.ok(CheckReceipt)
	return nil
}

// compare builds the commitment the rules give for the replayed round and
// the fold's output, and compares it with the record field by field. The
// fields that rest on the coordinator's word are taken from the record.
func (x *roundCtx) compare(out *round.FoldOutput) error {
	c, r := x.c, x.r
	res := &round.FoldResult{Round: r, Out: out, OutputModel: c.OutputModel, StateBlob: c.StateBlob, NoiseSeed: c.NoiseSeed, Metrics: c.Metrics}
	want, err := x.m.Commitment(res)
	if err != nil {
		return fail(r, CheckReplay, err.Error())
	}
	if want.DroppedRejects == 0 {
		want.DroppedRejects = c.DroppedRejects // checked against the cap in receipts
	}
	type field struct {
		name, check string
		want, got   any
	}
	fields := []field{
		{"version", CheckRecord, want.Version, c.Version},
		{"job", CheckLink, want.Job, c.Job},
		{"round", CheckLink, want.Round, c.Round},
		{"previous record", CheckLink, want.Prev, c.Prev},
		{"input model", CheckInput, want.InputModel, c.InputModel},
		{"input model hash", CheckInput, want.InputModelHash, c.InputModelHash},
		{"cohort seed", CheckCohort, want.CohortSeed, c.CohortSeed},
		{"candidates", CheckCohort, want.Candidates, c.Candidates},
		{"cohort", CheckCohort, want.Cohort, c.Cohort},
		{"rule", CheckJob, want.Rule, c.Rule},
		{"status", CheckQuorum, want.Status, c.Status},
		{"failure reason", CheckQuorum, want.Reason, c.Reason},
		{"noise seed", CheckReplay, want.NoiseSeed, c.NoiseSeed},
		{"output model", CheckModel, want.OutputModel, c.OutputModel},
		{"output model hash", CheckModel, want.OutputModelHash, c.OutputModelHash},
		{"state blob", CheckState, want.StateBlob, c.StateBlob},
		{"state hash", CheckState, want.StateHash, c.StateHash},
		{"time", CheckLink, want.TimeMillis, c.TimeMillis},
		{"participant metrics", CheckMetrics, want.ParticipantMetrics, c.ParticipantMetrics},
		{"dropped rejections", CheckReceipt, want.DroppedRejects, c.DroppedRejects},
		{"receipts before the round opened", CheckReceipt, want.Opened, c.Opened},
		{"number of submission records", CheckReceipt, len(want.Submissions), len(c.Submissions)},
	}
	for _, f := range fields {
		if !reflect.DeepEqual(f.want, f.got) {
			return failEv(r, f.check, f.name+" is not what the rules give", text(fmt.Sprint(f.want)), text(fmt.Sprint(f.got)))
		}
	}
	if err := compareSecAgg(r, want.SecAgg, c.SecAgg); err != nil {
		return err
	}
	for i := range want.Submissions {
		w, g := &want.Submissions[i], &c.Submissions[i]
		if !reflect.DeepEqual(*w, *g) {
			return failEv(r, CheckReceipt, fmt.Sprintf("submission record %d is not what the rules give", i),
				text(fmt.Sprintf("%s %s arrival %d share %d", w.Signed.Sub.Participant, statusText(w), w.Arrival, w.Share)),
				text(fmt.Sprintf("%s %s arrival %d share %d", g.Signed.Sub.Participant, statusText(g), g.Arrival, g.Share)))
		}
	}
	return nil
}
