package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/walrus"
	"github.com/floe-fl/floe/internal/prefetch"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/seal"
)

// DefaultName is the recipient name an auditor opens sealed updates as,
// unless told otherwise.
const DefaultName = "auditor"

// Blob is one fetched blob: its bytes, or why it could not be read.
type Blob struct {
	Data []byte
	Err  error
}

// Entry is one round's input to Apply: the commitment record as stored and
// the blobs that State.Needs named, as the caller fetched them.
type Entry struct {
	ID     ledger.BlobID // where the record was read
	Record []byte
	Blobs  map[ledger.BlobID]Blob
	// Updates, if set, reads the round's update blobs, which Needs does not
	// list: the replay reads them a few at a time ahead of the fold
	// (package prefetch), so an audit's memory is O(window x update), not
	// O(cohort x update). Without it, update blobs are looked up in Blobs.
	Updates ledger.Getter
}

// State is what the audit has established after a prefix of the chain. It
// is a value: Apply returns the next State and leaves its receiver alone.
type State struct {
	Job        *ledger.JobSpec
	JobID      ledger.Hash
	Committee  blob.Committee // the job's committee: certificates verify against it
	Round      uint64         // last round applied (0: only the job)
	Prev       ledger.BlobID  // blob of the last record applied
	TimeMillis uint64

	Model     ledger.BlobID // the current model version (output of Round)
	ModelHash ledger.Hash
	ModelData []byte // its bytes, checked against ModelHash; nil until fetched

	StateBlob ledger.BlobID // aggregator state after the last ok round
	StateHash ledger.Hash   // its hash (zero before any state)
	AggState  []byte        // the state bytes, valid when AggKnown
	AggKnown  bool

	From    uint64    // rounds before From get structure checks only
	key     *seal.Key // opens sealed updates when canOpen
	name    string
	canOpen bool
	whyNot  string // why updates cannot be opened, when !canOpen
}

// Options are the auditor's means: its HPKE key and recipient name for
// sealed jobs, and the first round to replay.
type Options struct {
	Key  *seal.Key
	Name string // DefaultName when empty
	From uint64 // 0 or 1: replay every round
}

func fail(round uint64, check, detail string) *CheckError {
	return &CheckError{Round: round, Check: check, Detail: detail}
}

func failEv(round uint64, check, detail string, expected, found fmt.Stringer) *CheckError {
	return &CheckError{Round: round, Check: check, Detail: detail, Expected: expected.String(), Found: found.String()}
}

func idStr(id ledger.BlobID) ledger.Hash { return ledger.Hash(id) }

type text string

func (t text) String() string { return string(t) }

// verifyCert checks an update's availability certificate as the job's
// store defines it: a committee certificate, or for Walrus the form of
// floe's certificate (which states floe's hash and length; Walrus's own
// certification is on its chain, not in the record).
func (s State) verifyCert(id ledger.BlobID, cert []byte) error {
	if s.Job.Store == ledger.StoreWalrus {
		if id == (ledger.BlobID{}) {
			return fmt.Errorf("audit: zero blob ID")
		}
		_, err := walrus.ParseCertificate(cert)
		return err
	}
	return blob.VerifyCert(s.Committee, id, cert)
}

// checkRecordID reports whether data is the blob named id on a committee of n.
func checkRecordID(round uint64, data []byte, id ledger.BlobID, n int) error {
	got, err := blob.ComputeID(data, n)
	if err != nil {
		return fail(round, CheckRecord, fmt.Sprintf("cannot compute the blob ID of the record: %v", err))
	}
	if ledger.BlobID(got) != id {
		return failEv(round, CheckRecord, "record bytes do not match the blob ID they were read as", idStr(id), idStr(ledger.BlobID(got)))
	}
	return nil
}

