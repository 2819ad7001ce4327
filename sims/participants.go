package sims

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/participant"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/host"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// startParticipants starts every participant in s.parts, each on its own host
// with its own data set and store client. Their faults come from the seed:
// a participant skips a round with probability o.Dropout (dropout), the
// faults list adds dropouts at other phases, stragglers, lost, delayed
// and duplicated messages (member), and o.AttackerSet's o.Attackers mount
// o.Attack (attacks.go). A participant that fails sends its error to
// s.errs.
//
// Each participant's round-protocol traffic goes through its member
// (roundHost): that is where the sim records the coordinator's
// acknowledgements and injects the faults of the round protocol. Its blob
// store client uses the bare host.
func (s *sim) startParticipants() error {
	s.done = map[uint64]map[string]bool{}
	s.left = map[uint64]map[string]bool{}
	s.short = make(chan struct{}, s.o.Rounds)
	s.poke = make(chan struct{}, 1)
	s.errs = make(chan error, s.o.Participants+2)
	ch := s.ccfg.Host
	coord := peer.AddrInfo{ID: ch.ID(), Addrs: ch.Addrs()}
	var ps []*participant.Participant
	var owns []model.Trainer
	for i := 0; i < s.o.Participants; i++ {
		key := keyFor(s.o.Seed, "participant-"+strconv.Itoa(i))
		h, err := s.net.newHost(key, s.o.Nodes+1+i, false)
		if err != nil {
			return err
		}
		s.partHosts = append(s.partHosts, h)
		st, err := s.storeFor(h)
		if err != nil {
			return err
		}
		self := h.ID().String()
		if d := s.plan.linkLatency(self); d > 0 {
			s.setLatency(h.ID(), d)
		}
		m := &member{s: s, i: i, self: self, left: map[uint64]bool{}, tries: map[string]int{}, answered: map[uint64]bool{}}
		cfg := participant.Config{
			Host: &roundHost{Host: h, m: m, coord: ch.ID()}, Key: key, Coordinator: coord, Store: st, Data: s.data[i], Logger: s.o.Logger,
			Skip: func(round uint64) bool {
				skip := m.skips(round)
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
		if k, ok := s.o.attackerOf(i); ok {
			s.arm(k, &cfg)
		}
		if s.o.Privacy == ledger.PrivacySecAgg {
			// The secagg checker compares the unmasked mean with the
			// deltas as the members encoded them (after any attack).
			tamper := cfg.Tamper
			cfg.Tamper = func(r uint64, d []float32) {
				if tamper != nil {
					tamper(r, d)
				}
				s.capture(r, self, d)
			}
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
		ps, owns = append(ps, p), append(owns, own)
	}
	for i, p := range ps {
		own := owns[i]
		s.parts.Go(func(ctx context.Context) {
			if c, ok := own.(io.Closer); ok {
				defer c.Close()
			}
			if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.fail(err)
			}
		})
	}
	return nil
}

// fail hands a participant's or a fault's error to the loop, which ends
// the run with the first; later ones are dropped.
func (s *sim) fail(err error) {
	select {
	case s.errs <- err:
	default:
	}
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

// leave records that cohort member p left round r (a dropout after a
// step, a straggler, a partition): it is through with the round, and in
// secagg it answers none of the round's steps from now on.
func (s *sim) leave(r uint64, p string) {
	s.mu.Lock()
	if s.left[r] == nil {
		s.left[r] = map[string]bool{}
	}
	s.left[r][p] = true
	s.mu.Unlock()
	s.finished(r, p, false)
}

// gone reports whether cohort member p dropped out of round r (or had its
// submission refused): it will not answer the round's secagg steps.
func (s *sim) gone(r uint64, p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, seen := s.done[r][p]
	return s.left[r][p] || (seen && !ok)
}

// dropout returns a uniform number in [0, 1) fixed by seed, participant and round.
func dropout(seed uint64, p string, round uint64) float64 {
	h := sha256.Sum256([]byte("floe/sim-dropout/v1\x00" + strconv.FormatUint(seed, 10) + "\x00" + p + "\x00" + strconv.FormatUint(round, 10)))
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16]))).Float64()
}

