package ledger

import (
	"fmt"
	"math"

	"github.com/floe-fl/floe/decimal"
	"github.com/floe-fl/floe/secagg"
)

// PrivacySecAgg is JobSpec.Privacy for secure aggregation (package secagg):
// the coordinator learns only the sum of the cohort's updates.
const PrivacySecAgg = "secagg"

// Signature domains of the secure-aggregation messages.
const (
	DomainSecAggKeys      = "floe/secagg-keys/v1"
	DomainSecAggShares    = "floe/secagg-shares/v1"
	DomainSecAggSurvivors = "floe/secagg-survivors/v1"
	DomainSecAggReveal    = "floe/secagg-reveal/v1"
)

// SecAggParams configure a secagg job (JobSpec.SecAgg).
type SecAggParams struct {
	// Bits is the ring: updates are summed in Z_{2^Bits}. The coordinator
	// sets it to secagg.RingBits(cohort, max examples, Clip, FracBits), the
	// least ring in which no sum of the cohort's encodings wraps; Validate
	// checks that it is at least that.
	Bits uint64 `cbor:"1,keyasint"`
	// FracBits is the fixed-point precision: a coordinate x becomes
	// w*x*2^FracBits, stochastically rounded to an integer.
	FracBits uint64 `cbor:"2,keyasint"`
	// Clip is the coordinate range: every coordinate of an update is
	// clipped to [-Clip, Clip] before encoding (a decimal > 0).
	Clip string `cbor:"3,keyasint"`
	// Threshold is the fraction of a member's share holders (its
	// neighbours that advertised keys) needed to recover its secrets: a
	// decimal in (1/2, 1]. See SecAggNeed.
	Threshold string `cbor:"4,keyasint"`
	// StepMillis bounds each step of the protocol other than training
	// (keys, shares, survivor signatures, reveals).
	StepMillis uint64 `cbor:"5,keyasint"`
	// Corrupt is the fraction of any member's share holders the job
	// assumes may collude with the coordinator, a decimal in [0, 1/2)
	// ("" for DefaultSecAggCorrupt). Validate checks that Threshold keeps
	// both secrets of a member out of their reach (see SecAggSafe).
	Corrupt string `cbor:"6,keyasint,omitempty"`
}

// DefaultSecAggCorrupt is SecAggParams.Corrupt when a job sets none.
const DefaultSecAggCorrupt = "0.3"

// SecAggSafe reports whether threshold keeps a coordinator that colludes
// with floor(corrupt*k) of a member's k holders from recovering both of
// its secrets, for every k from 1 to maxHolders, and the first k that
// fails. In Bonawitz et al.'s active model the coordinator may tell some
// honest holders that the member dropped (they reveal its mask key) and
// others that it survived (they reveal its self-mask seed); with the
// signed survivor set it needs enough signers for each story, and corrupt
// holders serve both: both secrets need 2*need <= (k - c) + 2c, so safety
// is 2*need > k + c with need = SecAggNeed(threshold, k).
func SecAggSafe(threshold, corrupt string, maxHolders int) (bool, int) {
	c, err := decimal.ParseOptional(corrupt)
	if err != nil {
		return false, 0
	}
	for k := 1; k <= maxHolders; k++ {
		if 2*SecAggNeed(threshold, k) <= k+int(math.Floor(c.Float64()*float64(k)+1e-9)) {
			return false, k
		}
	}
	return true, 0
}

// SecAggNeed returns how many of a member's holders must reveal to recover
// one of its secrets, t+1 in circl's convention (t shares reveal nothing):
// ceil(threshold * holders), at least 2 (one holder alone never learns a
// secret), at most holders.
func SecAggNeed(threshold string, holders int) int {
	f, err := decimal.Parse(threshold)
	if err != nil || holders < 1 {
		return math.MaxInt
	}
	need := int(math.Ceil(f.Float64()*float64(holders) - 1e-9))
	return min(max(need, 2), max(holders, 2))
}

// MinSecAggCohort is the smallest cohort secure aggregation accepts: with
// two members each learns the other's update from the sum.
const MinSecAggCohort = 3

