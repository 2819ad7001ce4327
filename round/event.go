package round

import (
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
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "unknown"
}

var phaseNames = [...]string{"waiting", "collecting", "closing", "done"}

// Kind is the type of an Event.
type Kind uint8

// Event kinds. The numbers are the journal's format: never change them.
const (
	EvRegister   Kind = 1 // Peer registers with NumExamples
	EvStartRound Kind = 2 // Round opens at Millis with Candidates
	EvSubmit     Kind = 3 // Sub arrives from Peer at Millis
	EvReject     Kind = 4 // an input from Peer that was not a decodable submission, with Reason
	EvClose      Kind = 5 // Round closes at Millis
	EvCommit     Kind = 6 // Round committed: Commit
	// Secure aggregation (privacy "secagg"; see secagg.go).
	EvKeys        Kind = 7  // Keys advertised by Peer
	EvShares      Kind = 8  // Shares (envelopes) from Peer
	EvSurvivorSig Kind = 9  // Sig: Peer's signature on the survivor set
	EvReveal      Kind = 10 // Reveal from Peer
	EvStep        Kind = 11 // the round's secagg step ends at Millis
	EvExclude     Kind = 12 // Peer's secagg message refused with Reason: it takes no further part
)

func (k Kind) String() string {
	switch k {
	case EvRegister:
		return "register"
	case EvStartRound:
		return "start-round"
	case EvSubmit:
		return "submit"
	case EvReject:
		return "reject"
	case EvClose:
		return "close"
	case EvCommit:
		return "commit"
	case EvKeys:
		return "keys"
	case EvShares:
		return "shares"
	case EvSurvivorSig:
		return "survivor-sig"
	case EvReveal:
		return "reveal"
	case EvStep:
		return "step"
	case EvExclude:
		return "exclude"
	}
	return "unknown"
}

// CommitInfo is what a committed round leaves for the next.
type CommitInfo struct {
	Head      ledger.BlobID `cbor:"1,keyasint"` // blob of the signed commitment
	Model     ledger.BlobID `cbor:"2,keyasint"`
	ModelHash ledger.Hash   `cbor:"3,keyasint"`
	StateBlob ledger.BlobID `cbor:"4,keyasint,omitempty"`
}

// Event is one input to the Machine that changes its state. Its CBOR form is
// the coordinator journal's record (field numbers never change).
type Event struct {
	Kind        Kind                     `cbor:"1,keyasint"`
	Peer        string                   `cbor:"2,keyasint,omitempty"`
	NumExamples uint64                   `cbor:"3,keyasint,omitempty"`
	Millis      uint64                   `cbor:"4,keyasint,omitempty"`
	Round       uint64                   `cbor:"5,keyasint,omitempty"`
	Candidates  []string                 `cbor:"6,keyasint,omitempty"`
	Sub         *ledger.SignedSubmission `cbor:"7,keyasint,omitempty"`
	Reason      ledger.Reason            `cbor:"8,keyasint,omitempty"`
	Commit      *CommitInfo              `cbor:"9,keyasint,omitempty"`
	Keys        *ledger.SignedKeys       `cbor:"10,keyasint,omitempty"`
	Shares      *ledger.SignedShares     `cbor:"11,keyasint,omitempty"`
	Sig         []byte                   `cbor:"12,keyasint,omitempty"`
	Reveal      *ledger.SignedReveal     `cbor:"13,keyasint,omitempty"`
	Step        string                   `cbor:"14,keyasint,omitempty"` // EvExclude: the step of the refused message
}
