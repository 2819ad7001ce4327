package sims

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/participant"
	"github.com/floe-fl/floe/round"
	"github.com/libp2p/go-libp2p/core/peer"
)

// startParticipants starts every participant in s.parts, each on its own host
// with its own data set and store client. Their faults come from the seed:
// a participant skips a round with probability o.Dropout (dropout), and the
// first o.Attackers mount o.Attack (attacks.go). A participant
// that fails sends its error to s.errs.
func (s *sim) startParticipants() error {
	s.done = map[uint64]map[string]bool{}
	s.short = make(chan struct{}, s.o.Rounds)
	s.poke = make(chan struct{}, 1)
	s.errs = make(chan error, s.o.Participants)
	ch := s.ccfg.Host
	coord := peer.AddrInfo{ID: ch.ID(), Addrs: ch.Addrs()}
	for i := 0; i < s.o.Participants; i++ {
		key := keyFor(s.o.Seed, "participant-"+strconv.Itoa(i))
		h, err := s.net.newHost(key, s.o.Nodes+1+i, false)
		if err != nil {
			return err
		}
		st, err := s.storeFor(h)
		if err != nil {
			return err
		}
		self := h.ID().String()
		cfg := participant.Config{
			Host: h, Key: key, Coordinator: coord, Store: st, Data: s.data[i], Logger: s.o.Logger,
			Skip: func(round uint64) bool {
				skip := dropout(s.o.Seed, self, round) < s.o.Dropout
				if skip {
					s.finished(round, self, false)
				}
				return skip
			},
			OnSubmit: func(r uint64, status, reason string) {
				s.finished(r, self, status == round.RespOK || reason == string(ledger.ReasonDuplicate))
			},
		}
		if s.o.Trainer != nil {
			cfg.Trainer = s.o.Trainer()
		}
		own := cfg.Trainer
		if s.o.LocalSteps > 0 {
			base := cfg.Trainer
			if base == nil {
				base = model.NewLocalTrainer(s.arch)
			}
			cfg.Trainer = stepsTrainer{base, s.o.LocalSteps}
		}
		if i < s.o.Attackers {
			s.arm(i, &cfg)
		}
		if s.o.Net == "memory" {
			cfg.Rand = func(round uint64) io.Reader {
				return participant.SealRand(s.o.Seed, self, round)
			}
		}
		p, err := participant.New(cfg)
		if err != nil {
			return err
		}
		s.parts.Go(func(ctx context.Context) {
			if c, ok := own.(io.Closer); ok {
				defer c.Close()
			}
			if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.errs <- err
			}
		})
	}
	return nil
}

// stepsTrainer trains a fixed number of local SGD steps a round instead of
// the job's epochs (Options.LocalSteps). The signed job carries epochs
// only, so the step count is a participant option of the simulation.
type stepsTrainer struct {
	model.Trainer
	steps int
}

func (t stepsTrainer) Train(ctx context.Context, global *model.Params, data *model.Dataset, cfg model.TrainConfig) (*model.Result, error) {
	cfg.Steps = t.steps
	return t.Trainer.Train(ctx, global, data, cfg)
}

// finished records that a cohort member is through with a round
// (submitted, or dropped out). A member that retried after a lost reply is
// counted once, and a "duplicate" answer means its first try was accepted.
// When the whole cohort is through with fewer accepted submissions than
// members, the round goes to s.short (the loop then moves the clock to its
// deadline).
func (s *sim) finished(round uint64, self string, accepted bool) {
	cohort := min(s.o.Cohort, s.o.Participants)
	s.mu.Lock()
	if s.done[round] == nil {
		s.done[round] = map[string]bool{}
	}
	_, seen := s.done[round][self]
	s.done[round][self] = s.done[round][self] || accepted
	n, ok := len(s.done[round]), 0
	for _, a := range s.done[round] {
		if a {
			ok++
		}
	}
	s.mu.Unlock()
	if s.o.Privacy == ledger.PrivacySecAgg {
		// Secagg rounds wait at each step for the members that did not
		// drop out: the loop moves the clock when a step stalls (see
		// watchSecAgg), not when the cohort is through.
		select {
		case s.poke <- struct{}{}:
		default:
		}
		return
	}
	if !seen && n == cohort && ok < cohort {
		s.short <- struct{}{}
	}
}

// gone reports whether cohort member p dropped out of round r (or had its
// submission refused): it will not answer the round's secagg steps.
func (s *sim) gone(r uint64, p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, seen := s.done[r][p]
	return seen && !ok
}

// dropout returns a uniform number in [0, 1) fixed by seed, participant and round.
func dropout(seed uint64, p string, round uint64) float64 {
	h := sha256.Sum256([]byte("floe/sim-dropout/v1\x00" + strconv.FormatUint(seed, 10) + "\x00" + p + "\x00" + strconv.FormatUint(round, 10)))
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16]))).Float64()
}
