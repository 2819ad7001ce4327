package round

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/decimal"

	"github.com/floe-fl/floe/ledger"
)

// MaxExamples bounds the examples one submission may claim, so that a
// round's example total cannot overflow (2^32 each, at most 2^30 members);
// a job may set a lower bound (JobSpec.MaxExamples).
const MaxExamples = ledger.MaxProtocolExamples

// MaxRejectsRecorded bounds the rejected submissions recorded per round;
// further ones are only counted, so no sender can grow a commitment unboundedly.
const MaxRejectsRecorded = ledger.MaxRejectsRecorded

// CertVerifier checks a certificate (CBOR of blob.Certificate) for a blob.
type CertVerifier func(blob ledger.BlobID, cert []byte) error

// Reply answers one input given to Step: the rejection reason, or "" when
// the input was taken. A driver sends it only after the Ready that holds it
// was persisted.
type Reply struct {
	ID     uint64 // as returned by Step
	Peer   string
	Kind   Kind
	Round  uint64 // the submission's round, for EvSubmit
	Reason ledger.Reason
}

// FoldTask is a closed round's aggregation for the driver to run (see Fold):
// the accepted submissions in participant order and the model and state
// they apply to. The driver adds the noise seed (it needs the coordinator's
// key) and stores the outputs.
type FoldTask struct {
	Round     uint64
	Model     ledger.BlobID
	ModelHash ledger.Hash
	StateBlob ledger.BlobID // zero: fresh aggregator state
	Subs      []ledger.SignedSubmission
	SecAgg    *SecAggTask // secagg rounds: the protocol's record
}

// Ready is the work the Machine asks of its driver, to be done in this
// order: persist the events (journal, fsync), send the replies, run the
// fold, store the commitment; then call Advance with the same Ready.
type Ready struct {
	Persist []Event
	Replies []Reply
	Fold    *FoldTask
	// Commit is the round's commitment, built by Commitment from the
	// round's state and the fold's result: the driver signs and stores it,
	// then steps an EvCommit naming its blob.
	Commit *ledger.Commitment
}

// Empty reports whether rd asks for nothing.
func (rd *Ready) Empty() bool {
	return len(rd.Persist) == 0 && len(rd.Replies) == 0 && rd.Fold == nil && rd.Commit == nil
}

// Machine is the round state machine: the one place the round's rules
// exist. It does no I/O, reads no clock and starts no goroutines: the driver
// feeds it inputs (Step, Tick, Folded), does what Ready asks, and
// acknowledges with Advance. Given the same events, two Machines reach the
// same state; an auditor replays a round through the same Machine.
type Machine struct {
	job     *ledger.JobSpec
	jobID   ledger.Hash
	jobBlob ledger.BlobID
	verify  CertVerifier

	registered map[string]uint64 // peer ID -> examples claimed

	round          uint64 // current round (0 before the first)
	phase          Phase
	head           ledger.BlobID // last committed record (the job blob before round 1)
	model          ledger.BlobID // input model of the current round
	modelHash      ledger.Hash
	stateBlob      ledger.BlobID // aggregator state after the last round
	candidates     []string
	cohort         []string
	seed           ledger.Hash
	startMillis    uint64
	deadlineMillis uint64
	closeMillis    uint64
	accepted       map[string]ledger.SignedSubmission

	// receipts is the current round's receipt log in arrival order (accepted
	// and rejected), opened of them taken before the round opened. next
	// collects what arrives after the round closed, for the next round's
	// record.
	receipts, next       []ledger.SubmissionRecord
	dropped, nextDropped uint64
	opened               uint64

	built *ledger.Commitment // the closing round's commitment, once folded

	sa *saRound // the open round's secure aggregation (privacy "secagg")

	// Work for the driver (see Ready).
	persist     []Event
	replies     []Reply
	replyID     uint64
	foldGiven   bool
	commitGiven bool
}

