package coordinator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/audit"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/clock"
	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/participant"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

type peerT struct {
	h   host.Host
	key crypto.PrivKey
	st  p2p.Store
}

func (p *peerT) id() string { return p.h.ID().String() }

type fixture struct {
	t       *testing.T
	ctx     context.Context
	srv     *coordinator.Server
	cfg     coordinator.Config
	spec    ledger.JobSpec
	stopRun context.CancelFunc
	clk     *clock.Fake
	coord   peer.AddrInfo
	arch    model.Arch
	global  *model.Params
	peers   []*peerT
	mn      mocknet.Mocknet
	heads   chan *ledger.SignedCommitment
	errc    chan error
}

func keyN(t *testing.T, n int) crypto.PrivKey {
	k, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{byte(n + 1)}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newFixture starts 4 storage nodes, a coordinator (plain privacy, norm bound
// 10, cohort 6 of 7 registered, quorum 2, 2 rounds) and 7 registered peers, all on mocknet.
func newFixture(t *testing.T) *fixture { return newFixtureIn(t, t.TempDir()) }

// newFixtureIn is newFixture with the coordinator's data directory at dataDir.
func newFixtureIn(t *testing.T, dataDir string) *fixture { return newFixtureWith(t, dataDir, nil) }

// newFixtureWith is newFixtureIn with the job changed by mod (given the
// peers' IDs) before it is signed.
func newFixtureWith(t *testing.T, dataDir string, mod func(spec *ledger.JobSpec, peers []string)) *fixture {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	f := &fixture{t: t, ctx: ctx, mn: mn, clk: clock.NewFake(time.Unix(1000, 0)), heads: make(chan *ledger.SignedCommitment, 4), errc: make(chan error, 1)}
	var com blob.Committee
	for i := 0; i < 4; i++ {
		h, err := mn.AddPeer(keyN(t, 50+i), mustAddr(t, 200+i))
		if err != nil {
			t.Fatal(err)
		}
		n, err := p2p.NewNode(h, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		com.Members = append(com.Members, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	}
	newPeer := func(k crypto.PrivKey) *peerT {
		h, err := mn.AddPeer(k, mustAddr(t, len(mn.Peers())))
		if err != nil {
			t.Fatal(err)
		}
		if err := mn.LinkAll(); err != nil {
			t.Fatal(err)
		}
		c, err := p2p.NewClient(h, com)
		if err != nil {
			t.Fatal(err)
		}
		return &peerT{h: h, key: k, st: p2p.Store{Client: c}}
	}
	cp := newPeer(keyN(t, 100))
	f.arch, _ = model.ParseArch("logreg:4-3")
	f.global = f.arch.Init(1)
	spec := ledger.JobSpec{Version: ledger.Version, Name: "adversarial", Coordinator: cp.id(), Arch: f.arch.String(),
		Train: ledger.TrainParams{Epochs: 1, BatchSize: 4, LR: "0.1"}, Aggregation: aggregate.Spec{Rule: "fedavg"}.Canonical(),
		Privacy: "plain", CohortSize: 6, Quorum: 2, DeadlineMillis: 5000, Rounds: 2, NormBound: "10", MinParticipants: 7,
		Committee: com.Addrs()}
	f.coord = peer.AddrInfo{ID: cp.h.ID(), Addrs: cp.h.Addrs()}
	for i := 0; i < 8; i++ {
		f.peers = append(f.peers, newPeer(keyN(t, i)))
	}
	if mod != nil {
		var ids []string
		for _, p := range f.peers {
			ids = append(ids, p.id())
		}
		mod(&spec, ids)
	}
	f.spec = spec
	f.cfg = coordinator.Config{Host: cp.h, Key: cp.key, Store: cp.st, DataDir: dataDir, Clock: f.clk,
		OnCommit: func(c *ledger.SignedCommitment, _ ledger.BlobID) { f.heads <- c }}
	if err := f.open(); err != nil {
		t.Fatal(err)
	}
	return f
}

// open opens the coordinator on the fixture's data directory and runs it;
// its Run's result goes to f.errc.
func (f *fixture) open() error {
	srv, err := coordinator.Open(f.ctx, f.cfg, func() (ledger.JobSpec, []byte, error) {
		b, err := model.MarshalSafetensors(f.global, round.ModelMeta(&f.spec, 0))
		return f.spec, b, err
	})
	if err != nil {
		return err
	}
	f.t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithCancel(f.ctx)
	f.srv, f.stopRun = srv, cancel
	go func() { f.errc <- srv.Run(ctx) }()
	return nil
}

// restart stops the running coordinator, waits for its Run to return
// (unless the caller already took Run's result from f.errc) and closes it,
// then opens it again on the same data directory.
func (f *fixture) restart(running bool) error {
	f.stopRun()
	if running {
		<-f.errc
	}
	f.srv.Close()
	return f.open()
}

func mustAddr(t *testing.T, i int) ma.Multiaddr {
	a, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.1.0.%d/tcp/4001", i+1))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *fixture) call(p *peerT, req round.Request) *round.Response {
	f.t.Helper()
	resp, err := participant.Call(f.ctx, p.h, f.coord, req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

// update stores an update file built from delta and returns a signed submission.
func (f *fixture) update(p *peerT, round uint64, delta []float32, mutate func(*ledger.Submission)) *ledger.SignedSubmission {
	f.t.Helper()
	file := f.updateFile(delta)
	return f.store(p, round, file, file, mutate)
}

// updateFile returns the update file of delta: the global model's tensors
// holding it, or, when delta has another length, one tensor of it.
func (f *fixture) updateFile(delta []float32) []byte {
	f.t.Helper()
	u := f.global.Clone()
	if delta != nil && len(delta) == u.Len() {
		if err := u.SetFlat(delta); err != nil {
			f.t.Fatal(err)
		}
	}
	file, err := model.MarshalSafetensors(u, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if delta != nil && len(delta) != u.Len() {
		wrong := &model.Params{Tensors: []model.Tensor{{Name: "w", Shape: []int{len(delta)}, Data: delta}}}
		file, _ = model.MarshalSafetensors(wrong, nil)
	}
	return file
}

// store stores the update blob stored (plaintext itself, or sealed) and
// returns p's signed submission of it, changed by mutate before signing.
func (f *fixture) store(p *peerT, round uint64, stored, plaintext []byte, mutate func(*ledger.Submission)) *ledger.SignedSubmission {
	f.t.Helper()
	id, cert, err := p.st.Put(f.ctx, stored, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	sub := ledger.Submission{Job: f.srv.Job().Job.ID(), Round: round, Participant: p.id(), Blob: id, UpdateHash: ledger.Sum(plaintext),
		NumExamples: 10, UpdateSize: uint64(len(stored))}
	if mutate != nil {
		mutate(&sub)
	}
	sig, err := ledger.SignSubmission(p.key, sub)
	if err != nil {
		f.t.Fatal(err)
	}
	return &ledger.SignedSubmission{Sub: sub, Sig: sig, Cert: cert}
}

func (f *fixture) submit(p *peerT, s *ledger.SignedSubmission) (string, ledger.Reason) {
	f.t.Helper()
	r := f.call(p, round.Request{Op: round.OpSubmit, Sub: s})
	return r.Status, r.Reason
}

func (f *fixture) expect(p *peerT, s *ledger.SignedSubmission, reason ledger.Reason) {
	f.t.Helper()
	status, got := f.submit(p, s)
	want := round.RespRejected
	if reason == "" {
		want = round.RespOK
	}
	if status != want || got != reason {
		f.t.Fatalf("submission: got %s %q, want %s %q", status, got, want, reason)
	}
}

func rawSend(t *testing.T, f *fixture, p *peerT, payload []byte) *round.Response {
	t.Helper()
	st, err := p.h.NewStream(f.ctx, f.coord.ID, transport.ProtoRound)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Write(payload)
	st.CloseWrite()
	var resp round.Response
	if err := codec.ReadMsg(st, 1<<20, &resp); err != nil {
		t.Fatal(err)
	}
	return &resp
}

// TestBadSubmissions sends every kind of bad input through the real protocol:
// each is rejected with its reason, recorded in the commitment, and the
// coordinator goes on to commit the round.
func TestBadSubmissions(t *testing.T) {
	f := newFixture(t)
	for _, p := range f.peers[:7] {
		if r := f.call(p, round.Request{Op: round.OpRegister, NumExamples: 10}); r.Status != round.RespOK {
			t.Fatalf("register: %+v", r)
		}
	}
	ids, err := f.srv.WaitFor(f.ctx, func(r uint64, p round.Phase) bool { return r == 1 && p == round.PhaseCollecting })
	if err != nil {
		t.Fatal(err)
	}
	var cohort, outsiders []*peerT
	for _, p := range f.peers[:7] {
		if slices.Contains(ids, p.id()) {
			cohort = append(cohort, p)
			if r := f.call(p, round.Request{Op: round.OpTask}); r.Status != round.RespOK || r.Task.Round != 1 {
				t.Fatalf("cohort member got no task: %+v", r)
			}
		} else {
			outsiders = append(outsiders, p)
		}
	}
	if len(cohort) != 6 {
		t.Fatalf("cohort of %d, want 6", len(cohort))
	}
	dim := f.global.Len()
	good := func() []float32 { d := make([]float32, dim); d[0] = 0.5; return d }
	a, b := cohort[0], cohort[1]
	stranger := f.peers[7]

	// Garbage and oversized frames.
	if r := rawSend(t, f, a, []byte{3, 0xff, 0xff, 0xff}); r.Reason != ledger.ReasonMalformed {
		t.Fatalf("garbage: %+v", r)
	}
	if r := rawSend(t, f, a, []byte{0xff, 0xff, 0xff, 0x7f}); r.Reason != ledger.ReasonOversized {
		t.Fatalf("oversized: %+v", r)
	}
	if r := f.call(a, round.Request{Op: "bogus"}); r.Reason != ledger.ReasonMalformed {
		t.Fatalf("unknown op: %+v", r)
	}
	// Unsigned, wrongly signed, wrong job, future round, sender mismatch, bad certificate.
	s := f.update(a, 1, good(), nil)
	s.Sig = nil
	f.expect(a, s, ledger.ReasonBadSig)
	s = f.update(a, 1, good(), nil)
	s.Sig, _ = ledger.SignSubmission(b.key, s.Sub)
	f.expect(a, s, ledger.ReasonBadSig)
	f.expect(a, f.update(a, 1, good(), func(s *ledger.Submission) { s.Job[0] ^= 1 }), ledger.ReasonWrongJob)
	f.expect(a, f.update(a, 2, good(), nil), ledger.ReasonFuture)
	f.expect(b, f.update(a, 1, good(), nil), ledger.ReasonSender)
	s = f.update(a, 1, good(), nil)
	s.Cert = s.Cert[:len(s.Cert)/2]
	f.expect(a, s, ledger.ReasonBadCert)
	f.expect(a, f.update(a, 1, good(), func(s *ledger.Submission) { s.NumExamples = 0 }), ledger.ReasonNoExamples)
	f.expect(a, f.update(a, 1, good(), func(s *ledger.Submission) { s.NumExamples = 1<<64 - 1 }), ledger.ReasonExamples)
	// Not in the cohort: a registered outsider and an unregistered stranger.
	f.expect(outsiders[0], f.update(outsiders[0], 1, good(), nil), ledger.ReasonNotInCohort)
	f.expect(stranger, f.update(stranger, 1, good(), nil), ledger.ReasonNotInCohort)
	// Valid, then a duplicate.
	f.expect(a, f.update(a, 1, good(), nil), "")
	f.expect(a, f.update(a, 1, good(), nil), ledger.ReasonDuplicate)
	f.expect(b, f.update(b, 1, good(), nil), "")
	// Accepted at receipt, rejected when opened: shape, non-finite, norm, hash.
	nan := good()
	nan[1] = float32(math.NaN())
	big := good()
	big[2] = 1e6
	f.expect(cohort[2], f.update(cohort[2], 1, []float32{1, 2, 3}, nil), "")
	f.expect(cohort[3], f.update(cohort[3], 1, nan, nil), "")
	f.expect(cohort[4], f.update(cohort[4], 1, big, nil), "")
	f.expect(cohort[5], f.update(cohort[5], 1, good(), func(s *ledger.Submission) { s.UpdateHash[0] ^= 1 }), "")

	var c1 *ledger.SignedCommitment
	select {
	case c1 = <-f.heads:
	case err := <-f.errc:
		t.Fatal(err)
	}
	if c1.C.Status != ledger.StatusOK {
		t.Fatalf("round 1 %s: %s", c1.C.Status, c1.C.Reason)
	}
	reasons := map[ledger.Reason]int{}
	for _, r := range c1.C.Submissions {
		reasons[r.Reason]++
	}
	for _, want := range []ledger.Reason{ledger.ReasonMalformed, ledger.ReasonOversized, ledger.ReasonBadSig, ledger.ReasonWrongJob,
		ledger.ReasonFuture, ledger.ReasonSender, ledger.ReasonBadCert, ledger.ReasonNoExamples, ledger.ReasonExamples, ledger.ReasonNotInCohort,
		ledger.ReasonDuplicate, ledger.ReasonShape, ledger.ReasonNonFinite, ledger.ReasonNorm, ledger.ReasonHash} {
		if reasons[want] == 0 {
			t.Errorf("reason %q not recorded in the commitment (have %v)", want, reasons)
		}
	}
	if reasons[""] != 2 {
		t.Errorf("%d accepted updates recorded, want 2", reasons[""])
	}
	// Round 2: a replay of round 1, then let the deadline pass with one valid update.
	if _, err := f.srv.WaitFor(f.ctx, func(r uint64, p round.Phase) bool { return r == 2 && p == round.PhaseCollecting }); err != nil {
		t.Fatal(err)
	}
	r1 := c1.C.Submissions[slices.IndexFunc(c1.C.Submissions, func(r ledger.SubmissionRecord) bool { return r.Status == ledger.StatusAccepted })]
	f.expect(f.peerByID(r1.Signed.Sub.Participant), &r1.Signed, ledger.ReasonReplayed)
	f.clk.Advance(5 * time.Second)
	c2 := <-f.heads
	if c2.C.Status != ledger.StatusFailed || c2.C.OutputModel != c2.C.InputModel {
		t.Fatalf("round 2 without quorum: status %s, model changed %v", c2.C.Status, c2.C.OutputModel != c2.C.InputModel)
	}
	// The job is done: a submission for round 2 now is late.
	if err := <-f.errc; err != nil {
		t.Fatal(err)
	}
	f.expect(a, f.update(a, 2, good(), nil), ledger.ReasonLate)

	// The chain audits. Among others, a's submission with a bad certificate
	// came before its accepted one: the record keeps the arrival order, and
	// the audit replays it through the same rules instead of guessing.
	f.audit()
}

// audit audits the coordinator's chain from its current head, as an
// outside auditor would, and fails the test unless it verifies; it returns
// the report.
func (f *fixture) audit() *audit.Report {
	f.t.Helper()
	_, _, head := f.srv.Status()
	rep, err := audit.Run(f.ctx, audit.Config{Get: f.peers[0].st.Get, Head: head})
	if err != nil {
		f.t.Fatal(err)
	}
	if rep.Verdict != audit.VerdictVerified {
		var b strings.Builder
		rep.WriteText(&b)
		f.t.Fatalf("the chain does not verify: %v\n%s", rep.Err(), b.String())
	}
	return rep
}

func (f *fixture) peerByID(id string) *peerT {
	for _, p := range f.peers {
		if p.id() == id {
			return p
		}
	}
	f.t.Fatalf("no peer %s", id)
	return nil
}

// TestParticipantDataMismatchIsFatal: a participant whose data does not fit
// the job's model stops with a PermanentError instead of retrying forever.
func TestParticipantDataMismatchIsFatal(t *testing.T) {
	f := newFixture(t)
	p := f.peers[0]
	bad := &model.Dataset{N: 2, D: 5, Classes: 3, X: make([]float32, 10), Y: []int{0, 1}}
	pt, err := participant.New(participant.Config{Host: p.h, Key: p.key, Coordinator: f.coord, Store: p.st, Data: bad})
	if err != nil {
		t.Fatal(err)
	}
	err = pt.Run(f.ctx)
	var perm *participant.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("got %v, want a PermanentError about the data", err)
	}
}

// TestParticipantFileModelNeedsTrainer: a job whose model is a file (no
// built-in architecture) stops a participant that has no trainer program
// with a PermanentError saying so.
func TestParticipantFileModelNeedsTrainer(t *testing.T) {
	f := newFixtureWith(t, t.TempDir(), func(spec *ledger.JobSpec, _ []string) { spec.Arch = model.ArchFile })
	p := f.peers[0]
	data := &model.Dataset{N: 2, D: 4, Classes: 3, X: make([]float32, 8), Y: []int{0, 1}}
	pt, err := participant.New(participant.Config{Host: p.h, Key: p.key, Coordinator: f.coord, Store: p.st, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	err = pt.Run(f.ctx)
	var perm *participant.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "--trainer") {
		t.Fatalf("got %v, want a PermanentError asking for a trainer", err)
	}
}

// register registers peers and waits for round r to open; it returns the
// cohort members among peers.
func (f *fixture) registerAndWait(peers []*peerT, r uint64) []*peerT {
	f.t.Helper()
	for _, p := range peers {
		if resp := f.call(p, round.Request{Op: round.OpRegister, NumExamples: 10}); resp.Status != round.RespOK {
			f.t.Fatalf("register: %+v", resp)
		}
	}
	ids, err := f.srv.WaitFor(f.ctx, func(got uint64, p round.Phase) bool { return got == r && p == round.PhaseCollecting })
	if err != nil {
		f.t.Fatal(err)
	}
	var cohort []*peerT
	for _, p := range peers {
		if slices.Contains(ids, p.id()) {
			cohort = append(cohort, p)
		}
	}
	return cohort
}

// TestJournalFullStopsAndResumes puts the data directory on a small tmpfs
// and fills it, as a user did: the submission whose journal record does not
// fit is answered with an error, the coordinator stops with the journal's
// error instead of going on, and, with space back, the reopened coordinator
// resumes at the same round with every acknowledged event, commits each
// round once, and the chain verifies.
func TestJournalFullStopsAndResumes(t *testing.T) {
	dir := coordinator.SmallTmpfs(t)
	f := newFixtureIn(t, filepath.Join(dir, "coord"))
	cohort := f.registerAndWait(f.peers[:7], 1)
	dim := f.global.Len()
	good := func() []float32 { d := make([]float32, dim); d[0] = 0.5; return d }
	f.expect(cohort[0], f.update(cohort[0], 1, good(), nil), "")

	// Fill the filesystem.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := filler.Write(make([]byte, 1024)); err != nil {
			break
		}
	}
	filler.Close()
	// The journal file's last page may still have room for a record or two:
	// send duplicates (journaled, like every rejection) until one fails.
	dup := f.update(cohort[0], 1, good(), nil)
	failed := false
	for i := 0; i < 100 && !failed; i++ {
		status, reason := f.submit(cohort[0], dup)
		switch {
		case status == round.RespError:
			failed = true
		case reason != ledger.ReasonDuplicate:
			t.Fatalf("a duplicate was answered %s %q", status, reason)
		}
	}
	if !failed {
		t.Fatal("100 journaled rejections fit on a full filesystem")
	}
	select {
	case err := <-f.errc:
		if !errors.Is(err, coordinator.ErrJournalFailed) {
			t.Fatalf("the coordinator stopped with %v, want a journal failure", err)
		}
	case <-f.ctx.Done():
		t.Fatal("the coordinator did not stop after its journal failed")
	}
	// Every later input is refused too; none is acknowledged.
	if status, _ := f.submit(cohort[1], f.update(cohort[1], 1, good(), nil)); status != round.RespError {
		t.Fatalf("after the journal failed, a submission was answered %s", status)
	}

	// Space returns; the coordinator is restarted.
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if err := f.restart(false); err != nil {
		t.Fatal(err)
	}
	if r, phase, _ := f.srv.Status(); r != 1 || phase != round.PhaseCollecting {
		t.Fatalf("restarted at round %d %s, want round 1 collecting", r, phase)
	}
	// The acknowledged submission is still there; the refused ones are not.
	f.expect(cohort[0], f.update(cohort[0], 1, good(), nil), ledger.ReasonDuplicate)
	for _, p := range cohort[1:] {
		f.expect(p, f.update(p, 1, good(), nil), "")
	}
	c1 := <-f.heads
	// Round 2: restart again mid-round, then finish the job.
	ids2, err := f.srv.WaitFor(f.ctx, func(r uint64, p round.Phase) bool { return r == 2 && p == round.PhaseCollecting })
	if err != nil {
		t.Fatal(err)
	}
	if err := f.restart(true); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids2[:2] {
		p := f.peerByID(id)
		f.expect(p, f.update(p, 2, good(), nil), "")
	}
	f.clk.Advance(5 * time.Second)
	c2 := <-f.heads
	if err := <-f.errc; err != nil {
		t.Fatal(err)
	}
	if c1.C.Round != 1 || c2.C.Round != 2 || c2.C.Prev == c1.C.Prev {
		t.Fatalf("commitments of rounds %d and %d", c1.C.Round, c2.C.Round)
	}
	if rep := f.audit(); len(rep.Rounds) != 2 {
		t.Fatalf("the chain has %d rounds, want 2", len(rep.Rounds))
	}
}

// TestLostJournalIsRefused: a data directory whose job has committed
// rounds but whose journal was lost is refused, naming the head, instead of
// starting the job again; the head file is rewritten when the coordinator
// opens.
func TestLostJournalIsRefused(t *testing.T) {
	dataDir := t.TempDir()
	f := newFixtureIn(t, dataDir)
	headFile := filepath.Join(t.TempDir(), "head")
	f.cfg.HeadFile = headFile
	cohort := f.registerAndWait(f.peers[:7], 1)
	dim := f.global.Len()
	good := func() []float32 { d := make([]float32, dim); d[0] = 0.5; return d }
	for _, p := range cohort {
		f.expect(p, f.update(p, 1, good(), nil), "")
	}
	<-f.heads
	if _, err := f.srv.WaitFor(f.ctx, func(r uint64, p round.Phase) bool { return r == 2 }); err != nil {
		t.Fatal(err)
	}
	_, _, head := f.srv.Status()
	// Reopening rewrites the head file (the first run had no head file).
	if err := f.restart(true); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(headFile); err != nil || strings.TrimSpace(string(b)) != ledger.Hash(head).String() {
		t.Fatalf("head file after restart: %q %v, want %s", b, err, ledger.Hash(head))
	}
	f.stopRun()
	<-f.errc
	f.srv.Close()
	for _, lose := range []func(string) error{
		func(p string) error { return os.Truncate(p, 0) },
		os.Remove,
	} {
		if err := lose(filepath.Join(dataDir, "journal")); err != nil {
			t.Fatal(err)
		}
		err := f.open()
		if !errors.Is(err, coordinator.ErrJournalLost) || !strings.Contains(err.Error(), ledger.Hash(head).String()) {
			t.Fatalf("reopening without the journal: %v; want ErrJournalLost naming head %s", err, ledger.Hash(head))
		}
	}
}

// TestOutsidersCostNothing: a peer that is not registered sends 24
// submissions of about 1 MiB with junk signatures (as an outside tester
// did, which grew a commitment to 25 MB and made the chain unreadable):
// each is answered, none is journaled or recorded. A registered peer's junk
// is recorded compacted. The round's commitment stays small and the chain
// verifies.
func TestOutsidersCostNothing(t *testing.T) {
	dataDir := t.TempDir()
	f := newFixtureIn(t, dataDir)
	cohort := f.registerAndWait(f.peers[:7], 1)
	var outsider *peerT
	for _, p := range f.peers[:7] {
		if !slices.Contains(cohort, p) {
			outsider = p
		}
	}
	stranger := f.peers[7]
	journal := filepath.Join(dataDir, "journal")
	before, err := os.Stat(journal)
	if err != nil {
		t.Fatal(err)
	}
	dim := f.global.Len()
	good := func() []float32 { d := make([]float32, dim); d[0] = 0.5; return d }
	junk := make([]byte, 1000<<10)
	for i := 0; i < 24; i++ {
		s := f.update(stranger, 1, good(), nil)
		s.Sig = append(s.Sig, junk...)
		f.expect(stranger, s, ledger.ReasonBadSig)
	}
	after, err := os.Stat(journal)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != before.Size() {
		t.Fatalf("an unregistered peer's submissions grew the journal by %d bytes", after.Size()-before.Size())
	}
	for i := 0; i < 5; i++ {
		s := f.update(outsider, 1, good(), nil)
		s.Sig = append(s.Sig, junk...)
		f.expect(outsider, s, ledger.ReasonBadSig)
	}
	grown, _ := os.Stat(journal)
	if d := grown.Size() - after.Size(); d > 5*4096 {
		t.Fatalf("5 junk submissions of a registered peer grew the journal by %d bytes", d)
	}
	for _, p := range cohort {
		f.expect(p, f.update(p, 1, good(), nil), "")
	}
	c1 := <-f.heads
	rec, err := ledger.EncodeCommitment(c1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) > 64<<10 {
		t.Fatalf("round 1's commitment is %d bytes", len(rec))
	}
	for _, r := range c1.C.Submissions {
		if r.Signed.Sub.Participant == stranger.id() {
			t.Fatal("an unregistered peer's submission was recorded")
		}
	}
	f.audit()
}

// TestAdmission: with an allow-list, a registration cap and an examples
// bound, refused registrations are answered through the protocol with their
// reason, and the job runs with the admitted peers.
func TestAdmission(t *testing.T) {
	f := newFixtureWith(t, t.TempDir(), func(spec *ledger.JobSpec, peers []string) {
		spec.AllowList = slices.Sorted(slices.Values(peers[:7]))
		spec.MaxRegistrations, spec.MaxExamples = 7, 100
	})
	if r := f.call(f.peers[7], round.Request{Op: round.OpRegister, NumExamples: 10}); r.Status != round.RespRejected || r.Reason != ledger.ReasonNotAdmitted {
		t.Fatalf("a peer outside the allow-list: %+v", r)
	}
	if r := f.call(f.peers[0], round.Request{Op: round.OpRegister, NumExamples: 101}); r.Status != round.RespRejected || r.Reason != ledger.ReasonExamples {
		t.Fatalf("a claim above the examples bound: %+v", r)
	}
	if cohort := f.registerAndWait(f.peers[:7], 1); len(cohort) != 6 {
		t.Fatalf("cohort of %d", len(cohort))
	}
}

// TestSlowStreamsFromManyIdentities: once the cohort is drawn, 140 fresh
// identities each open 4 round-protocol streams and send nothing (as 40
// did, past the protocol's stream cap, so that honest participants got
// "stream reset"). Each stranger keeps at most 2 open, all together at most
// 256; the rest are reset at once, and the cohort's tasks and submissions go
// through. (A newcomer's registration competes with strangers for the
// outsiders' streams, each held at most requestTimeout; participants retry.)
func TestSlowStreamsFromManyIdentities(t *testing.T) {
	f := newFixture(t)
	cohort := f.registerAndWait(f.peers[:7], 1)
	var strangers []host.Host
	for i := 0; i < 140; i++ {
		h, err := f.mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		strangers = append(strangers, h)
	}
	if err := f.mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	var open []network.Stream
	for _, h := range strangers {
		h.Peerstore().AddAddrs(f.coord.ID, f.coord.Addrs, time.Hour)
		for j := 0; j < 4; j++ {
			st, err := h.NewStream(f.ctx, f.coord.ID, transport.ProtoRound)
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, st)
		}
	}
	// A stream the coordinator reset reads an error at once; one it keeps
	// open blocks until its request timeout. Read them all at once, count
	// the errors that came within a second, then reset every stream (which
	// ends the reads still blocked) and join the readers.
	errs := make(chan struct{}, len(open))
	var wg sync.WaitGroup
	for _, st := range open {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Read(make([]byte, 1)); err != nil {
				errs <- struct{}{}
			}
		}()
	}
	reset := 0
	for deadline := time.After(time.Second); reset < len(open); reset++ {
		select {
		case <-errs:
			continue
		case <-deadline:
		}
		break
	}
	if kept := len(open) - reset; kept > coordinator.MaxOutsiderStreams {
		t.Fatalf("%d slow streams of strangers kept open, limit %d", kept, coordinator.MaxOutsiderStreams)
	}
	dim := f.global.Len()
	good := func() []float32 { d := make([]float32, dim); d[0] = 0.5; return d }
	for _, p := range cohort {
		if r := f.call(p, round.Request{Op: round.OpTask}); r.Status != round.RespOK {
			t.Fatalf("a cohort member's task during the flood: %+v", r)
		}
		f.expect(p, f.update(p, 1, good(), nil), "")
	}
	if c := <-f.heads; c.C.Status != ledger.StatusOK {
		t.Fatalf("round 1 %s: %s", c.C.Status, c.C.Reason)
	}
	for _, st := range open {
		st.Reset()
	}
	wg.Wait()
}

// TestUpdateSizeBound: a cohort member that certifies a 30 MiB blob for a
// model of a few hundred bytes (as one did, with 300 MiB, and the
// coordinator downloaded all of it before rejecting it) is refused: a
// declared size above the job's bound at receipt, a blob longer than its
// declared size when the round closes, before its bytes are read.
func TestUpdateSizeBound(t *testing.T) {
	f := newFixture(t)
	job := f.srv.Job().Job
	if job.MaxUpdateBytes == 0 || job.MaxUpdateBytes > 1<<20 {
		t.Fatalf("the job's update bound is %d bytes for a %d-parameter model", job.MaxUpdateBytes, f.global.Len())
	}
	cohort := f.registerAndWait(f.peers[:7], 1)
	dim := f.global.Len()
	good := func() []float32 { d := make([]float32, dim); d[0] = 0.5; return d }
	a, b := cohort[0], cohort[1]
	f.expect(a, f.update(a, 1, good(), func(s *ledger.Submission) { s.UpdateSize = job.MaxUpdateBytes + 1 }), ledger.ReasonUpdateSize)
	f.expect(a, f.update(a, 1, good(), func(s *ledger.Submission) { s.UpdateSize = 0 }), ledger.ReasonUpdateSize)
	// b stores a 30 MiB blob and declares a plausible size.
	big := make([]byte, 30<<20)
	id, cert, err := b.st.Put(f.ctx, big, 0)
	if err != nil {
		t.Fatal(err)
	}
	sub := ledger.Submission{Job: job.ID(), Round: 1, Participant: b.id(), Blob: id, UpdateHash: ledger.Sum(big), NumExamples: 10, UpdateSize: 1000}
	sig, err := ledger.SignSubmission(b.key, sub)
	if err != nil {
		t.Fatal(err)
	}
	f.expect(b, &ledger.SignedSubmission{Sub: sub, Sig: sig, Cert: cert}, "")
	for _, p := range cohort {
		if p != b {
			f.expect(p, f.update(p, 1, good(), nil), "")
		}
	}
	c1 := <-f.heads
	recorded := false
	for _, r := range c1.C.Submissions {
		if r.Signed.Sub.Participant == b.id() {
			recorded = true
			if r.Status != ledger.StatusRejected || r.Reason != ledger.ReasonSizeMismatch {
				t.Fatalf("the 30 MiB update: %s %q, want rejected %q", r.Status, r.Reason, ledger.ReasonSizeMismatch)
			}
		}
	}
	if !recorded {
		t.Fatal("the 30 MiB update is not recorded")
	}
	f.audit()
}

// TestRequestRateLimit: a registered peer that sends requests faster than
// ParticipantRate (past its burst) is answered "rate limited", and the
// requests it may still send go through.
func TestRequestRateLimit(t *testing.T) {
	f := newFixture(t)
	p := f.peers[0]
	if r := f.call(p, round.Request{Op: round.OpRegister, NumExamples: 10}); r.Status != round.RespOK {
		t.Fatalf("register: %+v", r)
	}
	var limited, ok atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < coordinator.MaxStreamsPerParticipant; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				r, err := participant.Call(f.ctx, p.h, f.coord, round.Request{Op: round.OpHello})
				switch {
				case err != nil:
				case r.Status == round.RespError && strings.HasPrefix(string(r.Reason), "rate limited"):
					limited.Add(1)
				case r.Status == round.RespOK:
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if limited.Load() == 0 || ok.Load() < coordinator.ParticipantBurst {
		t.Fatalf("%d requests in a burst: %d served, %d rate limited; want the burst served and the rest limited", 8*50, ok.Load(), limited.Load())
	}
}

// fakeEvaluator stands in for an evaluator program.
type fakeEvaluator struct {
	fail  bool
	calls atomic.Int64
}

func (e *fakeEvaluator) Evaluate(_ context.Context, p *model.Params, _ *model.Dataset) (*model.Result, error) {
	e.calls.Add(1)
	if e.fail {
		return nil, errors.New("evaluator crashed")
	}
	return &model.Result{Metrics: map[string]float64{"accuracy": 0.75, "loss": float64(p.Len())}}, nil
}

// TestEvaluatorProgram: the coordinator evaluates each new model with its
// evaluator (any model: no built-in architecture needed) and records the
// figures in the commitment; a failing evaluator leaves the round without
// metrics and does not hold up the job.
func TestEvaluatorProgram(t *testing.T) {
	for _, fail := range []bool{false, true} {
		f := newFixture(t)
		ev := &fakeEvaluator{fail: fail}
		f.cfg.Evaluator = ev
		if err := f.restart(true); err != nil {
			t.Fatal(err)
		}
		cohort := f.registerAndWait(f.peers[:7], 1)
		dim := f.global.Len()
		for _, p := range cohort {
			d := make([]float32, dim)
			d[0] = 0.5
			f.expect(p, f.update(p, 1, d, nil), "")
		}
		c1 := <-f.heads
		want := []ledger.Metric{{Name: "accuracy", Value: "0.75"}, {Name: "loss", Value: strconv.Itoa(dim)}}
		if fail {
			want = nil
		}
		if c1.C.Status != ledger.StatusOK || !slices.Equal(c1.C.Metrics, want) {
			t.Fatalf("failing evaluator %v: round 1 %s, metrics %v, want %v", fail, c1.C.Status, c1.C.Metrics, want)
		}
		if fail && ev.calls.Load() != 3 {
			t.Fatalf("a failing evaluator was called %d times, want 3", ev.calls.Load())
		}
	}
}