// Encoding returns the job's fixed-point encoding (secagg mode only).
func (p *SecAggParams) Encoding(maxWeight uint64) (secagg.Encoding, error) {
	clip, err := decimal.Parse(p.Clip)
	if err != nil {
		return secagg.Encoding{}, err
	}
	return secagg.Encoding{Bits: int(p.Bits), FracBits: int(p.FracBits), Clip: clip.Float64(), MaxWeight: maxWeight}, nil
}

// validateSecAgg checks a secagg job's parameters; sealed and plain jobs
// carry none.
func (j *JobSpec) validateSecAgg() error {
	if j.Privacy != PrivacySecAgg {
		if j.SecAgg != nil {
			return jobErr("secagg", "parameters in a %s job", j.Privacy)
		}
		return nil
	}
	p := j.SecAgg
	if p == nil {
		return jobErr("secagg", "a secagg job needs its parameters")
	}
	if len(j.Recipients) != 0 {
		return jobErr("recipients", "%d recipients in a secagg job, want none: nobody opens an individual update", len(j.Recipients))
	}
	if j.CohortSize < MinSecAggCohort {
		return jobErr("cohort_size", "%d, secure aggregation needs at least %d (with two, each learns the other's update)", j.CohortSize, MinSecAggCohort)
	}
	clip, err := decimal.Parse(p.Clip)
	if err != nil || clip.Sign() <= 0 {
		return jobErr("secagg.clip", "%q, want a decimal > 0", p.Clip)
	}
	th, err := decimal.Parse(p.Threshold)
	if err != nil || th.Float64() <= 0.5 || th.Float64() > 1 {
		return jobErr("secagg.threshold", "%q, want a decimal in (0.5, 1]: a coordinator that tells some holders a member dropped and others that it survived must not collect shares of both its secrets", p.Threshold)
	}
	corrupt := p.Corrupt
	if corrupt == "" {
		corrupt = DefaultSecAggCorrupt
	}
	if c, err := decimal.Parse(corrupt); err != nil || c.Sign() < 0 || c.Float64() >= 0.5 {
		return jobErr("secagg.corrupt", "%q, want a decimal in [0, 0.5)", p.Corrupt)
	}
	if ok, k := SecAggSafe(p.Threshold, corrupt, secaggDegree(int(min(j.CohortSize, MaxCohort)))); !ok {
		return jobErr("secagg.threshold", "%s does not protect members from a coordinator colluding with a fraction %s of their holders: with %d holders it needs %d to reveal, and %d corrupt holders plus two disjoint groups of honest ones (told different survivor sets) reach that twice; raise threshold or lower corrupt", p.Threshold, corrupt, k, SecAggNeed(p.Threshold, k), int(math.Floor(mustFloat(corrupt)*float64(k)+1e-9)))
	}
	if p.FracBits < 1 || p.FracBits > 40 {
		return jobErr("secagg.frac_bits", "%d, want 1 to 40", p.FracBits)
	}
	if p.StepMillis < 1 {
		return jobErr("secagg.step", "0ms, want at least 1ms")
	}
	if p.Bits < 2 || p.Bits > 64 {
		return jobErr("secagg.bits", "%d, want 2 to 64", p.Bits)
	}
	e, err := p.Encoding(j.ExamplesBound())
	if err != nil {
		return jobErr("secagg.clip", "%v", err)
	}
	if err := e.Validate(int(min(j.CohortSize, MaxCohort))); err != nil {
		return jobErr("secagg.bits", "%d: %v (cohort %d, up to %d examples per member, clip %s, %d fractional bits): lower admission.max_examples, clip or frac_bits", p.Bits, err, j.CohortSize, j.ExamplesBound(), p.Clip, p.FracBits)
	}
	return nil
}

// KeyAdvert is a cohort member's public keys for one secagg round: the
// mask key (pairwise masks) and the envelope key (its shares' envelopes),
// both X25519.
type KeyAdvert struct {
	Job         Hash   `cbor:"1,keyasint"`
	Round       uint64 `cbor:"2,keyasint"`
	Participant string `cbor:"3,keyasint"`
	MaskKey     []byte `cbor:"4,keyasint"`
	EncKey      []byte `cbor:"5,keyasint"`
}

