package coordinator

import (
	"fmt"
	"slices"

	"github.com/floe-fl/floe/ledger"
)

// Phase is where the current round stands.
type Phase uint8

const (
	// PhaseWaiting: no round open; waiting for enough registrations.
	PhaseWaiting Phase = iota
	// PhaseCollecting: the round's cohort may submit until quorum and deadline.
	PhaseCollecting
	// PhaseClosing: submissions are closed; the round is being aggregated and committed.
	PhaseClosing
	// PhaseDone: every round of the job is committed.
	PhaseDone
)

func (p Phase) String() string {
	return [...]string{"waiting", "collecting", "closing", "done"}[p]
}

// Event kinds. Events are journaled before they take effect.
const (
	EvRegister   uint8 = 1 // Peer registers with NumExamples
	EvStartRound uint8 = 2 // Round opens at Millis with Candidates
	EvSubmit     uint8 = 3 // Sub arrives at Millis
	EvReject     uint8 = 4 // an input that was not a decodable submission, from Peer, with Reason
	EvClose      uint8 = 5 // Round closes at Millis
	EvCommit     uint8 = 6 // Round committed: Commit
)

// CommitInfo is what a committed round leaves for the next.
type CommitInfo struct {
	Head      ledger.BlobID `cbor:"1,keyasint"` // blob of the signed commitment
	Model     ledger.BlobID `cbor:"2,keyasint"`
	ModelHash ledger.Hash   `cbor:"3,keyasint"`
	StateBlob ledger.BlobID `cbor:"4,keyasint,omitempty"`
}

// Event is one input to the Core. Its CBOR form is the journal's record.
type Event struct {
	Kind        uint8                    `cbor:"1,keyasint"`
	Peer        string                   `cbor:"2,keyasint,omitempty"`
	NumExamples uint64                   `cbor:"3,keyasint,omitempty"`
	Millis      uint64                   `cbor:"4,keyasint,omitempty"`
	Round       uint64                   `cbor:"5,keyasint,omitempty"`
	Candidates  []string                 `cbor:"6,keyasint,omitempty"`
	Sub         *ledger.SignedSubmission `cbor:"7,keyasint,omitempty"`
	Reason      string                   `cbor:"8,keyasint,omitempty"`
	Commit      *CommitInfo              `cbor:"9,keyasint,omitempty"`
}

// Rejection reasons recorded in commitments. Published text: never change it.
const (
	ReasonMalformed   = "malformed"
	ReasonOversized   = "oversized"
	ReasonBadSig      = "bad signature"
	ReasonWrongJob    = "wrong job"
	ReasonReplayed    = "replayed: earlier round"
	ReasonFuture      = "round not open"
	ReasonLate        = "late: round closed"
	ReasonDuplicate   = "duplicate"
	ReasonNotInCohort = "not in cohort"
	ReasonBadCert     = "bad certificate"
	ReasonNoExamples  = "no examples"
	ReasonExamples    = "example count above limit"
	ReasonSender      = "sender is not the participant"
	ReasonBlobMissing = "update blob unavailable"
	ReasonBadUpdate   = "update does not open or decode"
	ReasonHash        = "update hash mismatch"
	ReasonShape       = "wrong shape"
	ReasonNonFinite   = "non-finite values"
	ReasonNorm        = "norm above bound"
)

// MaxExamples bounds the examples one submission may claim, so that a
// round's example total cannot overflow (2^32 each, at most 2^30 members).
const MaxExamples = 1 << 32

// MaxRejectsRecorded bounds the rejected submissions recorded per round;
// further ones are only counted, so no sender can grow a commitment unboundedly.
const MaxRejectsRecorded = 256

// CertVerifier checks a certificate (CBOR of blob.Certificate) for a blob.
type CertVerifier func(blob ledger.BlobID, cert []byte) error

// Core is the coordinator's round state machine. It does no I/O and reads no
// clock: a driver feeds it Events (journaling each first) and acts on its state.
// Given the same events, two Cores reach the same state.
type Core struct {
	Job     *ledger.SignedJob
	JobID   ledger.Hash
	JobBlob ledger.BlobID
	verify  CertVerifier

	Registered map[string]uint64 // peer ID -> examples claimed

	Round          uint64 // current round (0 before the first)
	Phase          Phase
	Head           ledger.BlobID // last committed record (the job blob before round 1)
	Model          ledger.BlobID // input model of the current round
	ModelHash      ledger.Hash
	StateBlob      ledger.BlobID // aggregator state after the last round
	Candidates     []string
	Cohort         []string
	Seed           ledger.Hash
	StartMillis    uint64
	DeadlineMillis uint64
	CloseMillis    uint64
	Accepted       map[string]ledger.SignedSubmission
	Rejected       []ledger.SubmissionRecord
	DroppedRejects uint64
}

// NewCore returns the state of a job before any event.
func NewCore(job *ledger.SignedJob, jobBlob ledger.BlobID, verify CertVerifier) *Core {
	return &Core{
		Job: job, JobID: job.Job.ID(), JobBlob: jobBlob, verify: verify,
		Registered: map[string]uint64{},
		Head:       jobBlob, Model: job.Job.InitialModel, ModelHash: job.Job.InitialModelHash,
		Accepted: map[string]ledger.SignedSubmission{},
	}
}

// InCohort reports whether peer is in the open round's cohort.
func (c *Core) InCohort(peer string) bool {
	_, ok := slices.BinarySearch(c.Cohort, peer)
	return ok && c.Phase == PhaseCollecting
}

// ShouldStart reports whether a new round should open now.
func (c *Core) ShouldStart() bool {
	j := &c.Job.Job
	return c.Phase == PhaseWaiting && c.Round < j.Rounds && uint64(len(c.Registered)) >= max(j.MinParticipants, 1)
}

