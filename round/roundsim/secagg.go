package roundsim

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round"
)

// DefaultSecAgg returns secagg parameters for small simulated jobs: clip
// 1, 16 fractional bits, threshold 0.66, 1 s steps.
func DefaultSecAgg() *ledger.SecAggParams {
	return &ledger.SecAggParams{FracBits: 16, Clip: "1", Threshold: "0.66", StepMillis: 1000}
}

// setSecAgg makes spec a secagg job, choosing the ring and the masked
// input size as the coordinator does.
func setSecAgg(spec *ledger.JobSpec, p ledger.SecAggParams, initial []byte) error {
	spec.Privacy, spec.SecAgg, spec.Recipients = ledger.PrivacySecAgg, &p, nil
	return round.PrepareSecAgg(spec, initial)
}

// Member returns name's secagg member for the open round (drawn on first
// use): tests set its Corrupt hook to play a dishonest member.
func (s *Sim) Member(name string) (*round.SAMember, error) { return s.member(name) }

// member returns name's secagg member for the open round.
func (s *Sim) member(name string) (*round.SAMember, error) {
	key := name + "/" + strconv.FormatUint(s.m.Round(), 10)
	if m, ok := s.members[key]; ok {
		return m, nil
	}
	seed := sha256.Sum256([]byte(fmt.Sprintf("floe/roundsim-secagg/%d/%s", s.cfg.Seed, key)))
	m, err := round.NewSAMember(&s.job.Job, s.m.Round(), s.ID(name), s.key(name), rand.NewChaCha8(seed))
	if err != nil {
		return nil, err
	}
	s.members[key] = m
	return m, nil
}

// View returns the open secagg round's view for name.
func (s *Sim) View(name string) (*round.SAView, error) {
	v, ok := s.m.SecAggView(s.ID(name))
	if !ok {
		return nil, fmt.Errorf("roundsim: no secagg view for %s", name)
	}
	return v, nil
}

// SAKeys steps name's key advert.
func (s *Sim) SAKeys(name string) ([]string, error) {
	m, err := s.member(name)
	if err != nil {
		return nil, err
	}
	k, err := m.Keys()
	if err != nil {
		return nil, err
	}
	return s.step(round.Event{Kind: round.EvKeys, Peer: s.ID(name), Millis: s.now, Keys: k}), nil
}

// SAShares steps name's share envelopes; tamper, if set, changes them
// first, and the member signs what tamper left (unless tamper changed the
// signature): a member that breaks the protocol, not a forger.
func (s *Sim) SAShares(name string, tamper func(*ledger.SignedShares)) ([]string, error) {
	m, v, err := s.memberView(name)
	if err != nil {
		return nil, err
	}
	sh, err := m.Shares(v)
	if err != nil {
		return nil, err
	}
	if tamper != nil {
		sig := slices.Clone(sh.Sig)
		tamper(sh)
		if slices.Equal(sig, sh.Sig) {
			if sh, err = ledger.SignShares(s.key(name), sh.Hdr, sh.Envelopes); err != nil {
				return nil, err
			}
		}
	}
	return s.step(round.Event{Kind: round.EvShares, Peer: s.ID(name), Millis: s.now, Shares: sh}), nil
}

// SAMasked stores name's masked input of the simulator's good update (or
// of delta, if not nil) and steps its submission.
func (s *Sim) SAMasked(name string, delta []float32) ([]string, error) {
	m, v, err := s.memberView(name)
	if err != nil {
		return nil, err
	}
	if delta == nil {
		delta = s.GoodDelta()
	}
	enc := make([]uint64, len(delta)+1)
	var seed [32]byte
	seed[0] = byte(len(name))
	copy(seed[1:], name)
	const examples = 10
	if err := round.SecAggUpdate(&s.job.Job, enc, append([]float32(nil), delta...), examples, seed); err != nil {
		return nil, err
	}
	b, err := m.Masked(v, enc)
	if err != nil {
		return nil, err
	}
	s.encoded[name] = enc
	id, cert, err := s.store.Put(context.Background(), b, 0)
	if err != nil {
		return nil, err
	}
	sub := ledger.Submission{Job: s.m.JobID(), Round: s.m.Round(), Participant: s.ID(name), Blob: id,
		UpdateHash: ledger.Sum(b), NumExamples: examples, UpdateSize: uint64(len(b))}
	sig, err := ledger.SignSubmission(s.key(name), sub)
	if err != nil {
		return nil, err
	}
	return s.step(round.Event{Kind: round.EvSubmit, Peer: s.ID(name), Millis: s.now, Sub: &ledger.SignedSubmission{Sub: sub, Sig: sig, Cert: cert}}), nil
}

