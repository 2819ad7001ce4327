package round

import (
	"fmt"
	"maps"
	"slices"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/secagg"
)

// SAStep is where an open secagg round stands. A round of a secagg job
// runs Bonawitz et al.'s steps, each closed when every member expected at
// it answered (or was excluded) or its deadline passed:
//
//	keys        cohort members advertise two X25519 public keys (U1)
//	shares      U1 members send Shamir shares of both their secrets, in
//	            envelopes for their neighbours, which the coordinator relays (U2)
//	masked      U2 members train and submit masked inputs as blobs (U3)
//	survivors   U3 members sign the survivor set U3 (U4)
//	reveal      U4 members, once they see enough signatures on the same
//	            U3, reveal the self-mask shares of U3 and the mask-key
//	            shares of U2 \ U3; then the round closes and the fold
//	            recovers the secrets and unmasks the sum.
//
// The keys, shares, survivors and reveal steps last at most the job's
// SecAgg.StepMillis each; the masked step ends at the round's deadline.
// A step that leaves fewer members than the round needs (SecAggMin), or a
// survivor set some of whose secrets could not be recovered from the
// signers, fails the round before anyone reveals a share.
type SAStep uint8

// Secagg steps.
const (
	SANone SAStep = iota
	SAKeys
	SAShares
	SAMasked
	SASurvivors
	SAReveal
)

var saStepNames = [...]string{"none", "keys", "shares", "masked", "survivors", "reveal"}

func (s SAStep) String() string {
	if int(s) < len(saStepNames) {
		return saStepNames[s]
	}
	return "unknown"
}

// SecAggDomain separates the keys of one round of one job.
func SecAggDomain(job ledger.Hash, round uint64) secagg.Domain {
	return secagg.Domain{Job: job[:], Round: round}
}

// SecAggGraph draws a round's neighbour graph over its cohort of n (by
// sorted position) from the round's public cohort seed, as everyone
// (members, coordinator, auditor) does.
func SecAggGraph(job ledger.Hash, round uint64, seed ledger.Hash, n int) (*secagg.Graph, error) {
	return secagg.NewGraph(SecAggDomain(job, round), seed, n, secagg.Degree(n, secagg.DegreeFactor))
}

// SecAggMin is the fewest members each step of a secagg round must keep:
// the quorum, and never fewer than ledger.MinSecAggCohort (a sum of two
// tells each the other's update).
func SecAggMin(job *ledger.JobSpec) int {
	return int(max(Quorum(job), ledger.MinSecAggCohort))
}

type saRound struct {
	step     SAStep
	deadline uint64
	graph    *secagg.Graph
	index    map[string]int
	keys     map[string]ledger.SignedKeys
	shares   map[string]ledger.SignedShares
	sigs     map[string][]byte
	reveals  map[string]ledger.SignedReveal
	// u1..u4: the members that advertised keys, shared, submitted a
	// masked input and signed the survivor set, sorted (cohort order),
	// fixed as each step ends.
	u1, u2, u3, u4 []string
	excluded       []ledger.SecAggExclusion
	out            map[string]bool // excluded members
	fail           string          // why the round fails before unmasking
}

func (m *Machine) secagg() bool { return m.job.Privacy == ledger.PrivacySecAgg }

// startSA sets up the secagg state of the round just opened.
func (m *Machine) startSA(now uint64) {
	sa := &saRound{step: SAKeys, deadline: now + m.job.SecAgg.StepMillis,
		index: map[string]int{}, keys: map[string]ledger.SignedKeys{}, shares: map[string]ledger.SignedShares{},
		sigs: map[string][]byte{}, reveals: map[string]ledger.SignedReveal{}, out: map[string]bool{}}
	m.sa = sa
	for i, p := range m.cohort {
		sa.index[p] = i
	}
	if len(m.cohort) < SecAggMin(m.job) {
		sa.fail = fmt.Sprintf("secagg: cohort of %d, need at least %d", len(m.cohort), SecAggMin(m.job))
		return
	}
	g, err := SecAggGraph(m.jobID, m.round, m.seed, len(m.cohort))
	if err != nil {
		sa.fail = "secagg: " + err.Error()
		return
	}
	sa.graph = g
}

// holders returns the members that hold shares of member i's secrets: its
// neighbours that advertised keys, ascending.
func (sa *saRound) holders(cohort []string, i int) []int {
	var out []int
	for _, j := range sa.graph.Neighbours(i) {
		if _, ok := sa.keys[cohort[j]]; ok {
			out = append(out, j)
		}
	}
	return out
}