// member is one participant's view of the faults list: where it drops
// out, straggles and loses messages, decided from the seed. Its roundHost
// calls exchange for every round-protocol request, from the participant's
// goroutine.
type member struct {
	s    *sim
	i    int
	self string

	mu       sync.Mutex      // guards the following
	left     map[uint64]bool // rounds this member left after a step
	tries    map[string]int  // messages sent, by op and round: the draws of loss faults
	answered map[uint64]bool // rounds whose submission reached the coordinator, its answer lost
}

// errLost is what a participant reads from a stream whose message or
// answer the network lost.
var errLost = errors.New("sims: message lost (simulated)")

// skips reports whether the member skips round r: the dropout shorthand,
// a dropout before_submit (before_keys), or a round it already left.
func (m *member) skips(r uint64) bool {
	s := m.s
	if dropout(s.o.Seed, m.self, r) < s.o.Dropout {
		return true
	}
	if phaseOrder(s.plan.dropPhase(m.self, r)) == 0 {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.left[r]
}

// leave marks round r left: the member sends nothing more in it.
func (m *member) leave(r uint64) {
	m.mu.Lock()
	m.left[r] = true
	m.mu.Unlock()
	m.s.leave(r, m.self)
}

func (m *member) hasLeft(r uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.left[r]
}

// lost reports whether the loss faults lose this member's message op of
// round r (what: "request" or "answer"). Each message of a kind gets its
// own draw, and one is lost at most three times in a row.
func (m *member) lost(op string, r uint64, what string) bool {
	plan := m.s.plan
	if len(plan.losses) == 0 {
		return false
	}
	key := op + "/" + strconv.FormatUint(r, 10) + "/" + what
	m.mu.Lock()
	defer m.mu.Unlock()
	n, run := m.tries[key], m.tries["run/"+key]
	m.tries[key] = n + 1
	if run >= 3 || !plan.hit(plan.losses, m.self, r, "loss/"+key+"/"+strconv.Itoa(n)) {
		m.tries["run/"+key] = 0
		return false
	}
	m.tries["run/"+key] = run + 1
	return true
}

// duplicated reports whether the duplicate faults deliver this member's
// message op of round r twice.
func (m *member) duplicated(op string, r uint64) bool {
	s := m.s
	return len(s.plan.dups) > 0 && s.plan.hit(s.plan.dups, m.self, r, "duplicate/"+op)
}

// exchange sends the participant's request of st (buffered by its Writes)
// as the faults say, and leaves in st what the participant reads back:
//   - a member that left the round answers its own secagg messages: a
//     refusal, or no view (the round is over for it);
//   - a dropout at a secagg step refuses that step's message locally, so
//     the coordinator never gets it;
//   - a late straggler is through with the round at once, and its
//     submission waits until the round's commitment is stored (release),
//     which then waits for it: it arrives, late, at the same point of every
//     replay;
//   - a dropout after_submit (sealed, plain) hands the update in and loses
//     the answer, as does a lost answer; a lost request never leaves;
//   - the participant's resubmission after a lost answer, and the second
//     copy of a duplicated submission (its answer dropped), are held like a
//     late straggler's submission until the round's commitment is stored:
//     sent at once, they would land before or after the round closes as
//     the other members' timing has it, and the record with them.
//
// Every submission the coordinator answers ok is recorded (ack) for the
// acknowledged-submissions checker.
func (m *member) exchange(st *roundStream) error {
	s := m.s
	var req round.Request
	if err := codec.ReadMsg(bytes.NewReader(st.req.Bytes()), round.MaxRequestSize, &req); err != nil {
		return st.send() // not ours to judge: the coordinator answers it
	}
	secagg := s.o.Privacy == ledger.PrivacySecAgg
	r := req.Round
	if req.Op == round.OpSubmit && req.Sub != nil {
		r = req.Sub.Sub.Round
	}
	phase := ""
	if r > 0 {
		phase = s.plan.dropPhase(m.self, r)
		if secagg && phase == PhaseAfterSubmit {
			phase = PhaseAfterMasked
		}
	}
	switch req.Op {
	case round.OpSecAgg, round.OpKeys, round.OpShares, round.OpSurvivors, round.OpReveal:
		if m.hasLeft(r) {
			if req.Op == round.OpSecAgg {
				return st.answer(round.Response{Status: round.RespOK, Round: r})
			}
			return st.answer(round.Response{Status: round.RespRejected, Reason: "left the round (simulated dropout)"})
		}
		if (req.Op == round.OpSurvivors && phase == PhaseAfterMasked) || (req.Op == round.OpReveal && phase == PhaseBeforeReveal) {
			m.leave(r)
			return st.answer(round.Response{Status: round.RespRejected, Reason: "left the round (simulated dropout)"})
		}
		return st.send()
	case round.OpRegister:
		return m.plain(st, req.Op, 0, true)
	case round.OpTask:
		return m.plain(st, req.Op, req.AfterRound, false)
	case round.OpSubmit:
	default:
		return st.send()
	}
	if req.Sub == nil {
		return st.send()
	}
	if secagg && phase == PhaseAfterShares {
		m.leave(r)
		return st.answer(round.Response{Status: round.RespRejected, Reason: "left the round (simulated dropout)"})
	}
	if d := s.plan.straggle(m.self, r); d > 0 && d >= s.o.Deadline {
		m.leave(r)
		return m.submitLate(st, &req, r)
	}
	if !secagg && m.wasAnswered(r) {
		return m.submitLate(st, &req, r)
	}
	if !secagg && m.lost(req.Op, r, "request") {
		return errLost
	}
	if err := m.submit(st, &req); err != nil {
		return err
	}
	resp := st.got
	accepted := resp.Status == round.RespOK || resp.Reason == ledger.ReasonDuplicate
	switch {
	case !secagg && phase == PhaseAfterSubmit:
		m.mu.Lock()
		m.left[r] = true
		m.answered[r] = true
		m.mu.Unlock()
		s.finished(r, m.self, accepted)
		st.lose()
	case !secagg && m.lost(req.Op, r, "answer"):
		m.mu.Lock()
		m.answered[r] = true
		m.mu.Unlock()
		s.finished(r, m.self, accepted)
		st.lose()
	}
	if !secagg && m.duplicated(req.Op, r) {
		m.againLate(st, r)
	}
	return nil
}

// wasAnswered reports whether this member's submission of round r reached
// the coordinator and its answer was lost.
func (m *member) wasAnswered(r uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.answered[r]
}

// submitLate holds a submission of round r until the round's commitment is
// stored (holdLate), then sends it and reads its answer.
func (m *member) submitLate(st *roundStream, req *round.Request, r uint64) error {
	release, done := m.s.holdLate(r)
	defer close(done)
	select {
	case <-release:
	case <-st.ctx.Done():
		return st.ctx.Err()
	}
	return m.submit(st, req)
}

// againLate sends st's request a second time once round r's commitment is
// stored (holdLate), on a stream of its own and on the participants' group,
// dropping the answer: a duplicate that arrives at one point of every
// replay. The participant reads the first answer at once.
func (m *member) againLate(st *roundStream, r uint64) {
	release, done := m.s.holdLate(r)
	dup := &roundStream{h: st.h, peer: st.peer}
	dup.req.Write(st.req.Bytes())
	m.s.parts.Go(func(ctx context.Context) {
		defer close(done)
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		dup.ctx = ctx
		dup.sendDropped()
	})
}

// plain sends a registration or task poll, losing it or its answer, or
// (dup) duplicating it, as the faults say.
func (m *member) plain(st *roundStream, op string, r uint64, dup bool) error {
	if m.lost(op, r, "request") {
		return errLost
	}
	if err := st.send(); err != nil {
		return err
	}
	loseAnswer := m.lost(op, r, "answer")
	again := dup && m.duplicated(op, r)
	if !loseAnswer && !again {
		return nil // the participant reads the answer from the stream
	}
	if _, err := st.recv(); err != nil {
		return err
	}
	if loseAnswer {
		st.lose()
	}
	if again {
		return st.again()
	}
	return nil
}

// submit sends a submission and reads its answer, recording an ok one.
func (m *member) submit(st *roundStream, req *round.Request) error {
	if err := st.send(); err != nil {
		return err
	}
	resp, err := st.recv()
	if err != nil {
		return err
	}
	if resp.Status == round.RespOK {
		m.s.ack(req.Sub.Sub.Round, m.self, req.Sub.Sub.Blob)
	}
	return nil
}

// roundHost is a participant's host as its round-protocol client sees it:
// streams to the coordinator on transport.ProtoRound go through the
// member's exchange. Everything else is the host's.
type roundHost struct {
	host.Host
	m     *member
	coord peer.ID
}

func (h *roundHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (lpnet.Stream, error) {
	if p != h.coord || len(pids) != 1 || pids[0] != transport.ProtoRound {
		return h.Host.NewStream(ctx, p, pids...)
	}
	return &roundStream{h: h, ctx: ctx, peer: p}, nil
}

// roundStream is one round-protocol exchange of a participant, as
// participant.Call uses it: SetDeadline, one Write of the request,
// CloseWrite, reads of the answer, Close or Reset. The real stream is
// opened only when the request is sent (a lost request never reaches the
// coordinator, which would record an empty stream as malformed).
type roundStream struct {
	lpnet.Stream // the real stream once sent; nil before
	h            *roundHost
	ctx          context.Context
	peer         peer.ID
	deadline     time.Time
	req          bytes.Buffer
	got          round.Response // the answer read by recv
	answerBuf    *bytes.Reader  // what the participant reads, when exchange read or made it
	lost         bool           // the participant reads errLost
}

func (st *roundStream) SetDeadline(t time.Time) error {
	st.deadline = t
	if st.Stream != nil {
		return st.Stream.SetDeadline(t)
	}
	return nil
}

func (st *roundStream) Write(p []byte) (int, error) { return st.req.Write(p) }

func (st *roundStream) CloseWrite() error { return st.h.m.exchange(st) }

func (st *roundStream) Read(p []byte) (int, error) {
	switch {
	case st.lost:
		return 0, errLost
	case st.answerBuf != nil:
		return st.answerBuf.Read(p)
	case st.Stream != nil:
		return st.Stream.Read(p)
	}
	return 0, io.EOF
}

func (st *roundStream) Close() error {
	if st.Stream != nil {
		return st.Stream.Close()
	}
	return nil
}

func (st *roundStream) Reset() error {
	if st.Stream != nil {
		return st.Stream.Reset()
	}
	return nil
}

// send opens the real stream and sends the request.
func (st *roundStream) send() error {
	s, err := st.h.Host.NewStream(st.ctx, st.peer, transport.ProtoRound)
	if err != nil {
		return err
	}
	st.Stream = s
	if !st.deadline.IsZero() {
		s.SetDeadline(st.deadline)
	}
	if _, err := s.Write(st.req.Bytes()); err != nil {
		s.Reset()
		return err
	}
	return s.CloseWrite()
}

// recv reads the coordinator's answer, for the participant to read next.
func (st *roundStream) recv() (round.Response, error) {
	b, err := codec.ReadFrame(st.Stream, round.MaxRequestSize+ledger.MaxRecordSize)
	if err != nil {
		return round.Response{}, err
	}
	if err := codec.Unmarshal(b, &st.got); err != nil {
		return round.Response{}, err
	}
	st.answerBuf = bytes.NewReader(frame(b))
	return st.got, nil
}

// answer makes the participant read resp without sending anything.
func (st *roundStream) answer(resp round.Response) error {
	b, err := codec.Marshal(resp)
	if err != nil {
		return err
	}
	st.answerBuf = bytes.NewReader(frame(b))
	return nil
}

// lose makes the participant read a lost answer.
func (st *roundStream) lose() { st.lost = true }

// again sends the request a second time on a stream of its own and drops
// that answer (a duplicate on the network).
func (st *roundStream) again() error {
	dup := &roundStream{h: st.h, ctx: st.ctx, peer: st.peer, deadline: st.deadline}
	dup.req.Write(st.req.Bytes())
	return dup.sendDropped()
}

// sendDropped sends st's request and reads its answer, which it drops (an
// ok answer to a submission is acknowledged all the same).
func (st *roundStream) sendDropped() error {
	dup := st
	if err := dup.send(); err != nil {
		return nil // the copy is lost: nothing to do
	}
	defer dup.Close()
	if resp, err := dup.recv(); err == nil && resp.Status == round.RespOK {
		var req round.Request
		if codec.ReadMsg(bytes.NewReader(st.req.Bytes()), round.MaxRequestSize, &req) == nil && req.Op == round.OpSubmit && req.Sub != nil {
			st.h.m.s.ack(req.Sub.Sub.Round, st.h.m.self, req.Sub.Sub.Blob)
		}
	}
	return nil
}

// frame prefixes a message with its varint length, as codec.WriteMsg does.
func frame(b []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}
