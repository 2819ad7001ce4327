package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/floe-fl/floe/codec"
)

// Hash is a SHA-256 digest.
type Hash [32]byte

// String returns the URL-safe unpadded base64 form of h.
func (h Hash) String() string { return base64.RawURLEncoding.EncodeToString(h[:]) }

// IsZero reports whether h is all zero.
func (h Hash) IsZero() bool { return h == Hash{} }

// Sum returns the SHA-256 of b.
func Sum(b []byte) Hash { return sha256.Sum256(b) }

// BlobID names a blob in the store (the same 32 bytes as blob.ID).
type BlobID = [32]byte

// Domain-separation prefixes: a signature for one record type never verifies as another.
const (
	DomainJob        = "floe/job/v1"
	DomainCommitment = "floe/commitment/v1"
	DomainSubmission = "floe/submission/v1"
)

// Version is the record format version written in every record.
const Version = 1

// MaxRecordSize bounds the encoded size of any record this package decodes.
const MaxRecordSize = 16 << 20

// ErrSignature reports a missing or invalid signature.
var ErrSignature = errors.New("ledger: bad signature")

// ErrCorruption reports a record or chain that does not hold together.
var ErrCorruption = errors.New("ledger: corruption")

// Recipient is a party allowed to open sealed updates: an HPKE public key and its name.
type Recipient struct {
	Name      string `cbor:"1,keyasint"`
	KEM       string `cbor:"2,keyasint"` // e.g. "X25519-HKDF-SHA256"
	PublicKey []byte `cbor:"3,keyasint"`
}

// TrainParams are the local training hyperparameters. Numbers with a fractional
// part are decimal strings: signed records hold no floats.
type TrainParams struct {
	Epochs      uint64 `cbor:"1,keyasint"`
	BatchSize   uint64 `cbor:"2,keyasint"`
	LR          string `cbor:"3,keyasint"`
	Mu          string `cbor:"4,keyasint,omitempty"`
	WeightDecay string `cbor:"5,keyasint,omitempty"`
}

// JobSpec is the signed definition of a training job. Its hash is the job ID
// and the root of the chain.
type JobSpec struct {
	Version              uint64      `cbor:"1,keyasint"`
	Name                 string      `cbor:"2,keyasint"`
	Coordinator          string      `cbor:"3,keyasint"` // peer ID
	Arch                 string      `cbor:"4,keyasint"` // e.g. "mlp:784-200-200-10"
	InitialModel         BlobID      `cbor:"5,keyasint"`
	InitialModelHash     Hash        `cbor:"6,keyasint"`
	Train                TrainParams `cbor:"7,keyasint"`
	Aggregation          string      `cbor:"8,keyasint"` // aggregate.Spec.Canonical()
	Privacy              string      `cbor:"9,keyasint"` // "sealed", "secagg" or "plain"
	Recipients           []Recipient `cbor:"10,keyasint"`
	Committee            []string    `cbor:"11,keyasint"` // multiaddrs with /p2p/ID, sliver order
	CohortSize           uint64      `cbor:"12,keyasint"`
	Quorum               uint64      `cbor:"13,keyasint"`
	DeadlineMillis       uint64      `cbor:"14,keyasint"`
	Rounds               uint64      `cbor:"15,keyasint"`
	NormBound            string      `cbor:"16,keyasint,omitempty"`
	Clip                 bool        `cbor:"17,keyasint,omitempty"`
	Eval                 string      `cbor:"19,keyasint,omitempty"` // description of the held-out set
	Seed                 uint64      `cbor:"20,keyasint"`
	MinParticipants      uint64      `cbor:"21,keyasint"`
	UpdateLifetimeMillis uint64      `cbor:"22,keyasint,omitempty"` // how long storage nodes keep an update blob (0: forever)
	// Admission. AllowList, when not empty, names the only peers that may
	// register (sorted, distinct). MaxRegistrations caps the peers
	// registered at once (0: DefaultMaxRegistrations). MaxExamples bounds
	// the examples one participant may claim, at registration and in each
	// submission (0: the protocol's bound, 2^32).
	AllowList        []string `cbor:"23,keyasint,omitempty"`
	MaxRegistrations uint64   `cbor:"24,keyasint,omitempty"`
	MaxExamples      uint64   `cbor:"25,keyasint,omitempty"`
	// Store names the backend that holds the job's blobs: "" for floe's
	// own committee (Committee), StoreWalrus for the Walrus network (no
	// Committee; blob IDs are Walrus blob IDs). Omitted when empty, so
	// jobs made before it existed keep their IDs.
	Store string `cbor:"26,keyasint,omitempty"`
	// MaxUpdateBytes bounds a submission's declared UpdateSize (0: no
	// bound, jobs made before it existed). The coordinator sets it from the
	// initial model's size and the sealing (see UpdateBytesBound).
	MaxUpdateBytes uint64 `cbor:"27,keyasint,omitempty"`
	// SecAgg configures privacy "secagg" (PrivacySecAgg); nil otherwise.
	// In a secagg job MaxUpdateBytes is the exact size of a masked input:
	// one ring element per float parameter of the model and one for the
	// weight, each ceil(SecAgg.Bits/8) bytes (round.MaskedInputBytes).
	SecAgg *SecAggParams `cbor:"28,keyasint,omitempty"`
}