// NewState checks the job record read from jobBlob and returns the state
// before round 1. Failures are *CheckError of round 0.
func NewState(jobBlob ledger.BlobID, record []byte, opt Options) (State, error) {
	sj, _, err := ledger.Decode(record)
	if err != nil {
		return State{}, fail(0, CheckRecord, err.Error())
	}
	if sj == nil {
		return State{}, fail(0, CheckRecord, "the chain's first record is a commitment, not a job")
	}
	job := &sj.Job
	var com blob.Committee
	switch job.Store {
	case ledger.StoreWalrus:
		// Walrus names blobs by a hash of their RedStuff encoding, which
		// floe does not recompute: records are held together by their
		// signatures and hash links, and every model, update and state by
		// the SHA-256 the chain keeps beside its ID.
	default:
		if len(job.Committee) == 0 {
			return State{}, fail(0, CheckJob, "the job names no storage committee")
		}
		if com, err = blob.ParseCommittee([]byte(strings.Join(job.Committee, "\n"))); err != nil {
			return State{}, fail(0, CheckJob, fmt.Sprintf("the job's committee: %v", err))
		}
		if err := checkRecordID(0, record, jobBlob, com.N()); err != nil {
			return State{}, err
		}
	}
	if err := sj.Verify(); err != nil {
		return State{}, fail(0, CheckSignature, err.Error())
	}
	// The job's own rules, as the coordinator and participants check them.
	// (Whether the rule's parameters suit the quorum, job.CheckSpec, is for
	// new jobs: a round whose rule cannot run is committed failed, and
	// replays so.)
	if err := job.Validate(); err != nil {
		return State{}, fail(0, CheckJob, err.Error())
	}
	if _, err := aggregate.ParseCanonical(job.Aggregation); err != nil {
		return State{}, fail(0, CheckJob, fmt.Sprintf("aggregation rule: %v", err))
	}
	s := State{
		Job: job, JobID: job.ID(), Committee: com, Prev: jobBlob,
		Model: job.InitialModel, ModelHash: job.InitialModelHash, AggKnown: true,
		From: max(opt.From, 1), key: opt.Key, name: opt.Name,
	}
	if s.name == "" {
		s.name = DefaultName
	}
	s.canOpen, s.whyNot = true, ""
	if job.Privacy == "sealed" {
		s.canOpen, s.whyNot = canOpen(job, opt.Key, s.name)
	}
	return s, nil
}

func canOpen(job *ledger.JobSpec, key *seal.Key, name string) (bool, string) {
	var names []string
	for _, r := range job.Recipients {
		names = append(names, r.Name)
		if r.Name != name {
			continue
		}
		if key == nil {
			return false, fmt.Sprintf("updates are sealed and no HPKE key was given (recipient %q is in the job: pass its key)", name)
		}
		if !bytes.Equal(key.PublicKey(), r.PublicKey) {
			return false, fmt.Sprintf("the given HPKE key is not recipient %q's key in the job", name)
		}
		return true, ""
	}
	if key == nil {
		return false, fmt.Sprintf("updates are sealed and the auditor is not a recipient (no key; the job's recipients: %s)", strings.Join(names, ", "))
	}
	return false, fmt.Sprintf("updates are sealed and %q is not among the job's recipients (%s)", name, strings.Join(names, ", "))
}

// Recipient reports the name the state opens sealed updates as, or "" when
// it cannot open them.
func (s State) Recipient() string {
	if s.Job != nil && s.Job.Privacy == "sealed" && s.canOpen {
		return s.name
	}
	return ""
}

