package audit

import (
	"bytes"
	"fmt"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round"
)

// A secagg round is replayed through the same machine, with no key of the
// auditor's: after the round opens, each step's exclusions (the
// coordinator's word) and its recorded messages (each signed by its
// sender) are applied in the order the protocol runs, and the step is
// ended as the coordinator ended it:
//
//	keys       exclusions, every key advert, end of step
//	shares     exclusions, every share header (the record keeps no
//	           envelopes: the machine checks a stripped batch by its
//	           signed count), end of step
//	masked     exclusions, the receipts (the masked inputs), end of step
//	survivors  exclusions, every signature on the survivor set, end of step
//	reveal     exclusions, every reveal; then the round closes
//
// A recorded message the rules refuse means the chain lies. The fold then
// recovers the secrets from the replayed reveals and unmasks the sum, and
// the commitment the machine builds, SecAggRecord included, must be the
// record. When each step ended is the coordinator's word: a submission
// refused as not expected at its step, or late, is checked only for what
// does not depend on the step (round.Machine.ApplyTimed).

// secaggFailPrefix starts the reason of a secagg round that failed in the
// protocol (a step short of members, secrets that cannot be recovered, a
// masked input that cannot be unmasked): the replay recomputes it.
const secaggFailPrefix = "secagg: "

var saSteps = [...]round.SAStep{round.SAKeys, round.SAShares, round.SAMasked, round.SASurvivors, round.SAReveal}

func (x *roundCtx) secagg() bool { return x.s.Job.Privacy == ledger.PrivacySecAgg }

// saOpen reports whether the machine has an open secagg round.
func (x *roundCtx) saOpen() bool {
	_, _, ok := x.m.SecAggStep()
	return ok
}

// saBefore checks that the record has its secagg part exactly in secagg
// jobs and, for a secagg round, replays the keys and shares steps and the
// masked step's exclusions: what comes before the receipts.
func (x *roundCtx) saBefore() error {
	c, r := x.c, x.r
	if !x.secagg() {
		if c.SecAgg != nil {
			return fail(r, CheckSecAgg, fmt.Sprintf("a secagg record in a round of a %q job", x.s.Job.Privacy))
		}
		return nil
	}
	if c.SecAgg == nil {
		return fail(r, CheckSecAgg, "a round of a secagg job without its secagg record")
	}
	for _, e := range c.SecAgg.Excluded {
		if stepNamed(e.Step) == round.SANone {
			return fail(r, CheckSecAgg, fmt.Sprintf("%s excluded at an unknown step %q", e.Participant, e.Step))
		}
	}
	for _, st := range saSteps[:2] {
		if err := x.saStep(st); err != nil {
			return err
		}
		if err := x.saEnd(st); err != nil {
			return err
		}
	}
	return x.saStep(round.SAMasked)
}

// saAfter ends the masked step (after the receipts) and replays the
// survivors and reveal steps.
func (x *roundCtx) saAfter() error {
	if !x.secagg() {
		return nil
	}
	if err := x.saEnd(round.SAMasked); err != nil {
		return err
	}
	for _, st := range saSteps[3:] {
		if err := x.saStep(st); err != nil {
			return err
		}
		if err := x.saEnd(st); err != nil {
			return err
		}
	}
	if n := len(x.c.SecAgg.Excluded); n > 0 {
		x.note("%d secagg exclusions: that a member's message was refused is the coordinator's word (a refused message is not kept)", n)
	}
	return nil
}

func stepNamed(name string) round.SAStep {
	for _, st := range saSteps {
		if st.String() == name {
			return st
		}
	}
	return round.SANone
}

// saMessages returns the recorded messages of step st as machine events.
// The masked step's messages are the receipts.
func (x *roundCtx) saMessages(st round.SAStep) []round.Event {
	sa, r := x.c.SecAgg, x.r
	var evs []round.Event
	switch st {
	case round.SAKeys:
		for i := range sa.Keys {
			evs = append(evs, round.Event{Kind: round.EvKeys, Peer: sa.Keys[i].Adv.Participant, Keys: &sa.Keys[i]})
		}
	case round.SAShares:
		for i := range sa.Shares {
			evs = append(evs, round.Event{Kind: round.EvShares, Peer: sa.Shares[i].Hdr.Participant, Shares: &sa.Shares[i]})
		}
	case round.SASurvivors:
		for _, s := range sa.Signatures {
			evs = append(evs, round.Event{Kind: round.EvSurvivorSig, Peer: s.Participant, Round: r, Sig: s.Sig})
		}
	case round.SAReveal:
		for i := range sa.Reveals {
			evs = append(evs, round.Event{Kind: round.EvReveal, Peer: sa.Reveals[i].Rev.Participant, Reveal: &sa.Reveals[i]})
		}
	}
	return evs
}