// Encoded returns the encoding (before masking) of name's last masked
// input: what the coordinator must never learn.
func (s *Sim) Encoded(name string) []uint64 { return s.encoded[name] }

// GoodDelta is the simulator's good update as a flat delta.
func (s *Sim) GoodDelta() []float32 {
	flat := make([]float32, s.global.Len())
	for i := range flat {
		flat[i] = 0.01 * float32(i+1)
	}
	return flat
}

// SASign steps name's signature on the survivor set.
func (s *Sim) SASign(name string) ([]string, error) {
	m, v, err := s.memberView(name)
	if err != nil {
		return nil, err
	}
	sig, err := m.SignSurvivors(v)
	if err != nil {
		return nil, err
	}
	return s.step(round.Event{Kind: round.EvSurvivorSig, Peer: s.ID(name), Millis: s.now, Round: v.Round, Sig: sig}), nil
}

// SAReveal steps name's reveal; tamper, if set, changes it first, and the
// member signs what tamper left (unless tamper changed the signature).
func (s *Sim) SAReveal(name string, tamper func(*ledger.SignedReveal)) ([]string, error) {
	m, v, err := s.memberView(name)
	if err != nil {
		return nil, err
	}
	r, err := m.Reveal(v)
	if err != nil {
		return nil, err
	}
	if tamper != nil {
		sig := slices.Clone(r.Sig)
		tamper(r)
		if slices.Equal(sig, r.Sig) {
			if r, err = ledger.SignReveal(s.key(name), r.Rev); err != nil {
				return nil, err
			}
		}
	}
	return s.step(round.Event{Kind: round.EvReveal, Peer: s.ID(name), Millis: s.now, Reveal: r}), nil
}

func (s *Sim) memberView(name string) (*round.SAMember, *round.SAView, error) {
	m, err := s.member(name)
	if err != nil {
		return nil, nil, err
	}
	v, err := s.View(name)
	return m, v, err
}

// SAStep steps name's honest message of step (SAKeys: its keys, SAShares:
// its shares, SAMasked: its masked input of the good update, SASurvivors:
// its signature, SAReveal: its reveal).
func (s *Sim) SAStep(step round.SAStep, name string) ([]string, error) {
	switch step {
	case round.SAKeys:
		return s.SAKeys(name)
	case round.SAShares:
		return s.SAShares(name, nil)
	case round.SAMasked:
		return s.SAMasked(name, nil)
	case round.SASurvivors:
		return s.SASign(name)
	case round.SAReveal:
		return s.SAReveal(name, nil)
	}
	return nil, fmt.Errorf("roundsim: no secagg step %s", step)
}

// SAStepAll steps the honest message of step for each of names, then ticks
// the machine at the current time.
func (s *Sim) SAStepAll(step round.SAStep, names ...string) error {
	for _, n := range names {
		if _, err := s.SAStep(step, n); err != nil {
			return fmt.Errorf("roundsim: %s at %s: %w", n, step, err)
		}
	}
	s.Tick(0)
	return nil
}

// SecAggRound runs a whole secagg round: every cohort member takes each
// step, except that a member named in drop stops before the step given
// (round.SAKeys: sends nothing; round.SAReveal: does everything but
// reveal). Steps end when all expected answered, or by the clock when some
// dropped. Then it folds and commits.
func (s *Sim) SecAggRound(drop map[string]round.SAStep) error {
	s.Tick(0)
	if s.m.Phase() != round.PhaseCollecting {
		return fmt.Errorf("roundsim: no round opens (phase %s)", s.m.Phase())
	}
	r := s.m.Round()
	for step := round.SAKeys; step <= round.SAReveal; step++ {
		for _, id := range s.m.Cohort() {
			name := s.Name(id)
			if d, ok := drop[name]; ok && d <= step {
				continue
			}
			if v, ok := s.m.SecAggView(id); !ok || v.Step != step || v.Failed != "" {
				break
			}
			if _, err := s.SAStep(step, name); err != nil {
				return fmt.Errorf("roundsim: %s at %s: %w", name, step, err)
			}
		}
		s.Tick(0)
		if s.stillAt(r, step) {
			if w, ok := s.m.WakeMillis(); ok && w > s.now {
				s.Tick(w - s.now)
			}
		}
	}
	if _, err := s.Fold(); err != nil {
		return err
	}
	_, err := s.Commit()
	return err
}

// stillAt reports whether round r is still open at step.
func (s *Sim) stillAt(r uint64, step round.SAStep) bool {
	if s.m.Round() != r || s.m.Phase() != round.PhaseCollecting {
		return false
	}
	for _, id := range s.m.Cohort() {
		if v, ok := s.m.SecAggView(id); ok {
			return v.Step == step && v.Failed == ""
		}
	}
	return false
}
