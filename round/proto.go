package round

import (
	"github.com/floe-fl/floe/ledger"
)

// Round-protocol operations on transport.ProtoRound. Each stream carries one
// Request and one Response, as varint-length-prefixed deterministic CBOR.
const (
	OpHello    = "hello"    // get the signed job
	OpRegister = "register" // join the job with NumExamples
	OpTask     = "task"     // long-poll for a task of a round after AfterRound
	OpSubmit   = "submit"   // hand in a signed submission
	// Secure aggregation (privacy "secagg"): each step's message, and a
	// long-poll for the round's view after a step (see SAView).
	OpSecAgg    = "secagg"           // long-poll for the view of Round after step AfterStep
	OpKeys      = "secagg-keys"      // Keys
	OpShares    = "secagg-shares"    // Shares
	OpSurvivors = "secagg-survivors" // Sig on the survivor set of Round
	OpReveal    = "secagg-reveal"    // Reveal
)

// Response statuses.
const (
	RespOK       = "ok"
	RespWait     = "wait"     // no task yet: ask again
	RespDone     = "done"     // the job has finished
	RespRejected = "rejected" // Reason says why
	RespError    = "error"
)

// MaxRequestSize bounds a request on the round protocol.
const MaxRequestSize = 1 << 20

// Request is a participant's message to the coordinator.
type Request struct {
	Op          string                   `cbor:"1,keyasint"`
	NumExamples uint64                   `cbor:"2,keyasint,omitempty"`
	AfterRound  uint64                   `cbor:"3,keyasint,omitempty"`
	Sub         *ledger.SignedSubmission `cbor:"4,keyasint,omitempty"`
	Round       uint64                   `cbor:"5,keyasint,omitempty"`
	AfterStep   SAStep                   `cbor:"6,keyasint,omitempty"`
	Keys        *ledger.SignedKeys       `cbor:"7,keyasint,omitempty"`
	Shares      *ledger.SignedShares     `cbor:"8,keyasint,omitempty"`
	Sig         []byte                   `cbor:"9,keyasint,omitempty"`
	Reveal      *ledger.SignedReveal     `cbor:"10,keyasint,omitempty"`
}

// Task tells a cohort member what to train on.
type Task struct {
	Round          uint64        `cbor:"1,keyasint"`
	Model          ledger.BlobID `cbor:"2,keyasint"`
	ModelHash      ledger.Hash   `cbor:"3,keyasint"`
	DeadlineMillis uint64        `cbor:"4,keyasint"`
}

// Response is the coordinator's reply.
type Response struct {
	Status  string        `cbor:"1,keyasint"`
	Reason  ledger.Reason `cbor:"2,keyasint,omitempty"`
	Job     []byte        `cbor:"3,keyasint,omitempty"` // the stored job record
	JobBlob ledger.BlobID `cbor:"4,keyasint,omitempty"`
	Task    *Task         `cbor:"5,keyasint,omitempty"`
	Head    ledger.BlobID `cbor:"6,keyasint,omitempty"`
	Round   uint64        `cbor:"7,keyasint,omitempty"`
	SecAgg  *SAView       `cbor:"8,keyasint,omitempty"`
}