// SignedJob is a JobSpec with the coordinator's signature.
type SignedJob struct {
	Job JobSpec `cbor:"1,keyasint"`
	Sig []byte  `cbor:"2,keyasint"`
}

// Submission is what a participant signs when it hands in an update.
type Submission struct {
	Job         Hash   `cbor:"1,keyasint"`
	Round       uint64 `cbor:"2,keyasint"`
	Participant string `cbor:"3,keyasint"` // peer ID
	Blob        BlobID `cbor:"4,keyasint"`
	UpdateHash  Hash   `cbor:"5,keyasint"` // SHA-256 of the plaintext update file
	NumExamples uint64 `cbor:"6,keyasint"`
	// UpdateSize is the stored update blob's length in bytes (sealed, in a
	// sealed job): readers refuse a longer blob before downloading it. 0 in
	// submissions made before it was declared.
	UpdateSize uint64 `cbor:"7,keyasint,omitempty"`
	// Metrics are the participant's own figures (training loss, accuracy
	// on its held-out data...), sorted by name, at most
	// MaxSubmissionMetrics, names and values at most MaxMetricText bytes,
	// values canonical decimals: the participant's word, signed.
	Metrics []Metric `cbor:"8,keyasint,omitempty"`
}

// SignedSubmission is a Submission with the participant's signature and the
// blob's availability certificate (CBOR of blob.Certificate).
type SignedSubmission struct {
	Sub  Submission `cbor:"1,keyasint"`
	Sig  []byte     `cbor:"2,keyasint"`
	Cert []byte     `cbor:"3,keyasint"`
}

// SubmissionRecord is a submission as the commitment records it, with its fate.
type SubmissionRecord struct {
	Signed SignedSubmission `cbor:"1,keyasint"`
	Status Status           `cbor:"2,keyasint"`
	Reason Reason           `cbor:"3,keyasint,omitempty"`
	Share  uint64           `cbor:"4,keyasint,omitempty"` // contribution share in parts per million
	// Arrival is the record's 1-based position in the round's receipt log
	// (every submission and stream-level rejection the commitment records)
	// in canonical order: the receipts taken before the round opened
	// first, then the others, each part grouped by participant and, within
	// a participant, in the order the coordinator took them. An auditor
	// replays the receipts in this order (see package round). 0 in records
	// made before it was recorded.
	Arrival uint64 `cbor:"5,keyasint,omitempty"`
}

// Metric is one named evaluation figure, as decimal text.
type Metric struct {
	Name  string `cbor:"1,keyasint"`
	Value string `cbor:"2,keyasint"`
}

// Commitment is the signed record of one round.
type Commitment struct {
	Version         uint64             `cbor:"1,keyasint"`
	Job             Hash               `cbor:"2,keyasint"`
	Round           uint64             `cbor:"3,keyasint"`
	Prev            BlobID             `cbor:"4,keyasint"` // blob of the previous commitment, or of the SignedJob for round 1
	InputModel      BlobID             `cbor:"5,keyasint"`
	InputModelHash  Hash               `cbor:"6,keyasint"`
	CohortSeed      Hash               `cbor:"7,keyasint"`
	Candidates      []string           `cbor:"8,keyasint"` // registered peers the cohort was drawn from, sorted
	Cohort          []string           `cbor:"9,keyasint"` // sorted
	Submissions     []SubmissionRecord `cbor:"10,keyasint"`
	Rule            string             `cbor:"11,keyasint"`
	NoiseSeed       Hash               `cbor:"12,keyasint,omitempty"`
	Status          Status             `cbor:"13,keyasint"`
	Reason          string             `cbor:"14,keyasint,omitempty"` // why a failed round failed
	OutputModel     BlobID             `cbor:"15,keyasint"`
	OutputModelHash Hash               `cbor:"16,keyasint"`
	StateBlob       BlobID             `cbor:"17,keyasint,omitempty"` // server optimizer state after the round
	StateHash       Hash               `cbor:"18,keyasint,omitempty"`
	Metrics         []Metric           `cbor:"19,keyasint,omitempty"`
	TimeMillis      uint64             `cbor:"20,keyasint"`
	DroppedRejects  uint64             `cbor:"21,keyasint,omitempty"` // rejections beyond the record cap, counted only
	// Opened is how many of the recorded receipts (by Arrival) came before
	// the round opened: while the previous round was closing or committed.
	Opened uint64 `cbor:"22,keyasint,omitempty"`
	// ParticipantMetrics are the example-weighted means of the metrics the
	// aggregated submissions reported (ok rounds), by name: recomputed by
	// an auditor from the records.
	ParticipantMetrics []Metric `cbor:"23,keyasint,omitempty"`
	// SecAgg holds a secagg round's protocol messages and unmasking
	// material (nil in other jobs).
	SecAgg *SecAggRecord `cbor:"24,keyasint,omitempty"`
}