// expected returns the members the current step waits for.
func (m *Machine) expected() []string {
	sa := m.sa
	switch sa.step {
	case SAKeys:
		return m.cohort
	case SAShares:
		return sa.u1
	case SAMasked:
		return sa.u2
	case SASurvivors:
		return sa.u3
	case SAReveal:
		return sa.u4
	}
	return nil
}

// answered reports whether peer acted at the current step.
func (m *Machine) answered(peer string) bool {
	sa := m.sa
	var ok bool
	switch sa.step {
	case SAKeys:
		_, ok = sa.keys[peer]
	case SAShares:
		_, ok = sa.shares[peer]
	case SAMasked:
		_, ok = m.accepted[peer]
	case SASurvivors:
		_, ok = sa.sigs[peer]
	case SAReveal:
		_, ok = sa.reveals[peer]
	}
	return ok || sa.out[peer]
}

// stepDone reports whether the current step may end now.
func (m *Machine) stepDone(now uint64) bool {
	if now >= m.sa.deadline {
		return true
	}
	for _, p := range m.expected() {
		if !m.answered(p) {
			return false
		}
	}
	return true
}

// saMember reports whether peer is expected at the current step.
func (m *Machine) saMember(peer string) bool {
	_, ok := slices.BinarySearch(m.expected(), peer)
	return ok
}

// endStep ends the current step at now (EvStep).
func (m *Machine) endStep(now uint64) {
	sa := m.sa
	need := SecAggMin(m.job)
	short := func(what string, have int) bool {
		if have < need {
			sa.fail = fmt.Sprintf("secagg: %d members %s, need %d", have, what, need)
			return true
		}
		return false
	}
	next := now + m.job.SecAgg.StepMillis
	switch sa.step {
	case SAKeys:
		sa.u1 = slices.Sorted(maps.Keys(sa.keys))
		if short("advertised keys", len(sa.u1)) {
			return
		}
		sa.step, sa.deadline = SAShares, next
	case SAShares:
		sa.u2 = slices.Sorted(maps.Keys(sa.shares))
		if short("shared their keys", len(sa.u2)) {
			return
		}
		sa.step, sa.deadline = SAMasked, max(m.deadlineMillis, next)
	case SAMasked:
		sa.u3 = slices.Sorted(maps.Keys(m.accepted))
		if short("sent a masked input", len(sa.u3)) {
			return
		}
		sa.step, sa.deadline = SASurvivors, next
	case SASurvivors:
		sa.u4 = slices.Sorted(maps.Keys(sa.sigs))
		if short("signed the survivor set", len(sa.u4)) {
			return
		}
		// Every secret the unmasking needs must have enough holders
		// among the signers, or nobody reveals anything.
		for _, p := range sa.u2 {
			i := sa.index[p]
			hs := sa.holders(m.cohort, i)
			n := 0
			for _, h := range hs {
				if _, ok := sa.sigs[m.cohort[h]]; ok {
					n++
				}
			}
			if need := ledger.SecAggNeed(m.job.SecAgg.Threshold, len(hs)); n < need {
				what := "self-mask seed"
				if _, ok := slices.BinarySearch(sa.u3, p); !ok {
					what = "mask key"
				}
				sa.fail = fmt.Sprintf("secagg: the %s of %s has %d holders among the survivors, need %d", what, p, n, need)
				return
			}
		}
		sa.step, sa.deadline = SAReveal, next
	}
}

// checkSA returns why a secagg message (EvKeys, EvShares, EvSurvivorSig,
// EvReveal) from ev.Peer would be refused now, or "".
func (m *Machine) checkSA(ev *Event) ledger.Reason {
	sa := m.sa
	var want SAStep
	var job ledger.Hash
	var round uint64
	var who string
	switch ev.Kind {
	case EvKeys:
		want, job, round, who = SAKeys, ev.Keys.Adv.Job, ev.Keys.Adv.Round, ev.Keys.Adv.Participant
	case EvShares:
		want, job, round, who = SAShares, ev.Shares.Hdr.Job, ev.Shares.Hdr.Round, ev.Shares.Hdr.Participant
	case EvSurvivorSig:
		want, job, round, who = SASurvivors, m.jobID, ev.Round, ev.Peer
	case EvReveal:
		want, job, round, who = SAReveal, ev.Reveal.Rev.Job, ev.Reveal.Rev.Round, ev.Reveal.Rev.Participant
	}
	switch {
	case who != ev.Peer:
		return ledger.ReasonSender
	case job != m.jobID:
		return ledger.ReasonWrongJob
	case round < m.round:
		return ledger.ReasonReplayed
	case round > m.round:
		return ledger.ReasonFuture
	case m.phase != PhaseCollecting || sa == nil || sa.fail != "":
		return ledger.ReasonLate
	case sa.out[who]:
		return ledger.ReasonSecAggExcluded
	case sa.step != want || !m.saMember(who):
		return ledger.ReasonSecAggStep
	case m.answered(who):
		return ledger.ReasonDuplicate
	}
	var err error
	switch ev.Kind {
	case EvKeys:
		err = ev.Keys.Verify()
	case EvShares:
		err = ev.Shares.Verify()
	case EvSurvivorSig:
		err = ledger.VerifySurvivors(who, m.survivorSet(), ev.Sig)
	case EvReveal:
		err = ev.Reveal.Verify()
	}
	if err != nil {
		return ledger.ReasonBadSig
	}
	switch ev.Kind {
	case EvShares:
		if !m.validShares(who, ev.Shares) {
			return ledger.ReasonSecAggMessage
		}
	case EvReveal:
		if !m.validReveal(who, ev.Reveal) {
			return ledger.ReasonSecAggMessage
		}
	}
	return ""
}

