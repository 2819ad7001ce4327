package round

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/secagg"
)

// SAMember is a cohort member's side of one secagg round: the messages it
// sends at each step, computed from the coordinator's SAView. It is pure
// (randomness from the reader it is given) and shared by the participant
// and the simulators. Its rules protect the member's update from the
// coordinator: it checks every advert's signature, masks only with the
// members the coordinator names as sharing, reveals only after enough
// survivors signed the very set it signed, and never reveals both secrets
// of one member: the self-mask share of a survivor, the mask-key share of
// a member that dropped, decided once.
type SAMember struct {
	job    *ledger.JobSpec
	jobID  ledger.Hash
	round  uint64
	self   string
	key    ledger.Signer
	rand   io.Reader
	mask   secagg.KeyPair
	enc    secagg.KeyPair
	seed   secagg.Secret // self-mask seed
	index  int
	cohort []string
	graph  *secagg.Graph
	keys   map[int]ledger.SignedKeys // U1 adverts by cohort index
	held   map[int]secagg.Shares     // shares others gave this member, by owner
	shared []string                  // U2 as the member masked with it
	signed []string                  // U3 as the member signed it
	done   bool                      // revealed

	// Corrupt, if set, changes the shares of the mask key and of the
	// self-mask seed before they are sealed: a dishonest member, for tests.
	Corrupt func(maskKey, selfMask []secagg.ShareValue)
}

// ErrSARefuse reports a view the member refuses to act on (it would put
// its update at risk or contradict what it did before).
var ErrSARefuse = errors.New("round: secagg member refuses")

// NewSAMember draws a member's keys for round of job. rand supplies the
// secrets (crypto/rand in production).
func NewSAMember(job *ledger.JobSpec, round uint64, self string, key ledger.Signer, rand io.Reader) (*SAMember, error) {
	m := &SAMember{job: job, jobID: job.ID(), round: round, self: self, key: key, rand: rand, index: -1}
	var err error
	if m.mask, err = secagg.NewKeyPair(rand); err != nil {
		return nil, err
	}
	if m.enc, err = secagg.NewKeyPair(rand); err != nil {
		return nil, err
	}
	if m.seed, err = secagg.NewSecret(rand); err != nil {
		return nil, err
	}
	return m, nil
}

// Keys returns the member's signed key advert (the keys step).
func (m *SAMember) Keys() (*ledger.SignedKeys, error) {
	return ledger.SignKeys(m.key, ledger.KeyAdvert{Job: m.jobID, Round: m.round, Participant: m.self,
		MaskKey: slices.Clone(m.mask.Public[:]), EncKey: slices.Clone(m.enc.Public[:])})
}

// Shares returns the member's share envelopes (the shares step): both
// secrets split among its neighbours that advertised keys, each pair of
// shares sealed for its holder.
func (m *SAMember) Shares(v *SAView) (*ledger.SignedShares, error) {
	if v.Round != m.round || v.Step != SAShares {
		return nil, fmt.Errorf("%w: shares asked at step %s of round %d", ErrSARefuse, v.Step, v.Round)
	}
	m.cohort = slices.Clone(v.Cohort)
	idx, ok := slices.BinarySearch(m.cohort, m.self)
	if !ok || !slices.IsSorted(m.cohort) {
		return nil, fmt.Errorf("%w: not in the round's cohort", ErrSARefuse)
	}
	m.index = idx
	m.keys = map[int]ledger.SignedKeys{}
	for _, k := range v.Keys {
		i, ok := slices.BinarySearch(m.cohort, k.Adv.Participant)
		if !ok || k.Adv.Job != m.jobID || k.Adv.Round != m.round || k.Verify() != nil {
			return nil, fmt.Errorf("%w: an advert for %s is not valid", ErrSARefuse, k.Adv.Participant)
		}
		m.keys[i] = k
	}
	if k, ok := m.keys[m.index]; !ok || string(k.Adv.MaskKey) != string(m.mask.Public[:]) {
		return nil, fmt.Errorf("%w: the coordinator does not relay this member's keys", ErrSARefuse)
	}
	var err error
	if m.graph, err = SecAggGraph(m.jobID, m.round, v.Seed, len(m.cohort)); err != nil {
		return nil, err
	}
	var holders []int
	for _, j := range m.graph.Neighbours(m.index) {
		if _, ok := m.keys[j]; ok {
			holders = append(holders, j)
		}
	}
	need := ledger.SecAggNeed(m.job.SecAgg.Threshold, len(holders))
	if len(holders) < need {
		return nil, fmt.Errorf("%w: %d holders, need %d", ErrSARefuse, len(holders), need)
	}
	ms, mc, err := secagg.SplitVerifiable(m.mask.Secret, need-1, holders, m.rand)
	if err != nil {
		return nil, err
	}
	ss, sc, err := secagg.SplitVerifiable(m.seed, need-1, holders, m.rand)
	if err != nil {
		return nil, err
	}
	if m.Corrupt != nil {
		m.Corrupt(ms, ss)
	}
	d := SecAggDomain(m.jobID, m.round)
	envs := make([][]byte, len(holders))
	for k, h := range holders {
		var pub secagg.PublicKey
		copy(pub[:], m.keys[h].Adv.EncKey)
		if envs[k], err = d.SealShares(&m.enc, pub, secagg.Shares{From: m.index, To: h, MaskKey: ms[k].Value, SelfMask: ss[k].Value}, m.rand); err != nil {
			return nil, err
		}
	}
	return ledger.SignShares(m.key, ledger.ShareHeader{Job: m.jobID, Round: m.round, Participant: m.self, MaskCommit: mc, SelfCommit: sc}, envs)
}