// split returns the records Fold saw (a prefix) and those rejected at
// receipt, checking the order the coordinator writes them in.
func split(round uint64, subs []ledger.SubmissionRecord) (fold, receipt []ledger.SubmissionRecord, err error) {
	n := 0
	for n < len(subs) && subs[n].SeenByFold() {
		n++
	}
	fold, receipt = subs[:n], subs[n:]
	for i := range receipt {
		if receipt[i].SeenByFold() {
			return nil, nil, fail(round, CheckOrder, fmt.Sprintf("submission record %d (%s, %s) comes after rejections made at receipt", n+i, receipt[i].Signed.Sub.Participant, statusText(&receipt[i])))
		}
	}
	for i := 1; i < len(fold); i++ {
		a, b := fold[i-1].Signed.Sub.Participant, fold[i].Signed.Sub.Participant
		if a >= b {
			return nil, nil, failEv(round, CheckOrder, fmt.Sprintf("aggregated submissions %d and %d are not in strictly ascending participant order", i-1, i), text("ascending"), text(a+" before "+b))
		}
	}
	return fold, receipt, nil
}

// tally counts accepted submissions and rejections by reason.
func tally(subs []ledger.SubmissionRecord) (int, []string) {
	accepted, by := 0, map[string]int{}
	for i := range subs {
		if subs[i].Status == ledger.StatusAccepted {
			accepted++
		} else {
			by[string(subs[i].Reason)]++
		}
	}
	var out []string
	for reason, n := range by {
		out = append(out, fmt.Sprintf("%s: %d", reason, n))
	}
	slices.Sort(out)
	return accepted, out
}

func statusText(r *ledger.SubmissionRecord) string {
	if r.Reason != "" {
		return string(r.Status) + ": " + string(r.Reason)
	}
	return string(r.Status)
}