// ShouldClose reports whether the open round should close at nowMillis: every
// cohort member has submitted, or the deadline has passed.
func (c *Core) ShouldClose(nowMillis uint64) bool {
	if c.Phase != PhaseCollecting {
		return false
	}
	return len(c.Accepted) == len(c.Cohort) || nowMillis >= c.DeadlineMillis
}

// SortedCandidates returns the registered peers, sorted.
func (c *Core) SortedCandidates() []string {
	out := make([]string, 0, len(c.Registered))
	for p := range c.Registered {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// CheckSubmission returns the reason a submission from sender would be
// rejected now, or "" if it would be accepted. It does not change state.
func (c *Core) CheckSubmission(sender string, s *ledger.SignedSubmission) string {
	sub := &s.Sub
	switch {
	case sub.Participant != sender:
		return ReasonSender
	case s.Verify() != nil:
		return ReasonBadSig
	case sub.Job != c.JobID:
		return ReasonWrongJob
	case sub.Round < c.Round || (sub.Round == c.Round && c.Phase != PhaseCollecting):
		if sub.Round == c.Round {
			return ReasonLate
		}
		return ReasonReplayed
	case sub.Round > c.Round:
		return ReasonFuture
	}
	if _, dup := c.Accepted[sub.Participant]; dup {
		return ReasonDuplicate
	}
	if !c.InCohort(sub.Participant) {
		return ReasonNotInCohort
	}
	if sub.NumExamples == 0 {
		return ReasonNoExamples
	}
	if sub.NumExamples > MaxExamples {
		return ReasonExamples
	}
	if c.verify != nil {
		if err := c.verify(sub.Blob, s.Cert); err != nil {
			return ReasonBadCert
		}
	}
	return ""
}

// Apply feeds one event to the core. It returns, for EvSubmit, the rejection
// reason ("" when accepted). An error means the event is invalid in this state
// (a driver bug or a corrupt journal), and the state is unchanged.
func (c *Core) Apply(ev Event) (reason string, err error) {
	switch ev.Kind {
	case EvRegister:
		if ev.Peer == "" || ev.NumExamples == 0 {
			return "", fmt.Errorf("coordinator: bad register event")
		}
		c.Registered[ev.Peer] = ev.NumExamples
	case EvStartRound:
		if !c.ShouldStart() || ev.Round != c.Round+1 {
			return "", fmt.Errorf("coordinator: cannot start round %d in phase %s after round %d", ev.Round, c.Phase, c.Round)
		}
		c.Round = ev.Round
		c.Phase = PhaseCollecting
		c.Candidates = slices.Clone(ev.Candidates)
		slices.Sort(c.Candidates)
		c.Seed = ledger.CohortSeed(c.JobID, c.Round, c.Head)
		c.Cohort = ledger.DrawCohort(c.Seed, c.Candidates, int(c.Job.Job.CohortSize))
		c.StartMillis = ev.Millis
		c.DeadlineMillis = ev.Millis + c.Job.Job.DeadlineMillis
		c.Accepted = map[string]ledger.SignedSubmission{}
	case EvSubmit:
		if ev.Sub == nil {
			return "", fmt.Errorf("coordinator: submit event without submission")
		}
		reason = c.CheckSubmission(ev.Peer, ev.Sub)
		if reason == "" {
			c.Accepted[ev.Sub.Sub.Participant] = *ev.Sub
		} else {
			c.reject(ledger.SubmissionRecord{Signed: *ev.Sub, Status: ledger.StatusRejected, Reason: reason})
		}
	case EvReject:
		c.reject(ledger.SubmissionRecord{Signed: ledger.SignedSubmission{Sub: ledger.Submission{Participant: ev.Peer}},
			Status: ledger.StatusRejected, Reason: ev.Reason})
	case EvClose:
		if c.Phase != PhaseCollecting || ev.Round != c.Round {
			return "", fmt.Errorf("coordinator: cannot close round %d in phase %s of round %d", ev.Round, c.Phase, c.Round)
		}
		c.Phase = PhaseClosing
		// Round times never run backwards, even if the wall clock steps back.
		c.CloseMillis = max(ev.Millis, c.CloseMillis)
	case EvCommit:
		if c.Phase != PhaseClosing || ev.Round != c.Round || ev.Commit == nil {
			return "", fmt.Errorf("coordinator: cannot commit round %d in phase %s of round %d", ev.Round, c.Phase, c.Round)
		}
		c.Head, c.Model, c.ModelHash, c.StateBlob = ev.Commit.Head, ev.Commit.Model, ev.Commit.ModelHash, ev.Commit.StateBlob
		c.Rejected, c.DroppedRejects = nil, 0
		c.Accepted = map[string]ledger.SignedSubmission{}
		c.Phase = PhaseWaiting
		if c.Round >= c.Job.Job.Rounds {
			c.Phase = PhaseDone
		}
	default:
		return "", fmt.Errorf("coordinator: unknown event kind %d", ev.Kind)
	}
	return reason, nil
}

func (c *Core) reject(r ledger.SubmissionRecord) {
	if len(c.Rejected) >= MaxRejectsRecorded {
		c.DroppedRejects++
		return
	}
	c.Rejected = append(c.Rejected, r)
}

// AcceptedSorted returns the accepted submissions in participant order: the
// fixed order in which they are aggregated.
func (c *Core) AcceptedSorted() []ledger.SignedSubmission {
	keys := make([]string, 0, len(c.Accepted))
	for k := range c.Accepted {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]ledger.SignedSubmission, len(keys))
	for i, k := range keys {
		out[i] = c.Accepted[k]
	}
	return out
}
