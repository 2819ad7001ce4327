package ledger

// Status is the fate of a submission (accepted, rejected) or of a round (ok,
// failed), as a commitment records it. Published text: never change it.
type Status string

// Statuses.
const (
	StatusAccepted Status = "accepted"
	StatusRejected Status = "rejected"
	StatusOK       Status = "ok"
	StatusFailed   Status = "failed"
)

// Reason says why a submission was rejected. Published text: never change it.
type Reason string

// Stage is where a rejection reason is decided.
type Stage uint8

const (
	// StageStream: from the stream alone (undecodable, oversized, sent by
	// another peer than the signer). The record cannot show why: the
	// coordinator's word.
	StageStream Stage = iota + 1
	// StageReceipt: when the submission arrives, from the record and the
	// round's state; an auditor replays it.
	StageReceipt
	// StageFold: when the round closes, from the update's bytes; an auditor
	// replays it by running the fold.
	StageFold
	// StageRegistration: a registration refused (admission); never in a
	// commitment.
	StageRegistration
)

// Rejection reasons.
const (
	ReasonMalformed   Reason = "malformed"
	ReasonOversized   Reason = "oversized"
	ReasonSender      Reason = "sender is not the participant"
	ReasonBadSig      Reason = "bad signature"
	ReasonWrongJob    Reason = "wrong job"
	ReasonReplayed    Reason = "replayed: earlier round"
	ReasonFuture      Reason = "round not open"
	ReasonLate        Reason = "late: round closed"
	ReasonDuplicate   Reason = "duplicate"
	ReasonNotInCohort Reason = "not in cohort"
	ReasonBadCert     Reason = "bad certificate"
	ReasonNoExamples  Reason = "no examples"
	ReasonExamples    Reason = "example count above limit"
	ReasonBlobMissing Reason = "update blob unavailable"
	ReasonBadUpdate   Reason = "update does not open or decode"
	ReasonHash        Reason = "update hash mismatch"
	ReasonShape       Reason = "wrong shape"
	ReasonNonFinite   Reason = "non-finite values"
	ReasonNorm        Reason = "norm above bound"
	// ReasonUpdateSize: the declared update size is 0 or above the job's
	// MaxUpdateBytes (receipt). ReasonSizeMismatch: the stored blob is not
	// the declared size (fold; a longer one is refused unread).
	ReasonUpdateSize Reason = "update size outside the job's bound"
	// ReasonMetrics: the submission's metrics are beyond their bounds or
	// not canonical (receipt).
	ReasonMetrics      Reason = "malformed metrics"
	ReasonSizeMismatch Reason = "update size mismatch"
	// Secure aggregation (receipt): a message for another step than the
	// round's, or from a member not expected at it; a message that does not
	// follow the protocol (wrong count, order, kind or form); a member
	// refused earlier in the round.
	ReasonSecAggStep     Reason = "not expected at this secagg step"
	ReasonSecAggMessage  Reason = "malformed secagg message"
	ReasonSecAggExcluded Reason = "excluded earlier in the round"
	// ReasonMaskedInput: a secagg masked input that the coordinator could
	// not fetch at receipt, or whose bytes are not the signed ones (its
	// masks could not be removed later without revealing both its
	// secrets, so it is refused before it counts): the coordinator's word.
	ReasonMaskedInput Reason = "masked input unavailable or not as signed"
	// Registration refusals.
	ReasonNotAdmitted       Reason = "not admitted"
	ReasonRegistrationsFull Reason = "registrations full"
)

// Reasons lists every rejection reason.
var Reasons = []Reason{
	ReasonMalformed, ReasonOversized, ReasonSender, ReasonBadSig, ReasonWrongJob, ReasonReplayed,
	ReasonFuture, ReasonLate, ReasonDuplicate, ReasonNotInCohort, ReasonBadCert, ReasonNoExamples,
	ReasonExamples, ReasonBlobMissing, ReasonBadUpdate, ReasonHash, ReasonShape, ReasonNonFinite, ReasonNorm,
	ReasonUpdateSize, ReasonSizeMismatch, ReasonMetrics,
	ReasonSecAggStep, ReasonSecAggMessage, ReasonSecAggExcluded, ReasonMaskedInput,
}

// Stage reports where r is decided; 0 for a reason floe does not give.
func (r Reason) Stage() Stage {
	switch r {
	case ReasonMalformed, ReasonOversized, ReasonSender, ReasonMaskedInput:
		return StageStream
	case ReasonBadSig, ReasonWrongJob, ReasonReplayed, ReasonFuture, ReasonLate, ReasonDuplicate,
		ReasonNotInCohort, ReasonBadCert, ReasonNoExamples, ReasonExamples, ReasonUpdateSize, ReasonMetrics,
		ReasonSecAggStep, ReasonSecAggMessage, ReasonSecAggExcluded:
		return StageReceipt
	case ReasonBlobMissing, ReasonBadUpdate, ReasonHash, ReasonShape, ReasonNonFinite, ReasonNorm, ReasonSizeMismatch:
		return StageFold
	case ReasonNotAdmitted, ReasonRegistrationsFull:
		return StageRegistration
	}
	return 0
}

// SeenByFold reports whether a submission record is one the round's fold
// saw: accepted, or rejected by the fold.
func (r *SubmissionRecord) SeenByFold() bool {
	return r.Status == StatusAccepted || (r.Status == StatusRejected && r.Reason.Stage() == StageFold)
}