// Masked returns the member's masked input (the masked step): its
// encoded update (see SecAggUpdate) plus its self mask and the pairwise
// masks with its neighbours in U2, as little-endian bytes.
func (m *SAMember) Masked(v *SAView, encoded []uint64) ([]byte, error) {
	if v.Round != m.round || v.Step != SAMasked || m.graph == nil {
		return nil, fmt.Errorf("%w: masked input asked at step %s of round %d", ErrSARefuse, v.Step, v.Round)
	}
	if _, ok := slices.BinarySearch(v.Shared, m.self); !ok {
		return nil, fmt.Errorf("%w: the coordinator does not count this member's shares", ErrSARefuse)
	}
	if len(v.Shared) < SecAggMin(m.job) {
		return nil, fmt.Errorf("%w: %d members shared, need %d", ErrSARefuse, len(v.Shared), SecAggMin(m.job))
	}
	m.shared = slices.Clone(v.Shared)
	d := SecAggDomain(m.jobID, m.round)
	headers := map[string]ledger.ShareHeader{}
	for _, h := range v.Headers {
		if h.Hdr.Job == m.jobID && h.Hdr.Round == m.round && h.Verify() == nil {
			headers[h.Hdr.Participant] = h.Hdr
		}
	}
	m.held = map[int]secagg.Shares{}
	for _, env := range v.Envelopes {
		from, to, err := secagg.EnvelopeHeader(env)
		if err != nil || to != m.index {
			continue
		}
		k, ok := m.keys[from]
		if !ok {
			continue
		}
		var pub secagg.PublicKey
		copy(pub[:], k.Adv.EncKey)
		sh, err := d.OpenShares(&m.enc, m.index, pub, from, env)
		if err != nil {
			continue
		}
		// Keep only shares that verify against their dealer's signed
		// commitments: a bad one is never revealed.
		hdr, ok := headers[m.cohort[from]]
		if !ok {
			continue
		}
		t := len(hdr.MaskCommit) - 1
		if !secagg.Commitment(hdr.MaskCommit).Verify(t, secagg.ShareValue{Holder: m.index, Value: sh.MaskKey}) ||
			!secagg.Commitment(hdr.SelfCommit).Verify(t, secagg.ShareValue{Holder: m.index, Value: sh.SelfMask}) {
			continue
		}
		m.held[from] = sh
	}
	var peers []secagg.Peer
	for _, j := range m.graph.Neighbours(m.index) {
		if _, ok := slices.BinarySearch(m.shared, m.cohort[j]); ok && j != m.index {
			var pub secagg.PublicKey
			copy(pub[:], m.keys[j].Adv.MaskKey)
			peers = append(peers, secagg.Peer{Index: j, Public: pub})
		}
	}
	vec := slices.Clone(encoded)
	if err := d.Mask(vec, m.job.SecAgg.BitsInt(), m.graph, m.index, &m.mask, m.seed, peers); err != nil {
		return nil, err
	}
	return PutMasked(vec, m.job.SecAgg.BitsInt()), nil
}

