package round

import (
	"fmt"

	"github.com/floe-fl/floe/ledger"
)

// An auditor replays a secagg round from its commitment, which keeps every
// accepted protocol message but not when each step ended. These let it ask
// the machine where the round stands, and record the receipts whose
// verdict depends on that timing.

// SecAggStep returns the open secagg round's step and why the round
// already failed ("" if it did not); ok is false outside an open secagg
// round.
func (m *Machine) SecAggStep() (step SAStep, fail string, ok bool) {
	if m.sa == nil || m.phase != PhaseCollecting {
		return SANone, "", false
	}
	return m.sa.step, m.sa.fail, true
}

// SecAggAwaits reports whether peer is expected at the open secagg round's
// step and has neither answered at it nor been excluded: the only members
// whose refused message the machine turns into an exclusion.
func (m *Machine) SecAggAwaits(peer string) bool {
	if _, _, ok := m.SecAggStep(); !ok {
		return false
	}
	return m.saMember(peer) && !m.answered(peer)
}

// ApplyTimed applies ev, a submission to the open secagg round that the
// coordinator rejected with reason ReasonSecAggStep or ReasonLate: verdicts
// that depend on the step at which it arrived, which a commitment does not
// keep. When the checks made before the step's (sender, signature, job,
// round, duplicate, cohort) pass, the rejection is recorded with reason,
// the coordinator's word, and reason is returned; otherwise ev is applied
// as Apply does and the machine's verdict is returned. The state never
// takes the submission as accepted.
func (m *Machine) ApplyTimed(ev Event, reason ledger.Reason) (ledger.Reason, error) {
	if ev.Kind != EvSubmit || (reason != ledger.ReasonSecAggStep && reason != ledger.ReasonLate) {
		return "", fmt.Errorf("round: %s event timed as %q: only submissions refused as %q or %q are", ev.Kind, reason, ledger.ReasonSecAggStep, ledger.ReasonLate)
	}
	if _, _, ok := m.SecAggStep(); !ok {
		return "", fmt.Errorf("round: no open secagg round to time a submission in")
	}
	if err := m.validate(&ev); err != nil {
		return "", err
	}
	switch m.Check(ev.Peer, ev.Sub) {
	case ledger.ReasonSender, ledger.ReasonBadSig, ledger.ReasonWrongJob, ledger.ReasonReplayed,
		ledger.ReasonFuture, ledger.ReasonDuplicate, ledger.ReasonNotInCohort:
		return m.apply(&ev), nil
	}
	m.record(ledger.SubmissionRecord{Signed: *ev.Sub, Status: ledger.StatusRejected, Reason: reason})
	return reason, nil
}
