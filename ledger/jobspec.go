package ledger

import (
	"fmt"
	"sort"
	"strings"

	"github.com/floe-fl/floe/decimal"
	"github.com/floe-fl/floe/secagg"
)

// KEMX25519 is the KEM name of an X25519 HPKE recipient (seal.SuiteName).
const KEMX25519 = "X25519-HKDF-SHA256/AES-128-GCM"

// kemKeySize maps each known recipient KEM to the length of its public keys.
var kemKeySize = map[string]int{KEMX25519: 32}

// StoreWalrus is JobSpec.Store for a job whose blobs are on the Walrus
// network (package blob/walrus).
const StoreWalrus = "walrus"

// MaxCohort bounds JobSpec.CohortSize, MinParticipants and the training
// epochs and batch size.
const MaxCohort = 1 << 30

// JobError reports a JobSpec field that fails validation. Its text is
// "ledger: job: FIELD: PROBLEM", FIELD named as in the job file.
type JobError struct {
	Field string // e.g. "quorum", "train.lr", "recipients[1].public_key"
	Msg   string
}

func (e *JobError) Error() string { return "ledger: job: " + e.Field + ": " + e.Msg }

func jobErr(field, format string, args ...any) error {
	return &JobError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate reports the first field of j that no coordinator, participant or
// auditor can work with, as a *JobError. It does not modify j. The checks:
// version is Version; name, coordinator, arch and aggregation are not empty
// (the aggregation rule's parameters are checked by package job, which knows
// the rules); privacy is "sealed", with at least one recipient, each with a
// non-empty unique name, a known KEM and a public key of that KEM's length,
// or "plain", with none; store is empty (floe's own committee), with a
// committee of non-empty, distinct entries, or StoreWalrus, with no
// committee; 1 <= cohort size <= MaxCohort; 1 <= quorum <= cohort size;
// 1 <= min participants <= MaxCohort; deadline and rounds are at least 1;
// an update lifetime is 0 (forever) or at least the deadline; train epochs
// and batch size are in [1, MaxCohort]; lr is a canonical decimal > 0; mu,
// weight decay and norm bound are empty or canonical decimals >= 0; clip
// needs a norm bound. It does not check InitialModel, which the coordinator
// fills in when it stores the initial model.
func (j *JobSpec) Validate() error {
	switch {
	case j.Version != Version:
		return jobErr("version", "%d, want %d", j.Version, Version)
	case j.Name == "":
		return jobErr("name", "empty")
	case j.Coordinator == "":
		return jobErr("coordinator", "empty")
	case j.Arch == "":
		return jobErr("model", "empty")
	case j.Aggregation == "":
		return jobErr("aggregation", "empty")
	}
	if err := j.Train.validate(); err != nil {
		return err
	}
	if err := j.validateRecipients(); err != nil {
		return err
	}
	switch j.Store {
	case "":
		if len(j.Committee) == 0 {
			return jobErr("committee", "empty")
		}
	case StoreWalrus:
		if len(j.Committee) != 0 {
			return jobErr("committee", "%d members in a job whose blobs are on Walrus, want none", len(j.Committee))
		}
	default:
		return jobErr("store", "%q, want empty (floe's own committee) or %q", j.Store, StoreWalrus)
	}
	seen := make(map[string]bool, len(j.Committee))
	for i, m := range j.Committee {
		switch {
		case m == "":
			return jobErr(fmt.Sprintf("committee[%d]", i), "empty")
		case seen[m]:
			return jobErr(fmt.Sprintf("committee[%d]", i), "%q repeated", m)
		}
		seen[m] = true
	}
	switch {
	case j.CohortSize < 1 || j.CohortSize > MaxCohort:
		return jobErr("cohort_size", "%d, want 1 to %d", j.CohortSize, MaxCohort)
	case j.Quorum < 1 || j.Quorum > j.CohortSize:
		return jobErr("quorum", "%d, want 1 to the cohort size %d", j.Quorum, j.CohortSize)
	case j.MinParticipants < 1 || j.MinParticipants > MaxCohort:
		return jobErr("min_participants", "%d, want 1 to %d", j.MinParticipants, MaxCohort)
	case j.DeadlineMillis < 1:
		return jobErr("deadline", "0ms, want at least 1ms")
	case j.Rounds < 1:
		return jobErr("rounds", "0, want at least 1")
	case j.UpdateLifetimeMillis != 0 && j.UpdateLifetimeMillis < j.DeadlineMillis:
		return jobErr("update_lifetime", "%dms is shorter than the deadline %dms: updates could vanish before their round closes", j.UpdateLifetimeMillis, j.DeadlineMillis)
	}
	bound, err := nonNegative("norm_bound", j.NormBound)
	if err != nil {
		return err
	}
	if j.Clip && bound.IsZero() {
		return jobErr("clip", "needs a norm_bound > 0")
	}
	if err := j.validateAdmission(); err != nil {
		return err
	}
	if err := j.validateSecAgg(); err != nil {
		return err
	}
	if worst := j.MaxCommitmentSize(); worst > MaxRecordSize {
		return jobErr("cohort_size", "a round's commitment could reach %d bytes, above the %d-byte record limit every reader enforces: lower cohort_size or max_registrations (committee of %d)", worst, MaxRecordSize, len(j.Committee))
	}
	return nil
}

// Admission and size bounds.
const (
	// DefaultMaxRegistrations caps registrations when a job sets no cap.
	DefaultMaxRegistrations = 10_000
	// MaxProtocolExamples bounds the examples any submission may claim, so
	// a round's example total cannot overflow (2^32 each, at most 2^30
	// members).
	MaxProtocolExamples = 1 << 32
	// MaxRejectsRecorded bounds the rejected submissions a commitment
	// records; further ones are only counted (DroppedRejects).
	MaxRejectsRecorded = 256
	// MaxPeerIDLen bounds a recorded participant name: Ed25519 peer IDs are
	// 52 characters; a longer claimed name is kept to its first
	// MaxPeerIDLen+1 bytes.
	MaxPeerIDLen = 64
	// SignatureSize is an Ed25519 signature's length; a longer claimed
	// signature is kept to its first SignatureSize+1 bytes.
	SignatureSize = 64
	// MaxSubmissionBytes bounds the encoded signed part of a submission
	// (Submission): a longer one is refused as oversized and recorded
	// without its bytes.
	MaxSubmissionBytes = 1024
	// MaxSubmissionMetrics and MaxMetricText bound a submission's metrics.
	MaxSubmissionMetrics = 8
	MaxMetricText        = 24
)

// UpdateBytesBound returns the most bytes an update blob of a job whose
// initial model file has modelBytes bytes can need: the model's layout
// again, 64 KiB of room for the file's metadata, and, in a sealed job, the
// envelope with one wrapped key per recipient.
func (j *JobSpec) UpdateBytesBound(modelBytes int) uint64 {
	n := uint64(modelBytes) + 64<<10
	if j.Privacy == "sealed" {
		n += 1024
		for _, r := range j.Recipients {
			n += 256 + uint64(len(r.Name))
		}
	}
	return n
}

// Registrations returns the cap on registered peers.
func (j *JobSpec) Registrations() uint64 {
	if j.MaxRegistrations == 0 {
		return DefaultMaxRegistrations
	}
	return j.MaxRegistrations
}

// ExamplesBound returns the most examples one participant may claim.
func (j *JobSpec) ExamplesBound() uint64 {
	if j.MaxExamples == 0 || j.MaxExamples > MaxProtocolExamples {
		return MaxProtocolExamples
	}
	return j.MaxExamples
}

// MaxCertificateSize bounds the CBOR of a valid availability certificate on
// a committee of n: the blob ID, the lifetime and at most n acks of an index
// and a 64-byte signature. A longer claimed certificate cannot be valid and
// is kept to its first MaxCertificateSize(n)+1 bytes.
func MaxCertificateSize(n int) int { return 64 + 80*n }

// MaxSubmissionRecordSize bounds the CBOR of one submission record on a
// committee of n, once its claimed fields are kept to their bounds.
func MaxSubmissionRecordSize(n int) int {
	return 64 + MaxSubmissionBytes + (SignatureSize + 1) + MaxCertificateSize(n) + 1
}

// MaxCommitmentSize bounds the encoded size of any commitment of j: its
// candidates (at most Registrations), its submission records (the cohort's
// plus at most MaxRejectsRecorded rejections) and the fixed fields.
func (j *JobSpec) MaxCommitmentSize() int {
	n := len(j.Committee)
	cands := min(j.Registrations(), MaxCohort)
	cohort := min(j.CohortSize, cands)
	size := 4096 + int(cands)*(MaxPeerIDLen+4) + int(cohort)*(MaxPeerIDLen+4) +
		(int(cohort)+MaxRejectsRecorded)*MaxSubmissionRecordSize(n) + len(j.Aggregation)
	if j.Privacy == PrivacySecAgg {
		size += int(cohort) * MaxSecAggMemberBytes(int(cohort))
	}
	return size
}

// MaxSecAggMemberBytes bounds what one member of a secagg cohort of n adds
// to the commitment's SecAggRecord: its key advert, share header, survivor
// signature, the share commitments (at most one point per neighbour, plus
// one), reveal (one 42-byte share per neighbour of the round's graph, see
// secagg.Degree), an
// exclusion per step and two recovered secrets, each with its peer ID and
// signature.
func MaxSecAggMemberBytes(n int) int {
	const peer, sig, rec = MaxPeerIDLen + 4, SignatureSize + 4, 48
	return 5*(peer+sig+rec) + 2*(32+4) + secaggDegree(n)*(secaggRevealedShareSize+2) + 5*(peer+64) + 2*(peer+40) +
		2*(secaggDegree(n)+1)*(secagg.PointSize+2)
}

func (j *JobSpec) validateAdmission() error {
	for i, p := range j.AllowList {
		if _, err := ParsePeerID(p); err != nil {
			return jobErr(fmt.Sprintf("admission.allow[%d]", i), "%q is not an Ed25519 peer ID", p)
		}
		if i > 0 && j.AllowList[i-1] >= p {
			return jobErr("admission.allow", "not sorted and distinct at %d", i)
		}
	}
	if len(j.AllowList) > 0 && uint64(len(j.AllowList)) < j.MinParticipants {
		return jobErr("admission.allow", "%d peers, fewer than min_participants %d", len(j.AllowList), j.MinParticipants)
	}
	if j.MaxRegistrations != 0 && j.MaxRegistrations < j.MinParticipants {
		return jobErr("admission.max_registrations", "%d, fewer than min_participants %d", j.MaxRegistrations, j.MinParticipants)
	}
	if j.MaxExamples > MaxProtocolExamples {
		return jobErr("admission.max_examples", "%d, want at most %d", j.MaxExamples, uint64(MaxProtocolExamples))
	}
	return nil
}

func (t *TrainParams) validate() error {
	switch {
	case t.Epochs < 1 || t.Epochs > MaxCohort:
		return jobErr("train.epochs", "%d, want 1 to %d", t.Epochs, MaxCohort)
	case t.BatchSize < 1 || t.BatchSize > MaxCohort:
		return jobErr("train.batch_size", "%d, want 1 to %d", t.BatchSize, MaxCohort)
	}
	lr, err := decimal.Parse(t.LR)
	if err != nil {
		return jobErr("train.lr", "%v", err)
	}
	if lr.Sign() <= 0 {
		return jobErr("train.lr", "%s, want > 0", lr)
	}
	if _, err := nonNegative("train.mu", t.Mu); err != nil {
		return err
	}
	_, err = nonNegative("train.weight_decay", t.WeightDecay)
	return err
}

// nonNegative parses an optional decimal field ("" is 0) that must be >= 0.
func nonNegative(field, s string) (decimal.Decimal, error) {
	d, err := decimal.ParseOptional(s)
	if err != nil {
		return d, jobErr(field, "%v", err)
	}
	if d.Sign() < 0 {
		return d, jobErr(field, "%s, want >= 0", d)
	}
	return d, nil
}

func (j *JobSpec) validateRecipients() error {
	switch j.Privacy {
	case "plain":
		if len(j.Recipients) != 0 {
			return jobErr("recipients", "%d recipients in a plain job, want none", len(j.Recipients))
		}
		return nil
	case PrivacySecAgg:
		return nil // validateSecAgg
	case "sealed":
	default:
		return jobErr("privacy", "%q, want sealed, secagg or plain", j.Privacy)
	}
	if len(j.Recipients) == 0 {
		return jobErr("recipients", "a sealed job needs at least one")
	}
	seen := make(map[string]bool, len(j.Recipients))
	for i, r := range j.Recipients {
		field := fmt.Sprintf("recipients[%d]", i)
		switch {
		case r.Name == "":
			return jobErr(field+".name", "empty")
		case seen[r.Name]:
			return jobErr(field+".name", "%q repeated", r.Name)
		}
		seen[r.Name] = true
		n, ok := kemKeySize[r.KEM]
		if !ok {
			return jobErr(field+".kem", "%q (recipient %q), want one of %s", r.KEM, r.Name, knownKEMs())
		}
		if len(r.PublicKey) != n {
			return jobErr(field+".public_key", "%d bytes (recipient %q), want %d for %s", len(r.PublicKey), r.Name, n, r.KEM)
		}
	}
	return nil
}

func knownKEMs() string {
	ks := make([]string, 0, len(kemKeySize))
	for k := range kemKeySize {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