// SignSurvivors returns the member's signature on the survivor set (the
// survivors step), after checking it is a subset of U2 holding the member.
func (m *SAMember) SignSurvivors(v *SAView) ([]byte, error) {
	if v.Round != m.round || v.Step != SASurvivors || m.shared == nil {
		return nil, fmt.Errorf("%w: survivor signature asked at step %s of round %d", ErrSARefuse, v.Step, v.Round)
	}
	if m.signed != nil && !slices.Equal(m.signed, v.Survivors) {
		return nil, fmt.Errorf("%w: a second, different survivor set", ErrSARefuse)
	}
	if !slices.IsSorted(v.Survivors) || len(slices.Compact(slices.Clone(v.Survivors))) != len(v.Survivors) {
		return nil, fmt.Errorf("%w: survivor set not sorted and distinct", ErrSARefuse)
	}
	for _, p := range v.Survivors {
		if _, ok := slices.BinarySearch(m.shared, p); !ok {
			return nil, fmt.Errorf("%w: survivor %s did not share", ErrSARefuse, p)
		}
	}
	if _, ok := slices.BinarySearch(v.Survivors, m.self); !ok || len(v.Survivors) < SecAggMin(m.job) {
		return nil, fmt.Errorf("%w: survivor set of %d without this member", ErrSARefuse, len(v.Survivors))
	}
	m.signed = slices.Clone(v.Survivors)
	return ledger.SignSurvivors(m.key, ledger.SurvivorSet{Job: m.jobID, Round: m.round, Survivors: m.signed})
}

// Reveal returns the member's reveal (the reveal step), once at least
// SecAggMin survivors, this member among them, signed the set it signed.
func (m *SAMember) Reveal(v *SAView) (*ledger.SignedReveal, error) {
	if v.Round != m.round || v.Step != SAReveal || m.signed == nil {
		return nil, fmt.Errorf("%w: reveal asked at step %s of round %d", ErrSARefuse, v.Step, v.Round)
	}
	if m.done {
		return nil, fmt.Errorf("%w: already revealed in round %d", ErrSARefuse, m.round)
	}
	set := ledger.SurvivorSet{Job: m.jobID, Round: m.round, Survivors: m.signed}
	signers := map[string]bool{}
	for _, s := range v.Sigs {
		if _, ok := slices.BinarySearch(m.signed, s.Participant); !ok || ledger.VerifySurvivors(s.Participant, set, s.Sig) != nil {
			return nil, fmt.Errorf("%w: a survivor signature of %s is not on the set this member signed", ErrSARefuse, s.Participant)
		}
		signers[s.Participant] = true
	}
	if len(signers) < SecAggMin(m.job) || !signers[m.self] {
		return nil, fmt.Errorf("%w: %d signatures on the survivor set, need %d", ErrSARefuse, len(signers), SecAggMin(m.job))
	}
	var shares [][]byte
	for _, j := range m.graph.Neighbours(m.index) {
		owner := m.cohort[j]
		if _, ok := slices.BinarySearch(m.shared, owner); !ok {
			continue
		}
		sh, ok := m.held[j]
		if !ok {
			continue // its envelope did not open: nothing to reveal
		}
		rs := secagg.RevealedShare{Kind: secagg.KindMaskKey, Owner: j, Holder: m.index, Value: sh.MaskKey}
		if _, survived := slices.BinarySearch(m.signed, owner); survived {
			rs = secagg.RevealedShare{Kind: secagg.KindSelfMask, Owner: j, Holder: m.index, Value: sh.SelfMask}
		}
		b, err := rs.MarshalBinary()
		if err != nil {
			return nil, err
		}
		shares = append(shares, b)
	}
	m.done = true
	return ledger.SignReveal(m.key, ledger.Reveal{Job: m.jobID, Round: m.round, Participant: m.self, Shares: shares})
}