// survivorSet is what U3 signs.
func (m *Machine) survivorSet() ledger.SurvivorSet {
	return ledger.SurvivorSet{Job: m.jobID, Round: m.round, Survivors: slices.Clone(m.sa.u3)}
}

// validShares checks a share batch: one envelope per holder (the sender's
// neighbours in U1), ascending, each from the sender to that holder.
// Envelopes are needed here (the coordinator relays them); a batch whose
// envelopes were stripped (a commitment's record) is checked by its
// signed count only.
func (m *Machine) validShares(who string, s *ledger.SignedShares) bool {
	sa := m.sa
	i := sa.index[who]
	hs := sa.holders(m.cohort, i)
	if s.Hdr.Count != uint64(len(hs)) {
		return false
	}
	// Both commitments commit to polynomials of the degree the job's
	// threshold asks for, with points that decode.
	t := ledger.SecAggNeed(m.job.SecAgg.Threshold, len(hs)) - 1
	if secagg.Commitment(s.Hdr.MaskCommit).Check(t) != nil || secagg.Commitment(s.Hdr.SelfCommit).Check(t) != nil {
		return false
	}
	if s.Envelopes == nil {
		return true
	}
	for k, env := range s.Envelopes {
		from, to, err := secagg.EnvelopeHeader(env)
		if err != nil || len(env) != secagg.EnvelopeSize || from != i || to != hs[k] {
			return false
		}
	}
	return true
}

// validReveal checks a reveal: shares held by the sender, ascending by
// owner, at most one per owner, each of the kind the owner's fate asks for
// (self mask for a survivor, mask key for a member that shared but sent no
// masked input), owners among the sender's neighbours.
func (m *Machine) validReveal(who string, r *ledger.SignedReveal) bool {
	sa := m.sa
	me := sa.index[who]
	last := -1
	for _, b := range r.Rev.Shares {
		var s secagg.RevealedShare
		if s.UnmarshalBinary(b) != nil || s.Holder != me || s.Owner <= last || s.Owner >= len(m.cohort) {
			return false
		}
		last = s.Owner
		owner := m.cohort[s.Owner]
		if _, ok := sa.shares[owner]; !ok || !sa.graph.Adjacent(me, s.Owner) {
			return false
		}
		_, survived := slices.BinarySearch(sa.u3, owner)
		if survived != (s.Kind == secagg.KindSelfMask) {
			return false
		}
	}
	return true
}

// applySA applies an accepted secagg message.
func (m *Machine) applySA(ev *Event) {
	sa := m.sa
	switch ev.Kind {
	case EvKeys:
		sa.keys[ev.Peer] = *ev.Keys
	case EvShares:
		sa.shares[ev.Peer] = *ev.Shares
	case EvSurvivorSig:
		sa.sigs[ev.Peer] = slices.Clone(ev.Sig)
	case EvReveal:
		sa.reveals[ev.Peer] = *ev.Reveal
	}
}

// exclude records that peer's message at step was refused: the member
// takes no further part in the round.
func (m *Machine) exclude(peer, step string, reason ledger.Reason) {
	sa := m.sa
	if sa == nil || sa.out[peer] {
		return
	}
	sa.out[peer] = true
	sa.excluded = append(sa.excluded, ledger.SecAggExclusion{Participant: peer, Step: step, Reason: reason})
}