// SignedCommitment is a Commitment with the coordinator's signature.
type SignedCommitment struct {
	C   Commitment `cbor:"1,keyasint"`
	Sig []byte     `cbor:"2,keyasint"`
}

func sigInput(domain string, v any) ([]byte, error) {
	b, err := codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("ledger: encode: %w", err)
	}
	return append([]byte(domain+"\x00"), b...), nil
}

func sign(k Signer, domain string, v any) ([]byte, error) {
	msg, err := sigInput(domain, v)
	if err != nil {
		return nil, err
	}
	return k.Sign(msg)
}

// verify checks sig over v by the peer named id (Ed25519 peer IDs embed their key).
func verify(id string, domain string, v any, sig []byte) error {
	pub, err := ParsePeerID(id)
	if err != nil {
		return err
	}
	msg, err := sigInput(domain, v)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w: %s record not signed by %s", ErrSignature, domain, id)
	}
	return nil
}

// SignJob signs j with the coordinator key k.
func SignJob(k Signer, j JobSpec) (*SignedJob, error) {
	sig, err := sign(k, DomainJob, j)
	if err != nil {
		return nil, err
	}
	return &SignedJob{Job: j, Sig: sig}, nil
}

// Verify checks the job's signature by its coordinator.
func (s *SignedJob) Verify() error { return verify(s.Job.Coordinator, DomainJob, s.Job, s.Sig) }

// ID returns the job ID: the hash of the domain-separated unsigned JobSpec.
func (j *JobSpec) ID() Hash {
	b, err := sigInput(DomainJob, j)
	if err != nil {
		panic(err) // JobSpec always encodes
	}
	return Sum(b)
}

// SignSubmission signs s with the participant key k.
func SignSubmission(k Signer, s Submission) ([]byte, error) {
	return sign(k, DomainSubmission, s)
}

// Verify checks the participant's signature on the submission.
func (s *SignedSubmission) Verify() error {
	return verify(s.Sub.Participant, DomainSubmission, s.Sub, s.Sig)
}

// SignCommitment signs c with the coordinator key k.
func SignCommitment(k Signer, c Commitment) (*SignedCommitment, error) {
	sig, err := sign(k, DomainCommitment, c)
	if err != nil {
		return nil, err
	}
	return &SignedCommitment{C: c, Sig: sig}, nil
}

// Verify checks the commitment's signature by the given coordinator peer ID.
func (s *SignedCommitment) Verify(coordinator string) error {
	return verify(coordinator, DomainCommitment, s.C, s.Sig)
}

// Marshal encodes a record in deterministic CBOR.
func Marshal(v any) ([]byte, error) {
	b, err := codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("ledger: encode: %w", err)
	}
	return b, nil
}

// Record kinds, the first byte of a stored record blob.
const (
	KindJob        byte = 'J'
	KindCommitment byte = 'C'
)

// EncodeJob returns the stored form of a signed job: a kind byte and its CBOR.
func EncodeJob(s *SignedJob) ([]byte, error) { return encodeKind(KindJob, s) }

// EncodeCommitment returns the stored form of a signed commitment.
func EncodeCommitment(s *SignedCommitment) ([]byte, error) { return encodeKind(KindCommitment, s) }

func encodeKind(k byte, v any) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{k}, b...), nil
}

// Decode parses a stored record: exactly one of the results is non-nil. The
// encoding must be canonical: a record whose bytes are not what re-encoding
// gives is rejected, so one record has exactly one byte form.
func Decode(b []byte) (*SignedJob, *SignedCommitment, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: empty record", ErrCorruption)
	}
	if len(b) > MaxRecordSize {
		return nil, nil, fmt.Errorf("%w: record of %d bytes exceeds %d", ErrCorruption, len(b), MaxRecordSize)
	}
	var v any
	switch b[0] {
	case KindJob:
		v = new(SignedJob)
	case KindCommitment:
		v = new(SignedCommitment)
	default:
		return nil, nil, fmt.Errorf("%w: unknown record kind 0x%02x", ErrCorruption, b[0])
	}
	if err := codec.Unmarshal(b[1:], v); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCorruption, err)
	}
	again, err := encodeKind(b[0], v)
	if err != nil || string(again) != string(b) {
		return nil, nil, fmt.Errorf("%w: record is not in canonical form", ErrCorruption)
	}
	switch r := v.(type) {
	case *SignedJob:
		if r.Job.Version != Version {
			return nil, nil, fmt.Errorf("%w: job record version %d, want %d", ErrCorruption, r.Job.Version, Version)
		}
		return r, nil, nil
	case *SignedCommitment:
		if r.C.Version != Version {
			return nil, nil, fmt.Errorf("%w: commitment version %d, want %d", ErrCorruption, r.C.Version, Version)
		}
		return nil, r, nil
	}
	panic("unreachable")
}