// New returns the state of a job before any event: round 0, the chain at
// the job's blob, the model at the job's initial model.
func New(job *ledger.JobSpec, jobBlob ledger.BlobID, verify CertVerifier) *Machine {
	return &Machine{
		job: job, jobID: job.ID(), jobBlob: jobBlob, verify: verify,
		registered: map[string]uint64{},
		head:       jobBlob, model: job.InitialModel, modelHash: job.InitialModelHash,
		accepted: map[string]ledger.SignedSubmission{},
	}
}

// After is a committed round as a chain shows it: where an auditor resumes.
type After struct {
	Round       uint64
	Head        ledger.BlobID // the round's commitment blob (the job blob for round 0)
	Model       ledger.BlobID
	ModelHash   ledger.Hash
	StateBlob   ledger.BlobID
	CloseMillis uint64
}

// Resume returns the state right after round a.Round was committed, with
// no one registered: an auditor registers the next round's candidates and
// replays its receipts.
func Resume(job *ledger.JobSpec, jobBlob ledger.BlobID, verify CertVerifier, a After) *Machine {
	m := New(job, jobBlob, verify)
	m.round, m.head, m.model, m.modelHash, m.stateBlob, m.closeMillis = a.Round, a.Head, a.Model, a.ModelHash, a.StateBlob, a.CloseMillis
	if m.round >= job.Rounds {
		m.phase = PhaseDone
	}
	return m
}

// Round returns the current round (0 before the first).
func (m *Machine) Round() uint64 { return m.round }

// Phase returns the current round's phase.
func (m *Machine) Phase() Phase { return m.phase }

// Head returns the last committed record (the job blob before round 1).
func (m *Machine) Head() ledger.BlobID { return m.head }

// JobBlob returns the job record's blob.
func (m *Machine) JobBlob() ledger.BlobID { return m.jobBlob }

// Job returns the job.
func (m *Machine) Job() *ledger.JobSpec { return m.job }

// JobID returns the job's ID.
func (m *Machine) JobID() ledger.Hash { return m.jobID }

// Cohort returns the open round's cohort, sorted (a copy).
func (m *Machine) Cohort() []string { return slices.Clone(m.cohort) }

// Registered returns the examples peer claimed at registration, and whether it registered.
func (m *Machine) Registered(peer string) (uint64, bool) {
	n, ok := m.registered[peer]
	return n, ok
}

// NumRegistered returns how many peers are registered.
func (m *Machine) NumRegistered() int { return len(m.registered) }

// DeadlineMillis returns the open round's deadline.
func (m *Machine) DeadlineMillis() uint64 { return m.deadlineMillis }

// Receipts returns the current round's receipt log (a copy) and how many of
// its entries came before the round opened.
func (m *Machine) Receipts() ([]ledger.SubmissionRecord, uint64) {
	return slices.Clone(m.receipts), m.opened
}

// InCohort reports whether peer is in the open round's cohort.
func (m *Machine) InCohort(peer string) bool {
	_, ok := slices.BinarySearch(m.cohort, peer)
	return ok && m.phase == PhaseCollecting
}

// Submitted reports whether peer's submission was accepted in the open round.
func (m *Machine) Submitted(peer string) bool {
	_, ok := m.accepted[peer]
	return ok
}

// TaskFor returns peer's task in a round after afterRound, if it has one now.
func (m *Machine) TaskFor(peer string, afterRound uint64) (Task, bool) {
	if m.round <= afterRound || !m.InCohort(peer) || m.Submitted(peer) {
		return Task{}, false
	}
	return Task{Round: m.round, Model: m.model, ModelHash: m.modelHash, DeadlineMillis: m.deadlineMillis}, true
}

func (m *Machine) shouldStart() bool {
	return m.phase == PhaseWaiting && m.round < m.job.Rounds && uint64(len(m.registered)) >= max(m.job.MinParticipants, 1)
}

func (m *Machine) shouldClose(nowMillis uint64) bool {
	if m.phase != PhaseCollecting {
		return false
	}
	if sa := m.sa; sa != nil {
		return sa.fail != "" || (sa.step == SAReveal && m.stepDone(nowMillis))
	}
	return len(m.accepted) == len(m.cohort) || nowMillis >= m.deadlineMillis
}