// SignedKeys is a KeyAdvert with the member's signature.
type SignedKeys struct {
	Adv KeyAdvert `cbor:"1,keyasint"`
	Sig []byte    `cbor:"2,keyasint"`
}

// SignKeys signs a key advert with the participant key k.
func SignKeys(k Signer, a KeyAdvert) (*SignedKeys, error) {
	sig, err := sign(k, DomainSecAggKeys, a)
	if err != nil {
		return nil, err
	}
	return &SignedKeys{Adv: a, Sig: sig}, nil
}

// Verify checks the advert's signature and the keys' lengths.
func (s *SignedKeys) Verify() error {
	if len(s.Adv.MaskKey) != 32 || len(s.Adv.EncKey) != 32 {
		return fmt.Errorf("%w: secagg keys of %s are not 32 bytes", ErrSignature, s.Adv.Participant)
	}
	return verify(s.Adv.Participant, DomainSecAggKeys, s.Adv, s.Sig)
}

// ShareHeader is what a member signs when it hands in its share envelopes:
// their count and the SHA-256 of their concatenation, in the order of its
// holders (ascending cohort index), and the Feldman commitments
// (secagg.Commitment, t+1 compressed points each) of its two sharing
// polynomials, against which every holder checks its shares and the fold
// checks every revealed one.
type ShareHeader struct {
	Job         Hash     `cbor:"1,keyasint"`
	Round       uint64   `cbor:"2,keyasint"`
	Participant string   `cbor:"3,keyasint"`
	Count       uint64   `cbor:"4,keyasint"`
	Envelopes   Hash     `cbor:"5,keyasint"`
	MaskCommit  [][]byte `cbor:"6,keyasint"`
	SelfCommit  [][]byte `cbor:"7,keyasint"`
}

// SignedShares is a member's share envelopes with its signed header. The
// commitment records the header and signature only: the envelopes are
// ciphertext for their holders, which the coordinator relays.
type SignedShares struct {
	Hdr       ShareHeader `cbor:"1,keyasint"`
	Sig       []byte      `cbor:"2,keyasint"`
	Envelopes [][]byte    `cbor:"3,keyasint,omitempty"`
}

// EnvelopesHash returns the digest a ShareHeader signs.
func EnvelopesHash(envs [][]byte) Hash {
	n := 0
	for _, e := range envs {
		n += len(e)
	}
	b := make([]byte, 0, n)
	for _, e := range envs {
		b = append(b, e...)
	}
	return Sum(b)
}

// SignShares signs the header of envs with the participant key k.
func SignShares(k Signer, h ShareHeader, envs [][]byte) (*SignedShares, error) {
	h.Count, h.Envelopes = uint64(len(envs)), EnvelopesHash(envs)
	sig, err := sign(k, DomainSecAggShares, h)
	if err != nil {
		return nil, err
	}
	return &SignedShares{Hdr: h, Sig: sig, Envelopes: envs}, nil
}

// Verify checks the header's signature and, when the envelopes are
// present, that they are the ones it signs.
func (s *SignedShares) Verify() error {
	if s.Envelopes != nil && (uint64(len(s.Envelopes)) != s.Hdr.Count || EnvelopesHash(s.Envelopes) != s.Hdr.Envelopes) {
		return fmt.Errorf("%w: share envelopes of %s are not the signed ones", ErrSignature, s.Hdr.Participant)
	}
	return verify(s.Hdr.Participant, DomainSecAggShares, s.Hdr, s.Sig)
}

// SurvivorSet is what each survivor signs before anyone reveals a share
// (the consistency check of Bonawitz et al.'s active variant): the members
// whose masked inputs the round sums, sorted. A survivor reveals only once
// enough others signed the same set, so a coordinator cannot claim a member
// dropped to some holders and survived to others.
type SurvivorSet struct {
	Job       Hash     `cbor:"1,keyasint"`
	Round     uint64   `cbor:"2,keyasint"`
	Survivors []string `cbor:"3,keyasint"`
}

// SurvivorSig is one survivor's signature on the round's SurvivorSet.
type SurvivorSig struct {
	Participant string `cbor:"1,keyasint"`
	Sig         []byte `cbor:"2,keyasint"`
}