// saStep replays step st of the open secagg round: the coordinator's
// exclusions at it, then its recorded messages, each of which the rules
// must take. Once the round failed, nothing may be recorded for a later
// step.
func (x *roundCtx) saStep(st round.SAStep) error {
	r := x.r
	var excl []ledger.SecAggExclusion
	for _, e := range x.c.SecAgg.Excluded {
		if e.Step == st.String() {
			excl = append(excl, e)
		}
	}
	evs := x.saMessages(st)
	at, why, ok := x.m.SecAggStep()
	switch {
	case !ok:
		return fail(r, CheckSecAgg, fmt.Sprintf("no secagg round is open at the %s step", st))
	case why != "":
		if len(excl) > 0 {
			return fail(r, CheckSecAgg, fmt.Sprintf("%s excluded at the %s step, after the round failed (%s)", excl[0].Participant, st, why))
		}
		if len(evs) > 0 {
			return fail(r, CheckSecAgg, fmt.Sprintf("a %s message of %s recorded after the round failed (%s)", st, evs[0].Peer, why))
		}
		return nil
	case at != st:
		return failEv(r, CheckSecAgg, "the replay's secagg step", text(st.String()), text(at.String()))
	}
	for _, e := range excl {
		p := e.Participant
		switch {
		case e.Reason != ledger.ReasonSecAggMessage && e.Reason != ledger.ReasonBadSig:
			return fail(r, CheckSecAgg, fmt.Sprintf("%s excluded at the %s step for %q, which is not a reason the rules exclude for", p, st, e.Reason))
		case !x.m.SecAggAwaits(p):
			return fail(r, CheckSecAgg, fmt.Sprintf("%s excluded at the %s step, where the rules do not wait for it (not expected there, or it answered or was excluded before)", p, st))
		}
		if _, err := x.m.Apply(round.Event{Kind: round.EvExclude, Peer: p, Round: r, Step: e.Step, Reason: e.Reason}); err != nil {
			return fail(r, CheckSecAgg, fmt.Sprintf("the exclusion of %s at the %s step cannot be replayed: %v", p, st, err))
		}
	}
	for _, ev := range evs {
		got, err := x.m.Apply(ev)
		if err != nil {
			return fail(r, CheckSecAgg, fmt.Sprintf("the %s message of %q cannot be replayed: %v", st, ev.Peer, err))
		}
		if got != "" {
			return fail(r, CheckSecAgg, fmt.Sprintf("the recorded %s message of %s: the rules refuse it as %q", st, ev.Peer, got))
		}
	}
	return nil
}

// saEnd ends step st of the open secagg round, unless the round failed
// (it then closes) or st is the reveal step (the close ends it).
func (x *roundCtx) saEnd(st round.SAStep) error {
	if _, why, ok := x.m.SecAggStep(); !ok || why != "" || st == round.SAReveal {
		return nil
	}
	if _, err := x.m.Apply(round.Event{Kind: round.EvStep, Round: x.r}); err != nil {
		return fail(x.r, CheckSecAgg, fmt.Sprintf("the %s step cannot end by the rules: %v", st, err))
	}
	return nil
}

// saTask returns the secagg part of the fold the replayed machine asks
// for: the record it rebuilt from the signed messages, not the record's.
func (x *roundCtx) saTask() *round.SecAggTask {
	if !x.secagg() {
		return nil
	}
	if t := x.m.Ready().Fold; t != nil {
		return t.SecAgg
	}
	return nil
}

// compareSecAgg compares the secagg record the rules give for the
// replayed round (with the secrets the auditor's fold recovered) with the
// commitment's, part by part, naming the first entry that differs.
func compareSecAgg(r uint64, want, got *ledger.SecAggRecord) error {
	if want == nil || got == nil {
		if want != got {
			return failEv(r, CheckSecAgg, "the secagg record's presence is not what the rules give", text(fmt.Sprint(want != nil)), text(fmt.Sprint(got != nil)))
		}
		return nil
	}
	if err := sameEntries(r, "key adverts", want.Keys, got.Keys, func(k *ledger.SignedKeys) string { return k.Adv.Participant }); err != nil {
		return err
	}
	if err := sameEntries(r, "share headers", want.Shares, got.Shares, func(s *ledger.SignedShares) string { return s.Hdr.Participant }); err != nil {
		return err
	}
	if err := sameEntries(r, "survivor set", want.Survivors, got.Survivors, func(s *string) string { return *s }); err != nil {
		return err
	}
	if err := sameEntries(r, "survivor signatures", want.Signatures, got.Signatures, func(s *ledger.SurvivorSig) string { return s.Participant }); err != nil {
		return err
	}
	if err := sameEntries(r, "reveals", want.Reveals, got.Reveals, func(s *ledger.SignedReveal) string { return s.Rev.Participant }); err != nil {
		return err
	}
	if err := sameEntries(r, "exclusions", want.Excluded, got.Excluded, func(e *ledger.SecAggExclusion) string { return e.Participant + " at " + e.Step }); err != nil {
		return err
	}
	return sameEntries(r, "recovered secrets", want.Secrets, got.Secrets, func(s *ledger.RecoveredSecret) string {
		return fmt.Sprintf("%s (kind %d)", s.Participant, s.Kind)
	})
}

// sameEntries compares two lists of a secagg record by their encodings.
func sameEntries[T any](r uint64, what string, want, got []T, who func(*T) string) error {
	for i := range max(len(want), len(got)) {
		switch {
		case i >= len(got):
			return failEv(r, CheckSecAgg, fmt.Sprintf("the record's %s lack the entry of %s that the rules give", what, who(&want[i])), text(fmt.Sprint(len(want))), text(fmt.Sprint(len(got))))
		case i >= len(want):
			return failEv(r, CheckSecAgg, fmt.Sprintf("the record's %s have an entry of %s that the rules do not give", what, who(&got[i])), text(fmt.Sprint(len(want))), text(fmt.Sprint(len(got))))
		}
		a, errA := ledger.Marshal(want[i])
		b, errB := ledger.Marshal(got[i])
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			show := func(who string, enc []byte) text {
				return text(fmt.Sprintf("%s, encoding %.12s", who, ledger.Sum(enc)))
			}
			return failEv(r, CheckSecAgg, fmt.Sprintf("%s entry %d is not what the rules give", what, i), show(who(&want[i]), a), show(who(&got[i]), b))
		}
	}
	return nil
}