func (m *Machine) sortedRegistered() []string {
	out := make([]string, 0, len(m.registered))
	for p := range m.registered {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Check returns the reason a submission from sender would be rejected now,
// or "" if it would be accepted. It changes nothing. Claimed fields beyond
// their bounds (a signature that is not 64 bytes, a certificate longer
// than any valid one for the job's committee) are rejected as such, so a
// compacted record (see compact) gets the same verdict as the original.
func (m *Machine) Check(sender string, s *ledger.SignedSubmission) ledger.Reason {
	sub := &s.Sub
	switch {
	case sub.Participant != sender:
		return ledger.ReasonSender
	case len(s.Sig) != ledger.SignatureSize || s.Verify() != nil:
		return ledger.ReasonBadSig
	case sub.Job != m.jobID:
		return ledger.ReasonWrongJob
	case sub.Round < m.round || (sub.Round == m.round && m.phase != PhaseCollecting):
		if sub.Round == m.round {
			return ledger.ReasonLate
		}
		return ledger.ReasonReplayed
	case sub.Round > m.round:
		return ledger.ReasonFuture
	}
	if _, dup := m.accepted[sub.Participant]; dup {
		return ledger.ReasonDuplicate
	}
	if !m.InCohort(sub.Participant) {
		return ledger.ReasonNotInCohort
	}
	if sa := m.sa; sa != nil {
		switch {
		case sa.out[sub.Participant]:
			return ledger.ReasonSecAggExcluded
		case sa.step > SAMasked || sa.fail != "":
			return ledger.ReasonLate
		case sa.step < SAMasked || !m.saMember(sub.Participant):
			return ledger.ReasonSecAggStep
		case sub.UpdateSize != m.job.MaxUpdateBytes:
			// A masked input has exactly one size.
			return ledger.ReasonUpdateSize
		}
	}
	if sub.NumExamples == 0 {
		return ledger.ReasonNoExamples
	}
	if sub.NumExamples > m.job.ExamplesBound() {
		return ledger.ReasonExamples
	}
	if b := m.job.MaxUpdateBytes; b > 0 && (sub.UpdateSize == 0 || sub.UpdateSize > b) {
		return ledger.ReasonUpdateSize
	}
	if !validMetrics(sub.Metrics) {
		return ledger.ReasonMetrics
	}
	if len(s.Cert) > ledger.MaxCertificateSize(len(m.job.Committee)) {
		return ledger.ReasonBadCert
	}
	if m.verify != nil {
		if err := m.verify(sub.Blob, s.Cert); err != nil {
			return ledger.ReasonBadCert
		}
	}
	return ""
}

// submissionBytes returns the length of sub's encoding.
func submissionBytes(sub *ledger.Submission) int {
	b, err := codec.Marshal(sub)
	if err != nil {
		return ledger.MaxSubmissionBytes + 1
	}
	return len(b)
}

// validMetrics reports whether a submission's metrics are within their
// bounds: at most MaxSubmissionMetrics, names non-empty, sorted and
// distinct, names and values at most MaxMetricText bytes, values canonical
// decimals.
func validMetrics(ms []ledger.Metric) bool {
	if len(ms) > ledger.MaxSubmissionMetrics {
		return false
	}
	for i, m := range ms {
		if m.Name == "" || len(m.Name) > ledger.MaxMetricText || len(m.Value) > ledger.MaxMetricText {
			return false
		}
		if i > 0 && ms[i-1].Name >= m.Name {
			return false
		}
		if _, err := decimal.Parse(m.Value); err != nil {
			return false
		}
	}
	return true
}

// compact returns a rejected submission as it is journaled and recorded:
// each claimed field kept to one byte past its bound (a participant name
// cut at a rune boundary), so that what one rejection costs the journal and
// the chain is bounded, and Check gives the compacted record the verdict it
// gave the original.
func (m *Machine) compact(s *ledger.SignedSubmission) *ledger.SignedSubmission {
	c := *s
	if len(c.Sub.Participant) > ledger.MaxPeerIDLen {
		p := c.Sub.Participant[:ledger.MaxPeerIDLen+1]
		for !utf8.ValidString(p) {
			p = p[:len(p)-1]
		}
		c.Sub.Participant = p
	}
	if len(c.Sig) > ledger.SignatureSize {
		c.Sig = c.Sig[:ledger.SignatureSize+1]
	}
	if n := ledger.MaxCertificateSize(len(m.job.Committee)); len(c.Cert) > n {
		c.Cert = c.Cert[:n+1]
	}
	return &c
}

// Admit returns why peer may not register with examples now, or "".
func (m *Machine) Admit(peer string, examples uint64) ledger.Reason {
	j := m.job
	if len(j.AllowList) > 0 {
		if _, ok := slices.BinarySearch(j.AllowList, peer); !ok {
			return ledger.ReasonNotAdmitted
		}
	}
	if examples > j.ExamplesBound() {
		return ledger.ReasonExamples
	}
	if _, again := m.registered[peer]; !again && uint64(len(m.registered)) >= j.Registrations() {
		return ledger.ReasonRegistrationsFull
	}
	return ""
}

// validate reports why ev cannot be applied in the current state.
func (m *Machine) validate(ev *Event) error {
	switch ev.Kind {
	case EvRegister:
		if ev.Peer == "" || ev.NumExamples == 0 {
			return fmt.Errorf("round: register event without peer or examples")
		}
		if r := m.Admit(ev.Peer, ev.NumExamples); r != "" {
			return fmt.Errorf("round: registration of %s refused: %s", ev.Peer, r)
		}
	case EvStartRound:
		if !m.shouldStart() || ev.Round != m.round+1 {
			return fmt.Errorf("round: cannot start round %d in phase %s after round %d", ev.Round, m.phase, m.round)
		}
		for _, c := range ev.Candidates {
			if _, ok := m.registered[c]; !ok {
				return fmt.Errorf("round: candidate %s of round %d is not registered", c, ev.Round)
			}
		}
		if uint64(len(slices.Compact(slices.Sorted(slices.Values(ev.Candidates))))) < max(m.job.MinParticipants, 1) {
			return fmt.Errorf("round: round %d starts with %d candidates, the job needs %d", ev.Round, len(ev.Candidates), max(m.job.MinParticipants, 1))
		}
	case EvSubmit:
		if ev.Sub == nil {
			return fmt.Errorf("round: submit event without submission")
		}
	case EvReject:
		if ev.Reason.Stage() != ledger.StageStream {
			return fmt.Errorf("round: reject event with reason %q, which is not decided from the stream", ev.Reason)
		}
	case EvClose:
		if m.phase != PhaseCollecting || ev.Round != m.round {
			return fmt.Errorf("round: cannot close round %d in phase %s of round %d", ev.Round, m.phase, m.round)
		}
	case EvCommit:
		if m.phase != PhaseClosing || ev.Round != m.round || ev.Commit == nil {
			return fmt.Errorf("round: cannot commit round %d in phase %s of round %d", ev.Round, m.phase, m.round)
		}
	case EvKeys, EvShares, EvSurvivorSig, EvReveal:
		if (ev.Kind == EvKeys && ev.Keys == nil) || (ev.Kind == EvShares && ev.Shares == nil) ||
			(ev.Kind == EvReveal && ev.Reveal == nil) || ev.Peer == "" {
			return fmt.Errorf("round: %s event without its message", ev.Kind)
		}
	case EvStep:
		if m.sa == nil || m.phase != PhaseCollecting || m.sa.fail != "" || m.sa.step >= SAReveal || ev.Round != m.round {
			return fmt.Errorf("round: cannot end a secagg step of round %d in round %d", ev.Round, m.round)
		}
	case EvExclude:
		if m.sa == nil || m.phase != PhaseCollecting || ev.Round != m.round || ev.Reason.Stage() != ledger.StageReceipt {
			return fmt.Errorf("round: cannot exclude %s from round %d in round %d", ev.Peer, ev.Round, m.round)
		}
		if _, ok := m.sa.index[ev.Peer]; !ok {
			return fmt.Errorf("round: cannot exclude %s, not in the cohort of round %d", ev.Peer, m.round)
		}
		// Step excludes only a member the step waits for, and only for
		// breaking the protocol.
		if (ev.Reason != ledger.ReasonSecAggMessage && ev.Reason != ledger.ReasonBadSig) || m.sa.fail != "" ||
			ev.Step != m.sa.step.String() || !m.saMember(ev.Peer) || m.answered(ev.Peer) {
			return fmt.Errorf("round: cannot exclude %s at step %s of round %d (%s, now at %s)", ev.Peer, ev.Step, m.round, ev.Reason, m.sa.step)
		}
	default:
		return fmt.Errorf("round: unknown event kind %d", ev.Kind)
	}
	return nil
}

// Apply applies an event that is already journaled (a replay after a
// restart, or an auditor's), queuing nothing for the driver. It returns the
// rejection reason of an EvSubmit or EvReject. An error means the event is
// invalid in this state (a driver bug or a corrupt journal), and the state
// is unchanged.
func (m *Machine) Apply(ev Event) (ledger.Reason, error) {
	if err := m.validate(&ev); err != nil {
		return "", err
	}
	return m.apply(&ev), nil
}

func (m *Machine) apply(ev *Event) ledger.Reason {
	var reason ledger.Reason
	switch ev.Kind {
	case EvRegister:
		m.registered[ev.Peer] = ev.NumExamples
	case EvStartRound:
		m.round = ev.Round
		m.phase = PhaseCollecting
		m.candidates = slices.Compact(slices.Sorted(slices.Values(ev.Candidates)))
		m.seed = ledger.CohortSeed(m.jobID, m.round, m.head)
		m.cohort = ledger.DrawCohort(m.seed, m.candidates, int(min(m.job.CohortSize, 1<<30)))
		m.startMillis = ev.Millis
		m.deadlineMillis = ev.Millis + m.job.DeadlineMillis
		m.accepted = map[string]ledger.SignedSubmission{}
		m.receipts, m.dropped, m.opened = m.next, m.nextDropped, uint64(len(m.next))
		m.next, m.nextDropped = nil, 0
		m.sa = nil
		if m.secagg() {
			m.startSA(ev.Millis)
		}
	case EvSubmit:
		reason = m.Check(ev.Peer, ev.Sub)
		rec := ledger.SubmissionRecord{Signed: *ev.Sub, Status: ledger.StatusAccepted}
		if reason != "" {
			rec.Status, rec.Reason = ledger.StatusRejected, reason
		} else {
			m.accepted[ev.Sub.Sub.Participant] = *ev.Sub
		}
		m.record(rec)
	case EvReject:
		reason = ev.Reason
		m.record(ledger.SubmissionRecord{Signed: ledger.SignedSubmission{Sub: ledger.Submission{Participant: ev.Peer}},
			Status: ledger.StatusRejected, Reason: ev.Reason})
	case EvClose:
		m.phase = PhaseClosing
		// Round times never run backwards, even if the wall clock steps back.
		m.closeMillis = max(ev.Millis, m.closeMillis)
		m.built, m.foldGiven, m.commitGiven = nil, false, false
	case EvKeys, EvShares, EvSurvivorSig, EvReveal:
		if reason = m.checkSA(ev); reason == "" {
			m.applySA(ev)
		}
	case EvStep:
		m.endStep(ev.Millis)
	case EvExclude:
		m.exclude(ev.Peer, ev.Step, ev.Reason)
		reason = ev.Reason
	case EvCommit:
		c := ev.Commit
		m.head, m.model, m.modelHash, m.stateBlob = c.Head, c.Model, c.ModelHash, c.StateBlob
		m.receipts, m.dropped, m.opened = nil, 0, 0
		m.accepted = map[string]ledger.SignedSubmission{}
		m.built, m.foldGiven, m.commitGiven = nil, false, false
		m.sa = nil
		m.phase = PhaseWaiting
		if m.round >= m.job.Rounds {
			m.phase = PhaseDone
		}
	}
	return reason
}

// record appends a receipt to the log it belongs to: the open round's, or,
// outside a collecting phase, the next round's. Rejections beyond
// MaxRejectsRecorded a round are only counted.
func (m *Machine) record(rec ledger.SubmissionRecord) {
	log, dropped := &m.receipts, &m.dropped
	switch m.phase {
	case PhaseCollecting:
	case PhaseDone:
		return // no round will record it
	default:
		log, dropped = &m.next, &m.nextDropped
	}
	if rec.Status == ledger.StatusRejected {
		n := 0
		for i := range *log {
			if (*log)[i].Status == ledger.StatusRejected {
				n++
			}
		}
		if n >= MaxRejectsRecorded {
			*dropped++
			return
		}
	}
	rec.Arrival = uint64(len(*log)) + 1
	*log = append(*log, rec)
}

// Step takes one input from outside (EvRegister, EvSubmit, EvReject, or the
// driver's EvCommit after storing Ready.Commit). It validates the event
// first: a refused event changes nothing and is never journaled. A taken
// event is applied and queued in Ready for persisting, and its reply (for
// register, submit and reject) with the returned ID.
func (m *Machine) Step(ev Event) (uint64, error) {
	switch ev.Kind {
	case EvStartRound, EvClose, EvStep:
		return 0, fmt.Errorf("round: %s events come from Tick, not Step", ev.Kind)
	case EvExclude:
		return 0, fmt.Errorf("round: exclusions come from refused secagg messages, not Step")
	case EvKeys, EvShares, EvSurvivorSig, EvReveal:
		if err := m.validate(&ev); err != nil {
			return 0, err
		}
		reason := m.checkSA(&ev)
		if reason == "" {
			break
		}
		if sa := m.sa; (reason == ledger.ReasonSecAggMessage || reason == ledger.ReasonBadSig) && sa != nil && m.saMember(ev.Peer) {
			// A cohort member broke the protocol: it is excluded, and
			// the exclusion is journaled and recorded (the message is
			// not: its bytes are bounded by nothing).
			ev = Event{Kind: EvExclude, Peer: ev.Peer, Millis: ev.Millis, Round: m.round, Step: sa.step.String(), Reason: reason}
			break
		}
		return m.reply(&ev, reason), nil // refused: answered, never journaled
	case EvRegister:
		if ev.Peer == "" || ev.NumExamples == 0 {
			return 0, fmt.Errorf("round: register event without peer or examples")
		}
		if r := m.Admit(ev.Peer, ev.NumExamples); r != "" || m.registered[ev.Peer] == ev.NumExamples {
			return m.reply(&ev, r), nil // refused, or nothing changes: nothing to journal
		}
	case EvCommit:
		if err := m.validate(&ev); err != nil {
			return 0, err
		}
		if m.built == nil {
			return 0, fmt.Errorf("round: commit of round %d before its commitment was built", ev.Round)
		}
		if ev.Commit.Model != m.built.OutputModel || ev.Commit.ModelHash != m.built.OutputModelHash || ev.Commit.StateBlob != m.built.StateBlob {
			return 0, fmt.Errorf("round: commit of round %d names other outputs than its commitment", ev.Round)
		}
	case EvSubmit, EvReject:
		if err := m.validate(&ev); err != nil {
			return 0, err
		}
		if ev.Kind == EvSubmit && submissionBytes(&ev.Sub.Sub) > ledger.MaxSubmissionBytes {
			// Too long to record: recorded as a stream-level rejection,
			// without its bytes (a digest would prove nothing more: the
			// coordinator's word either way).
			ev = Event{Kind: EvReject, Peer: ev.Peer, Millis: ev.Millis, Reason: ledger.ReasonOversized}
		}
		reason := ev.Reason
		if ev.Kind == EvSubmit {
			reason = m.Check(ev.Peer, ev.Sub)
		}
		if _, ok := m.registered[ev.Peer]; !ok {
			// From a peer that is not registered: answered, but neither
			// journaled nor recorded, so outsiders cost the journal and
			// the chain nothing.
			return m.reply(&ev, reason), nil
		}
		if reason != "" && ev.Kind == EvSubmit {
			ev.Sub = m.compact(ev.Sub)
		}
	}
	if err := m.validate(&ev); err != nil {
		return 0, err
	}
	reason := m.apply(&ev)
	m.persist = append(m.persist, ev)
	if ev.Kind == EvCommit {
		return 0, nil
	}
	return m.reply(&ev, reason), nil
}

func (m *Machine) reply(ev *Event, reason ledger.Reason) uint64 {
	m.replyID++
	r := Reply{ID: m.replyID, Peer: ev.Peer, Kind: ev.Kind, Reason: reason, Round: ev.Round}
	if ev.Sub != nil {
		r.Round = ev.Sub.Sub.Round
	}
	m.replies = append(m.replies, r)
	return m.replyID
}

// Tick tells the machine the time. It opens a round when enough peers are
// registered and closes the open one when every cohort member submitted or
// its deadline passed; the events it makes are queued in Ready.
func (m *Machine) Tick(nowMillis uint64) {
	for {
		var ev Event
		switch {
		case m.shouldStart():
			ev = Event{Kind: EvStartRound, Round: m.round + 1, Millis: nowMillis, Candidates: m.sortedRegistered()}
		case m.shouldStep(nowMillis):
			ev = Event{Kind: EvStep, Round: m.round, Millis: nowMillis}
		case m.shouldClose(nowMillis):
			ev = Event{Kind: EvClose, Round: m.round, Millis: nowMillis}
		default:
			return
		}
		m.apply(&ev)
		m.persist = append(m.persist, ev)
	}
}

// shouldStep reports whether the open secagg round's step ends now.
func (m *Machine) shouldStep(nowMillis uint64) bool {
	sa := m.sa
	return m.phase == PhaseCollecting && sa != nil && sa.fail == "" && sa.step < SAReveal && m.stepDone(nowMillis)
}

// WakeMillis returns when Tick next has something to do by the clock alone
// (the open round's deadline), and whether there is such a time.
func (m *Machine) WakeMillis() (uint64, bool) {
	if m.phase == PhaseCollecting {
		if m.sa != nil {
			return m.sa.deadline, true
		}
		return m.deadlineMillis, true
	}
	return 0, false
}

// foldTask returns the closing round's fold.
func (m *Machine) foldTask() *FoldTask {
	keys := make([]string, 0, len(m.accepted))
	for k := range m.accepted {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	subs := make([]ledger.SignedSubmission, len(keys))
	for i, k := range keys {
		subs[i] = m.accepted[k]
	}
	return &FoldTask{Round: m.round, Model: m.model, ModelHash: m.modelHash, StateBlob: m.stateBlob, Subs: subs, SecAgg: m.saTask()}
}

// Ready returns the work pending for the driver. Persist before replying:
// a reply may only leave once the events before it are durable.
func (m *Machine) Ready() Ready {
	rd := Ready{Persist: slices.Clone(m.persist), Replies: slices.Clone(m.replies)}
	if m.phase == PhaseClosing && m.built == nil && !m.foldGiven {
		rd.Fold = m.foldTask()
	}
	if m.built != nil && !m.commitGiven {
		c := *m.built
		rd.Commit = &c
	}
	return rd
}

// Advance acknowledges that the driver did the work in rd.
func (m *Machine) Advance(rd Ready) {
	m.persist = m.persist[len(rd.Persist):]
	m.replies = m.replies[len(rd.Replies):]
	if len(m.persist) == 0 {
		m.persist = nil
	}
	if len(m.replies) == 0 {
		m.replies = nil
	}
	if rd.Fold != nil {
		m.foldGiven = true
	}
	if rd.Commit != nil {
		m.commitGiven = true
	}
}

// Refold asks for the closing round's fold again (the driver's attempt
// failed and it gave up on it, e.g. on shutdown).
func (m *Machine) Refold() {
	if m.phase == PhaseClosing && m.built == nil {
		m.foldGiven = false
	}
}

// Folded hands the machine the closing round's fold result; the machine
// builds the commitment (see Commitment) and asks for it to be stored.
func (m *Machine) Folded(res *FoldResult) error {
	if m.phase != PhaseClosing || res.Round != m.round || m.built != nil {
		return fmt.Errorf("round: fold result of round %d in phase %s of round %d", res.Round, m.phase, m.round)
	}
	c, err := m.Commitment(res)
	if err != nil {
		return err
	}
	m.built = &c
	return nil
}