// SignSurvivors signs a survivor set with the participant key k.
func SignSurvivors(k Signer, s SurvivorSet) ([]byte, error) {
	return sign(k, DomainSecAggSurvivors, s)
}

// VerifySurvivors checks participant's signature on s.
func VerifySurvivors(participant string, s SurvivorSet, sig []byte) error {
	return verify(participant, DomainSecAggSurvivors, s, sig)
}

// Reveal is a survivor's unmasking message: secagg.RevealedShare encodings
// (the self-mask share of each neighbour that survived, the mask-key share
// of each neighbour that dropped after sharing), ascending by owner.
type Reveal struct {
	Job         Hash     `cbor:"1,keyasint"`
	Round       uint64   `cbor:"2,keyasint"`
	Participant string   `cbor:"3,keyasint"`
	Shares      [][]byte `cbor:"4,keyasint"`
}

// SignedReveal is a Reveal with the survivor's signature.
type SignedReveal struct {
	Rev Reveal `cbor:"1,keyasint"`
	Sig []byte `cbor:"2,keyasint"`
}

// SignReveal signs r with the participant key k.
func SignReveal(k Signer, r Reveal) (*SignedReveal, error) {
	sig, err := sign(k, DomainSecAggReveal, r)
	if err != nil {
		return nil, err
	}
	return &SignedReveal{Rev: r, Sig: sig}, nil
}

// Verify checks the reveal's signature.
func (s *SignedReveal) Verify() error {
	return verify(s.Rev.Participant, DomainSecAggReveal, s.Rev, s.Sig)
}

// SecAggExclusion is a secagg message from a cohort member that the
// coordinator refused, with the step and the reason: the member takes no
// further part in the round. The coordinator's word (the message is not
// kept), bounded to one per member and step.
type SecAggExclusion struct {
	Participant string `cbor:"1,keyasint"`
	Step        string `cbor:"2,keyasint"`
	Reason      Reason `cbor:"3,keyasint"`
}

// RecoveredSecret is a secret the round's unmasking reconstructed from the
// revealed shares: a survivor's self-mask seed (Kind 2) or the mask key of
// a member that dropped after sharing (Kind 1), as secagg.ShareKind.
type RecoveredSecret struct {
	Participant string `cbor:"1,keyasint"`
	Kind        uint8  `cbor:"2,keyasint"`
	Secret      []byte `cbor:"3,keyasint"`
}

// SecAggRecord is what a secagg round's commitment holds so that an
// auditor with no key replays the sum: every accepted message of the
// protocol (signed by its sender), the survivor set, the exclusions, and
// the secrets the unmasking recovered (which the auditor recovers again
// from the signed reveals and compares). The masked inputs are the
// commitment's accepted submissions.
type SecAggRecord struct {
	Keys       []SignedKeys      `cbor:"1,keyasint,omitempty"` // members that advertised keys, cohort order
	Shares     []SignedShares    `cbor:"2,keyasint,omitempty"` // headers of the members that shared, cohort order
	Survivors  []string          `cbor:"3,keyasint,omitempty"` // the signed survivor set
	Signatures []SurvivorSig     `cbor:"4,keyasint,omitempty"` // survivors that signed it, cohort order
	Reveals    []SignedReveal    `cbor:"5,keyasint,omitempty"` // cohort order
	Excluded   []SecAggExclusion `cbor:"6,keyasint,omitempty"`
	Secrets    []RecoveredSecret `cbor:"7,keyasint,omitempty"`
}

const secaggRevealedShareSize = secagg.RevealedShareSize

// SecAggDegree returns the neighbours each member of a secagg cohort of n
// has: the most share holders a member can have.
func SecAggDegree(n int) int { return secaggDegree(n) }

// secaggDegree returns the neighbours each member of a cohort of n has.
func secaggDegree(n int) int {
	if n < 2 {
		return 0
	}
	return min(n-1, secagg.Degree(n, secagg.DegreeFactor))
}

// BitsInt returns Bits as an int.
func (p *SecAggParams) BitsInt() int { return int(p.Bits) }

// mustFloat is a decimal already checked, as a float64.
func mustFloat(s string) float64 {
	d, _ := decimal.Parse(s)
	return d.Float64()
}