// SAView is what a cohort member needs from the coordinator at the
// current step of a secagg round.
type SAView struct {
	Round     uint64                `cbor:"1,keyasint"`
	Step      SAStep                `cbor:"2,keyasint"`
	Cohort    []string              `cbor:"3,keyasint,omitempty"`
	Keys      []ledger.SignedKeys   `cbor:"4,keyasint,omitempty"` // U1's adverts, from the shares step on
	Envelopes [][]byte              `cbor:"5,keyasint,omitempty"` // for the member, from the masked step on
	Shared    []string              `cbor:"6,keyasint,omitempty"` // U2, from the masked step on
	Survivors []string              `cbor:"7,keyasint,omitempty"` // U3, from the survivors step on
	Sigs      []ledger.SurvivorSig  `cbor:"8,keyasint,omitempty"` // U4's signatures, at the reveal step
	Deadline  uint64                `cbor:"9,keyasint,omitempty"`
	Failed    string                `cbor:"10,keyasint,omitempty"` // the round fails: nothing more to do
	Seed      ledger.Hash           `cbor:"11,keyasint"`           // the cohort seed, which draws the graph
	Headers   []ledger.SignedShares `cbor:"12,keyasint,omitempty"` // U2\'s share headers (commitments), from the masked step on
}

// SecAggView returns the open secagg round's view for cohort member
// peer, and whether there is one.
func (m *Machine) SecAggView(peer string) (*SAView, bool) {
	sa := m.sa
	if sa == nil || m.phase != PhaseCollecting {
		return nil, false
	}
	i, ok := sa.index[peer]
	if !ok {
		return nil, false
	}
	v := &SAView{Round: m.round, Step: sa.step, Cohort: slices.Clone(m.cohort), Deadline: sa.deadline, Failed: sa.fail, Seed: m.seed}
	if sa.fail != "" {
		return v, true
	}
	if sa.step >= SAShares {
		for _, p := range sa.u1 {
			k := sa.keys[p]
			v.Keys = append(v.Keys, k)
		}
	}
	if sa.step >= SAMasked {
		v.Shared = slices.Clone(sa.u2)
		for _, p := range sa.u2 {
			s := sa.shares[p]
			h := s
			h.Envelopes = nil
			v.Headers = append(v.Headers, h)
			for _, env := range s.Envelopes {
				if _, to, err := secagg.EnvelopeHeader(env); err == nil && to == i {
					v.Envelopes = append(v.Envelopes, env)
				}
			}
		}
	}
	if sa.step >= SASurvivors {
		v.Survivors = slices.Clone(sa.u3)
	}
	if sa.step >= SAReveal {
		for _, p := range sa.u4 {
			v.Sigs = append(v.Sigs, ledger.SurvivorSig{Participant: p, Sig: slices.Clone(sa.sigs[p])})
		}
	}
	return v, true
}

// SecAggTask is the secagg part of a FoldTask: the round's protocol
// record (without the recovered secrets, which the fold adds) and why the
// round already failed, if it did.
type SecAggTask struct {
	Fail   string
	Cohort []string
	Seed   ledger.Hash
	Record ledger.SecAggRecord
}

// saRecord returns the round's SecAggRecord so far.
func (m *Machine) saRecord() ledger.SecAggRecord {
	sa := m.sa
	var r ledger.SecAggRecord
	for _, p := range m.cohort {
		if k, ok := sa.keys[p]; ok {
			r.Keys = append(r.Keys, k)
		}
		if s, ok := sa.shares[p]; ok {
			s.Envelopes = nil
			r.Shares = append(r.Shares, s)
		}
		if s, ok := sa.sigs[p]; ok {
			r.Signatures = append(r.Signatures, ledger.SurvivorSig{Participant: p, Sig: slices.Clone(s)})
		}
		if rv, ok := sa.reveals[p]; ok {
			r.Reveals = append(r.Reveals, rv)
		}
	}
	r.Survivors = slices.Clone(sa.u3)
	r.Excluded = slices.Clone(sa.excluded)
	return r
}

func (m *Machine) saTask() *SecAggTask {
	if m.sa == nil {
		return nil
	}
	return &SecAggTask{Fail: m.sa.fail, Cohort: slices.Clone(m.cohort), Seed: m.seed, Record: m.saRecord()}
}

// SAPending returns the open secagg round's current step, its deadline and
// the members it still waits for (sorted); ok is false when no secagg step
// is open.
func (m *Machine) SAPending() (r uint64, step SAStep, deadline uint64, pending []string, ok bool) {
	sa := m.sa
	if sa == nil || m.phase != PhaseCollecting || sa.fail != "" {
		return 0, SANone, 0, nil, false
	}
	for _, p := range m.expected() {
		if !m.answered(p) {
			pending = append(pending, p)
		}
	}
	return m.round, sa.step, sa.deadline, pending, true
}