// Needs returns the blobs Apply will look up in the Entry for commitment c,
// given the state: the input model (when not yet known), the output model
// and aggregator state of an ok round and the previous state (when not yet
// known). The update blobs of the submissions the aggregation saw are read
// through Entry.Updates (or looked up in Entry.Blobs without it).
func (s State) Needs(c *ledger.Commitment) []ledger.BlobID {
	round := s.Round + 1
	if round < s.From {
		return nil
	}
	var ids []ledger.BlobID
	add := func(id ledger.BlobID) {
		if id != (ledger.BlobID{}) && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if s.ModelData == nil {
		add(s.Model)
	}
	if !s.AggKnown {
		add(s.StateBlob)
	}
	if c.Status == ledger.StatusOK {
		add(c.OutputModel)
		if !c.StateHash.IsZero() {
			add(c.StateBlob)
		}
	}
	return ids
}

// roundCtx carries one Apply's working data.
type roundCtx struct {
	m     *round.Machine            // the round replayed through the rules
	recs  []ledger.SubmissionRecord // the round's records in arrival order
	s     *State
	r     uint64
	c     *ledger.Commitment
	e     *Entry
	row   *Row
	check map[string]bool
	timed int // secagg receipts whose step is the coordinator's word
}

func (x *roundCtx) ok(check string) {
	if !x.check[check] {
		x.check[check] = true
		x.row.Checked = append(x.row.Checked, check)
	}
}

func (x *roundCtx) skip(check, why string) {
	for _, s := range x.row.Skipped {
		if s.Check == check {
			return
		}
	}
	x.row.Skipped = append(x.row.Skipped, Skip{Check: check, Why: why})
}

func (x *roundCtx) note(format string, a ...any) {
	x.row.Notes = append(x.row.Notes, fmt.Sprintf(format, a...))
}

// getUpdate reads an update blob: through Entry.Updates, with the length
// limit of its submission, or from Entry.Blobs.
func (x *roundCtx) getUpdate(ctx context.Context, sub *ledger.Submission) ([]byte, error) {
	if x.e.Updates == nil {
		return x.get(sub.Blob)
	}
	max, limited := round.UpdateLimit(x.s.Job, sub)
	if limited {
		ctx = blob.WithMaxLength(ctx, max)
	}
	b, err := x.e.Updates(ctx, sub.Blob)
	if err == nil && limited && uint64(len(b)) > max {
		return nil, &blob.TooLargeError{ID: sub.Blob, Length: uint64(len(b)), Max: max}
	}
	return b, err
}

// unavailable says why an update blob could not be read.
func (x *roundCtx) unavailable(p string, err error) string {
	why := fmt.Sprintf("update blob of %s unavailable: %v", p, err)
	if ms := x.s.Job.UpdateLifetimeMillis; ms > 0 {
		why += fmt.Sprintf(" (the job keeps update blobs for %v: they may have expired)", time.Duration(ms)*time.Millisecond)
	}
	return why
}

// get returns a needed blob from the entry.
func (x *roundCtx) get(id ledger.BlobID) ([]byte, error) {
	b, ok := x.e.Blobs[id]
	if !ok {
		return nil, fmt.Errorf("blob %s was not fetched", idStr(id))
	}
	return b.Data, b.Err
}

// Apply checks round s.Round+1 from its entry and returns the state after
// it and its report row. A failing check returns a *CheckError (wrapping
// ledger.ErrCorruption) naming the round; the row then has verdict failed.
// Apply does no I/O: every blob it needs is in the entry (see Needs).
func (s State) Apply(ctx context.Context, e Entry) (State, Row, error) {
	r := s.Round + 1
	row := Row{Round: r, Record: idStr(e.ID).String(), Verdict: VerdictFailed}
	next, err := s.apply(ctx, &e, &row)
	if err != nil {
		var ce *CheckError
		if !errors.As(err, &ce) {
			return s, row, err
		}
		return s, row, ce
	}
	switch {
	case r < s.From:
		row.Verdict = VerdictStructure
	case len(row.Skipped) > 0:
		row.Verdict = VerdictIncomplete
	default:
		row.Verdict = VerdictVerified
	}
	return next, row, nil
}

func (s State) apply(ctx context.Context, e *Entry, row *Row) (State, error) {
	r := s.Round + 1
	job := s.Job
	// The record: its bytes are the blob, it decodes, it is a commitment.
	if s.Job.Store != ledger.StoreWalrus {
		if err := checkRecordID(r, e.Record, e.ID, s.Committee.N()); err != nil {
			return s, err
		}
	}
	sj, sc, err := ledger.Decode(e.Record)
	if err != nil {
		return s, fail(r, CheckRecord, err.Error())
	}
	if sj != nil {
		return s, fail(r, CheckRecord, "a job record where a commitment belongs")
	}
	c := &sc.C
	row.Status, row.Rule, row.Submissions = string(c.Status), c.Rule, len(c.Submissions)
	row.Accepted, row.Rejections = tally(c.Submissions)
	x := &roundCtx{s: &s, r: r, c: c, e: e, row: row, check: map[string]bool{}}
	x.ok(CheckRecord)

	// Signature, then links.
	if err := sc.Verify(job.Coordinator); err != nil {
		return s, fail(r, CheckSignature, err.Error())
	}
	x.ok(CheckSignature)
	switch {
	case c.Round != r:
		return s, failEv(r, CheckLink, "round number", text(fmt.Sprint(r)), text(fmt.Sprint(c.Round)))
	case c.Job != s.JobID:
		return s, failEv(r, CheckLink, "job ID", s.JobID, c.Job)
	case c.Prev != s.Prev:
		return s, failEv(r, CheckLink, "previous record link", idStr(s.Prev), idStr(c.Prev))
	case r > job.Rounds:
		return s, failEv(r, CheckLink, "a round beyond the job's last", text(fmt.Sprintf("<= %d", job.Rounds)), text(fmt.Sprint(r)))
	case c.TimeMillis < s.TimeMillis:
		return s, failEv(r, CheckLink, "time runs backwards", text(fmt.Sprintf(">= %d ms", s.TimeMillis)), text(fmt.Sprintf("%d ms", c.TimeMillis)))
	}
	x.ok(CheckLink)

	next := s
	next.Round, next.Prev, next.TimeMillis = r, e.ID, c.TimeMillis
	next.Model, next.ModelHash, next.ModelData = c.OutputModel, c.OutputModelHash, nil
	if !c.StateHash.IsZero() {
		next.StateBlob, next.StateHash, next.AggState, next.AggKnown = c.StateBlob, c.StateHash, nil, false
	}
	if r < s.From {
		return next, nil
	}
	if c.Rule != job.Aggregation {
		return s, failEv(r, CheckJob, "the round's rule is not the job's", text(job.Aggregation), text(c.Rule))
	}

	if err := x.cohort(); err != nil {
		return s, err
	}
	if err := x.saBefore(); err != nil {
		return s, err
	}
	input, err := x.input()
	if err != nil {
		return s, err
	}
	fold, _, err := split(r, c.Submissions)
	if err != nil {
		return s, err
	}
	x.ok(CheckOrder)
	if err := x.receipts(); err != nil {
		return s, err
	}
	if err := x.saAfter(); err != nil {
		return s, err
	}
	if err := x.close(); err != nil {
		return s, err
	}
	if err := x.quorumAndShares(fold); err != nil {
		return s, err
	}
	out, err := x.outputs()
	if err != nil {
		return s, err
	}
	x.updates(ctx, fold)
	prevState, err := x.prevState()
	if err != nil {
		return s, err
	}

	// The replay.
	replayed := false
	var fo *round.FoldOutput
	switch {
	case !s.canOpen:
		x.skip(CheckReplay, s.whyNot)
	default:
		var why string
		fo, why, err = x.replay(ctx, fold, input, prevState)
		if err != nil {
			return s, err
		}
		if why != "" {
			x.skip(CheckReplay, why)
			fo = nil
			break
		}
		replayed = true
		if c.Status == ledger.StatusOK {
			next.ModelData = fo.Model
			if !c.StateHash.IsZero() {
				next.AggState, next.AggKnown = fo.State, true
			}
		}
	}
	if !replayed {
		x.skip(CheckUpdate, "update hashes are checked by opening the updates in the replay, which was not made")
	}
	if !replayed && c.Status == ledger.StatusOK {
		x.skip(CheckModel, "the output model could not be recomputed (no replay); its bytes were checked against the committed hash only")
		if !c.StateHash.IsZero() {
			x.skip(CheckState, "the aggregator state could not be recomputed (no replay); its bytes were checked against the committed hash only")
		}
	}

	if fo == nil {
		// Not replayed: the fold's output as the record states it.
		fo = &round.FoldOutput{Records: slices.Clone(fold), Status: c.Status, Reason: c.Reason, Model: out.model, State: out.state}
		if c.SecAgg != nil {
			fo.Secrets = c.SecAgg.Secrets
			x.skip(CheckSecAgg, "the secrets could not be recovered again (no replay of the fold); the protocol's messages were replayed")
		}
	}
	if err := x.compare(fo); err != nil {
		return s, err
	}
	if x.secagg() && replayed {
		x.ok(CheckSecAgg)
	}

	// The state after the round.
	if c.Status == ledger.StatusFailed {
		next.ModelData = input
		next.AggState, next.AggKnown = prevState, true
	} else {
		if next.ModelData == nil {
			next.ModelData = out.model
		}
		if !c.StateHash.IsZero() && !next.AggKnown && out.state != nil {
			next.AggState, next.AggKnown = out.state, true
		}
		if c.StateHash.IsZero() {
			next.AggState, next.AggKnown = prevState, true
		}
	}
	row.OutputModel = c.OutputModelHash.String()
	return next, nil
}

// input checks that the round starts from the previous output and returns
// the input model's bytes.
func (x *roundCtx) input() ([]byte, error) {
	s, c, r := x.s, x.c, x.r
	if c.InputModel != s.Model {
		return nil, failEv(r, CheckInput, "input model is not the previous round's output", idStr(s.Model), idStr(c.InputModel))
	}
	if c.InputModelHash != s.ModelHash {
		return nil, failEv(r, CheckInput, "input model hash is not the previous round's output hash", s.ModelHash, c.InputModelHash)
	}
	x.ok(CheckInput)
	if s.ModelData != nil {
		return s.ModelData, nil
	}
	b, err := x.get(c.InputModel)
	if err != nil {
		return nil, fail(r, CheckModel, fmt.Sprintf("input model blob %s unavailable: %v", idStr(c.InputModel), err))
	}
	if h := ledger.Sum(b); h != c.InputModelHash {
		return nil, failEv(r, CheckModel, "input model bytes do not match their committed hash", c.InputModelHash, h)
	}
	return b, nil
}

// quorumAndShares checks the round's status against the count of valid
// updates, and the contribution shares.
func (x *roundCtx) quorumAndShares(fold []ledger.SubmissionRecord) error {
	s, c, r := x.s, x.c, x.r
	valid, total := 0, uint64(0)
	for i := range fold {
		if fold[i].Status == ledger.StatusAccepted {
			valid++
			total += fold[i].Signed.Sub.NumExamples
		}
	}
	if valid > 0 && total == 0 {
		return fail(r, CheckShares, "the accepted updates' example counts add up to zero (they overflow)")
	}
	need := round.Quorum(s.Job)
	status, reason := round.Outcome(s.Job, valid)
	switch c.Status {
	case ledger.StatusOK:
		if uint64(valid) < need {
			return failEv(r, CheckQuorum, "round committed ok without a quorum of valid updates", text(fmt.Sprintf(">= %d valid", need)), text(fmt.Sprintf("%d valid", valid)))
		}
		if c.Reason != "" {
			return fail(r, CheckQuorum, fmt.Sprintf("ok round with a failure reason %q", c.Reason))
		}
	case ledger.StatusFailed:
		protocol := x.secagg() && strings.HasPrefix(c.Reason, secaggFailPrefix)
		switch {
		case protocol:
			// The secagg protocol failed (a step short of members, or the
			// unmasking): the replay recomputes the exact reason.
		case uint64(valid) >= need && !strings.HasPrefix(c.Reason, round.RuleFailedPrefix):
			return failEv(r, CheckQuorum, "round committed failed although it had a quorum of valid updates", text(fmt.Sprintf("< %d valid", need)), text(fmt.Sprintf("%d valid", valid)))
		case uint64(valid) >= need:
			// The rule could not run on the valid updates: the replay
			// recomputes the exact reason.
		case status != ledger.StatusFailed || c.Reason != reason:
			return failEv(r, CheckQuorum, "failure reason", text(reason), text(c.Reason))
		}
		switch {
		case c.OutputModel != c.InputModel || c.OutputModelHash != c.InputModelHash:
			return failEv(r, CheckModel, "a failed round changed the model", c.InputModelHash, c.OutputModelHash)
		case c.StateBlob != s.StateBlob || !c.StateHash.IsZero():
			return failEv(r, CheckState, "a failed round changed the aggregator state", idStr(s.StateBlob), idStr(c.StateBlob))
		case !c.NoiseSeed.IsZero():
			return fail(r, CheckReplay, "a failed round carries a noise seed")
		}
		x.ok(CheckModel)
		x.ok(CheckState)
	default:
		return fail(r, CheckQuorum, fmt.Sprintf("unknown round status %q", c.Status))
	}
	x.ok(CheckQuorum)
	for i := range fold {
		rec := &fold[i]
		var want uint64
		if rec.Status == ledger.StatusAccepted && c.Status == ledger.StatusOK {
			want = round.Share(rec.Signed.Sub.NumExamples, total)
		}
		if rec.Share != want {
			return failEv(r, CheckShares, fmt.Sprintf("contribution share of %s (ppm)", rec.Signed.Sub.Participant), text(fmt.Sprint(want)), text(fmt.Sprint(rec.Share)))
		}
	}
	x.ok(CheckShares)
	return nil
}

type outputs struct {
	model []byte // bytes of the committed output model (ok rounds)
	state []byte // bytes of the committed state blob (when a new state was committed)
}

// outputs fetches the committed output model and state of an ok round and
// checks them against their committed hashes.
func (x *roundCtx) outputs() (outputs, error) {
	s, c, r := x.s, x.c, x.r
	var o outputs
	if c.Status != ledger.StatusOK {
		return o, nil
	}
	b, err := x.get(c.OutputModel)
	if err != nil {
		return o, fail(r, CheckModel, fmt.Sprintf("output model blob %s unavailable: %v", idStr(c.OutputModel), err))
	}
	if h := ledger.Sum(b); h != c.OutputModelHash {
		return o, failEv(r, CheckModel, "output model bytes do not match their committed hash", c.OutputModelHash, h)
	}
	o.model = b
	if c.StateHash.IsZero() {
		if c.StateBlob != s.StateBlob {
			return o, failEv(r, CheckState, "state blob changed without a state hash", idStr(s.StateBlob), idStr(c.StateBlob))
		}
		return o, nil
	}
	b, err = x.get(c.StateBlob)
	if err != nil {
		return o, fail(r, CheckState, fmt.Sprintf("aggregator state blob %s unavailable: %v", idStr(c.StateBlob), err))
	}
	if h := ledger.Sum(b); h != c.StateHash {
		return o, failEv(r, CheckState, "aggregator state bytes do not match their committed hash", c.StateHash, h)
	}
	o.state = b
	return o, nil
}

// updates checks what can be checked of update blobs without opening them:
// that they can be read. Their hashes are checked by the replay.
func (x *roundCtx) updates(ctx context.Context, fold []ledger.SubmissionRecord) {
	s := x.s
	for i := range fold {
		if x.e.Updates != nil && s.canOpen {
			break // the replay reads each update once, and says which it could not
		}
		rec := &fold[i]
		_, err := x.getUpdate(ctx, &rec.Signed.Sub)
		var tl *blob.TooLargeError
		if errors.As(err, &tl) {
			continue // longer than declared: refused unread, and the replay says so
		}
		if rec.Reason == ledger.ReasonBlobMissing {
			if err == nil {
				x.note("the update of %s was recorded unavailable, yet the auditor read it (the replay follows the record)", rec.Signed.Sub.Participant)
			}
			continue
		}
		if err != nil {
			x.skip(CheckUpdate, x.unavailable(rec.Signed.Sub.Participant, err))
		}
	}
	if s.Job.Privacy == "sealed" && !s.canOpen {
		x.skip(CheckUpdate, s.whyNot+"; the update hashes are over plaintext")
	}
}

// prevState returns the aggregator state before the round: the state the
// audit carries, or the committed state blob checked against its hash.
func (x *roundCtx) prevState() ([]byte, error) {
	s, r := x.s, x.r
	if s.AggKnown {
		return s.AggState, nil
	}
	b, err := x.get(s.StateBlob)
	if err != nil {
		return nil, fail(r, CheckState, fmt.Sprintf("aggregator state blob %s of an earlier round unavailable: %v", idStr(s.StateBlob), err))
	}
	if h := ledger.Sum(b); h != s.StateHash {
		return nil, failEv(r, CheckState, "aggregator state bytes of an earlier round do not match their committed hash", s.StateHash, h)
	}
	return b, nil
}

// errNoOpen aborts a replay that cannot open an update.
type errNoOpen struct{ why string }

func (e *errNoOpen) Error() string { return e.why }

// replay runs round.Fold on the round's inputs and compares its output
// with the commitment. A non-empty why means the replay could not be made.
func (x *roundCtx) replay(ctx context.Context, fold []ledger.SubmissionRecord, input, state []byte) (*round.FoldOutput, string, error) {
	s, c, r := x.s, x.c, x.r
	subs := make([]ledger.SignedSubmission, len(fold))
	recorded := make(map[string]ledger.Reason, len(fold))
	for i := range fold {
		subs[i] = fold[i].Signed
		recorded[subs[i].Sub.Participant] = fold[i].Reason
	}
	open := func(ctx context.Context, sub *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		if recorded[sub.Sub.Participant] == ledger.ReasonBlobMissing {
			return nil, ledger.ReasonBlobMissing, nil
		}
		b, err := x.getUpdate(ctx, &sub.Sub)
		var tl *blob.TooLargeError
		if errors.As(err, &tl) {
			return nil, ledger.ReasonSizeMismatch, nil // refused unread, as the coordinator does
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
			return nil, "", &errNoOpen{x.unavailable(sub.Sub.Participant, err)}
		}
		if r := round.CheckUpdateSize(s.Job, &sub.Sub, len(b)); r != "" {
			return nil, r, nil
		}
		if s.Job.Privacy != "sealed" {
			return b, "", nil
		}
		names, err := seal.Recipients(b)
		if err != nil {
			return nil, ledger.ReasonBadUpdate, nil
		}
		if !slices.Contains(names, s.name) {
			return nil, "", &errNoOpen{fmt.Sprintf("the update of %s is not sealed to %q", sub.Sub.Participant, s.name)}
		}
		return round.OpenSealed(s.Job, sub, b, s.name, s.key)
	}
	in := round.FoldInput{Job: s.Job, Round: r, Global: input, State: state, NoiseSeed: c.NoiseSeed, Subs: subs, SecAgg: x.saTask()}
	opener := open
	if x.e.Updates != nil {
		pf := prefetch.New(ctx, subs, open, prefetch.WindowFor(s.Job.MaxUpdateBytes))
		defer pf.Close()
		opener = pf.Open
	}
	out, err := round.Fold(ctx, in, opener)
	if err != nil {
		var no *errNoOpen
		if errors.As(err, &no) {
			return nil, no.why, nil
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", fail(r, CheckReplay, fmt.Sprintf("the aggregation cannot be computed from the recorded inputs: %v", err))
	}
	for i := range out.Records {
		got, want := &out.Records[i], &fold[i]
		if got.Status != want.Status || got.Reason != want.Reason {
			return nil, "", failEv(r, CheckReplay, fmt.Sprintf("fate of the update of %s", want.Signed.Sub.Participant), text(statusText(got)), text(statusText(want)))
		}
		if got.Share != want.Share {
			return nil, "", failEv(r, CheckShares, fmt.Sprintf("contribution share of %s (ppm)", want.Signed.Sub.Participant), text(fmt.Sprint(got.Share)), text(fmt.Sprint(want.Share)))
		}
	}
	if out.Status != c.Status || out.Reason != c.Reason {
		return nil, "", failEv(r, CheckReplay, "round status", text(statusText(&ledger.SubmissionRecord{Status: out.Status, Reason: ledger.Reason(out.Reason)})), text(statusText(&ledger.SubmissionRecord{Status: c.Status, Reason: ledger.Reason(c.Reason)})))
	}
	x.ok(CheckUpdate)
	x.ok(CheckReplay)
	if c.Status != ledger.StatusOK {
		return out, "", nil
	}
	if h := ledger.Sum(out.Model); h != c.OutputModelHash {
		return nil, "", failEv(r, CheckModel, "the replayed aggregation gives another output model", h, c.OutputModelHash)
	}
	x.ok(CheckModel)
	sh := ledger.Hash{}
	if len(out.State) > 0 {
		sh = ledger.Sum(out.State)
	}
	if sh != c.StateHash {
		return nil, "", failEv(r, CheckState, "the replayed aggregation gives another aggregator state", sh, c.StateHash)
	}
	x.ok(CheckState)
	return out, "", nil
}
