package coordinator

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/floe-fl/floe/clock"
	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/seal"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Store is the blob store as the coordinator and participants use it.
type Store interface {
	// Put stores data and returns its ID and availability certificate (CBOR).
	Put(ctx context.Context, data []byte, lifetime time.Duration) (ledger.BlobID, []byte, error)
	Get(ctx context.Context, id ledger.BlobID) ([]byte, error)
	// VerifyCert checks a certificate for the blob id.
	VerifyCert(id ledger.BlobID, cert []byte) error
}

// RecipientName is the coordinator's name in a job's recipient list.
const RecipientName = "coordinator"

// Config configures a Server.
type Config struct {
	Host    host.Host
	Key     crypto.PrivKey // the host's identity: signs the job and commitments
	HPKE    *seal.Key      // opens sealed updates (privacy "sealed")
	Store   Store
	DataDir string // journal and job record
	Clock   clock.Clock
	Eval    *model.Dataset // held-out set for metrics; nil for none
	Logger  *slog.Logger
	// OnCommit, if set, is called after each round is committed.
	OnCommit func(c *ledger.SignedCommitment, head ledger.BlobID)
	// Fault, if set, is asked at each fault point of a round (FaultClosed:
	// closed and journaled, nothing aggregated; FaultStored: the commitment
	// blob is stored but the commit not journaled); when it answers true, Run
	// stops there with ErrCrashed, as if the process died. Simulations use it;
	// it is nil in production.
	Fault func(point string, round uint64) bool
}

// Fault points.
const (
	FaultClosed = "closed"
	FaultStored = "stored"
)

// ErrCrashed is returned by Run when Config.Fault simulated a crash.
var ErrCrashed = errors.New("coordinator: simulated crash")

// Server drives a Core: it serves the round protocol, journals events and does
// the I/O of closing rounds. Goroutines: Run's loop (owns closing rounds) and
// one per inbound stream (handled under mu).
type Server struct {
	cfg     Config
	journal *Journal
	jobRec  []byte

	closed    chan struct{} // closed by Close: wakes long polls
	closeOnce sync.Once

	mu      sync.Mutex // guards the following
	core    *Core
	changed chan struct{} // closed and replaced on every state change
	model   []byte        // bytes of core.Model, when known
}

// CreateJob builds, signs and stores a job: the initial model and the job
// record. It is called once, on a data directory without a job.
func CreateJob(ctx context.Context, st Store, key crypto.PrivKey, spec ledger.JobSpec, initial []byte) (*ledger.SignedJob, ledger.BlobID, []byte, error) {
	id, _, err := st.Put(ctx, initial, 0)
	if err != nil {
		return nil, ledger.BlobID{}, nil, fmt.Errorf("coordinator: store initial model: %w", err)
	}
	spec.InitialModel, spec.InitialModelHash = id, ledger.Sum(initial)
	sj, err := ledger.SignJob(key, spec)
	if err != nil {
		return nil, ledger.BlobID{}, nil, err
	}
	rec, err := ledger.EncodeJob(sj)
	if err != nil {
		return nil, ledger.BlobID{}, nil, err
	}
	jb, _, err := st.Put(ctx, rec, 0)
	if err != nil {
		return nil, ledger.BlobID{}, nil, fmt.Errorf("coordinator: store job: %w", err)
	}
	return sj, jb, rec, nil
}

// jobFile is the on-disk job record: the job blob ID followed by the record bytes.
const jobFile = "job"

// Open starts (or resumes) the job in cfg.DataDir. newJob is called only when
// the directory holds no job yet, to create one.
func Open(ctx context.Context, cfg Config, newJob func() (ledger.JobSpec, []byte, error)) (*Server, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	jp := filepath.Join(cfg.DataDir, jobFile)
	raw, err := os.ReadFile(jp)
	var (
		sj   *ledger.SignedJob
		jb   ledger.BlobID
		jrec []byte
	)
	switch {
	case errors.Is(err, os.ErrNotExist):
		spec, initial, err := newJob()
		if err != nil {
			return nil, err
		}
		sj, jb, jrec, err = CreateJob(ctx, cfg.Store, cfg.Key, spec, initial)
		if err != nil {
			return nil, err
		}
		if err := writeFileSync(jp, append(jb[:], jrec...)); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("coordinator: %w", err)
	default:
		if len(raw) < 33 {
			return nil, fmt.Errorf("coordinator: job file %s is truncated", jp)
		}
		copy(jb[:], raw[:32])
		jrec = raw[32:]
		j, _, err := ledger.Decode(jrec)
		if err != nil || j == nil {
			return nil, fmt.Errorf("coordinator: job file %s: not a job record (%v)", jp, err)
		}
		sj = j
	}
	me, _ := peer.IDFromPrivateKey(cfg.Key)
	if sj.Job.Coordinator != me.String() {
		return nil, fmt.Errorf("coordinator: job in %s belongs to coordinator %s, this key is %s", cfg.DataDir, sj.Job.Coordinator, me)
	}
	s := &Server{cfg: cfg, jobRec: jrec, changed: make(chan struct{}), closed: make(chan struct{})}
	s.core = NewCore(sj, jb, cfg.Store.VerifyCert)
	j, evs, err := OpenJournal(filepath.Join(cfg.DataDir, "journal"))
	if err != nil {
		return nil, err
	}
	for i, ev := range evs {
		if _, err := s.core.Apply(ev); err != nil {
			j.Close()
			return nil, fmt.Errorf("coordinator: journal event %d: %w", i, err)
		}
	}
	s.journal = j
	cfg.Host.SetStreamHandler(transport.ProtoRound, s.handle)
	return s, nil
}

func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("coordinator: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("coordinator: %w", err)
	}
	f.Close()
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	return transport.SyncDir(filepath.Dir(path))
}

// JobBlob returns the blob ID of the job record (the chain's root).
func (s *Server) JobBlob() ledger.BlobID { return s.core.JobBlob }

// Job returns the signed job.
func (s *Server) Job() *ledger.SignedJob { return s.core.Job }

// Status reports the current round, phase and chain head.
func (s *Server) Status() (round uint64, phase Phase, head ledger.BlobID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.core.Round, s.core.Phase, s.core.Head
}

// Close stops serving and closes the journal.
func (s *Server) Close() error {
	s.cfg.Host.RemoveStreamHandler(transport.ProtoRound)
	s.closeOnce.Do(func() { close(s.closed) })
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.journal.Close()
}

// stepLocked journals ev, then applies it.
func (s *Server) stepLocked(ev Event) (string, error) {
	if err := s.journal.Append(ev); err != nil {
		return "", err
	}
	reason, err := s.core.Apply(ev)
	if err != nil {
		return "", err
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return reason, nil
}

func (s *Server) nowMillis() uint64 { return uint64(s.cfg.Clock.Now().UnixMilli()) }

// Run drives rounds until the job is done or ctx ends.
func (s *Server) Run(ctx context.Context) error {
	for {
		s.mu.Lock()
		c := s.core
		if c.Phase == PhaseDone {
			s.mu.Unlock()
			return nil
		}
		now := s.nowMillis()
		var err error
		switch {
		case c.ShouldStart():
			_, err = s.stepLocked(Event{Kind: EvStartRound, Round: c.Round + 1, Millis: now, Candidates: c.SortedCandidates()})
			if err == nil {
				s.cfg.Logger.Info("round started", "round", c.Round, "cohort", len(c.Cohort))
			}
		case c.ShouldClose(now):
			_, err = s.stepLocked(Event{Kind: EvClose, Round: c.Round, Millis: now})
		}
		if err != nil {
			s.mu.Unlock()
			return err
		}
		if c.Phase == PhaseClosing {
			s.mu.Unlock()
			if err := s.closeRound(ctx); err != nil {
				return err
			}
			continue
		}
		changed := s.changed
		var timer <-chan time.Time
		if c.Phase == PhaseCollecting && c.DeadlineMillis > now {
			// Absolute: the clock may move between reading now and here.
			timer = s.cfg.Clock.Until(time.UnixMilli(int64(c.DeadlineMillis)))
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-timer:
		}
	}
}

// retry runs fn until it succeeds or ctx ends, backing off between attempts.
func retry[T any](ctx context.Context, log *slog.Logger, what string, fn func() (T, error)) (T, error) {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		v, err := fn()
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return v, ctx.Err()
		}
		log.Warn("retrying", "what", what, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// NoiseSeed derives round r's DP noise seed from the coordinator's key: it is
// unpredictable to others before the round and committed with it.
func NoiseSeed(key crypto.PrivKey, job ledger.Hash, round uint64) (ledger.Hash, error) {
	sig, err := key.Sign(append([]byte("floe/noise/v1\x00"+strconv.FormatUint(round, 10)+"\x00"), job[:]...))
	if err != nil {
		return ledger.Hash{}, err
	}
	return sha256.Sum256(sig), nil
}

// closeRound aggregates the closed round, stores the model and the signed
// commitment, and journals the commit. Rerun after a crash, it produces the
// same bytes: every input is in the journal.
func (s *Server) closeRound(ctx context.Context) error {
	s.mu.Lock()
	c := s.core
	job := &c.Job.Job
	round, subs := c.Round, c.AcceptedSorted()
	rejected := append([]ledger.SubmissionRecord(nil), c.Rejected...)
	dropped := c.DroppedRejects
	modelID, modelHash, stateID := c.Model, c.ModelHash, c.StateBlob
	head, seed, cands, cohort, closeMs := c.Head, c.Seed, c.Candidates, c.Cohort, c.CloseMillis
	cached := s.model
	s.mu.Unlock()
	log := s.cfg.Logger
	if s.cfg.Fault != nil && s.cfg.Fault(FaultClosed, round) {
		return ErrCrashed
	}

	global := cached
	if global == nil || ledger.Sum(global) != modelHash {
		var err error
		global, err = retry(ctx, log, "fetch model", func() ([]byte, error) { return s.cfg.Store.Get(ctx, modelID) })
		if err != nil {
			return err
		}
		if ledger.Sum(global) != modelHash {
			return fmt.Errorf("coordinator: model blob of round %d does not match its hash", round)
		}
	}
	var state []byte
	if stateID != (ledger.BlobID{}) {
		var err error
		state, err = retry(ctx, log, "fetch state", func() ([]byte, error) { return s.cfg.Store.Get(ctx, stateID) })
		if err != nil {
			return err
		}
	}
	noise, err := NoiseSeed(s.cfg.Key, c.JobID, round)
	if err != nil {
		return err
	}
	out, err := Fold(ctx, FoldInput{Job: job, Round: round, Global: global, State: state, NoiseSeed: noise, Subs: subs}, s.open)
	if err != nil {
		return err
	}
	cm := ledger.Commitment{
		Version: ledger.Version, Job: c.JobID, Round: round, Prev: head,
		InputModel: modelID, InputModelHash: modelHash,
		CohortSeed: seed, Candidates: cands, Cohort: cohort,
		Submissions: append(out.Records, rejected...), Rule: job.Aggregation,
		Status: out.Status, Reason: out.Reason, TimeMillis: closeMs, DroppedRejects: dropped,
		OutputModel: modelID, OutputModelHash: modelHash, StateBlob: stateID,
	}
	if out.Status == ledger.StatusOK {
		cm.NoiseSeed = noise
		cm.OutputModelHash = ledger.Sum(out.Model)
		cm.OutputModel, err = s.put(ctx, "store model", out.Model)
		if err != nil {
			return err
		}
		if len(out.State) > 0 {
			cm.StateHash = ledger.Sum(out.State)
			cm.StateBlob, err = s.put(ctx, "store state", out.State)
			if err != nil {
				return err
			}
		}
		if s.cfg.Eval != nil {
			cm.Metrics, err = evaluate(job.Arch, out.Model, s.cfg.Eval)
			if err != nil {
				return err
			}
		}
	}
	sc, err := ledger.SignCommitment(s.cfg.Key, cm)
	if err != nil {
		return err
	}
	rec, err := ledger.EncodeCommitment(sc)
	if err != nil {
		return err
	}
	newHead, err := s.put(ctx, "store commitment", rec)
	if err != nil {
		return err
	}
	if s.cfg.Fault != nil && s.cfg.Fault(FaultStored, round) {
		return ErrCrashed
	}
	s.mu.Lock()
	_, err = s.stepLocked(Event{Kind: EvCommit, Round: round, Commit: &CommitInfo{Head: newHead, Model: cm.OutputModel, ModelHash: cm.OutputModelHash, StateBlob: cm.StateBlob}})
	if err == nil {
		s.model = out.Model
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	log.Info("round committed", "round", round, "status", out.Status, "valid", out.Valid, "head", ledger.Hash(newHead).String())
	if s.cfg.OnCommit != nil {
		s.cfg.OnCommit(sc, newHead)
	}
	return nil
}

// put stores b (kept forever), retrying until it succeeds or ctx ends.
func (s *Server) put(ctx context.Context, what string, b []byte) (ledger.BlobID, error) {
	return retry(ctx, s.cfg.Logger, what, func() (ledger.BlobID, error) {
		id, _, err := s.cfg.Store.Put(ctx, b, 0)
		return id, err
	})
}

// evaluate computes the metrics of a model file on the held-out set.
func evaluate(arch string, file []byte, d *model.Dataset) ([]ledger.Metric, error) {
	a, err := model.ParseArch(arch)
	if err != nil {
		return nil, err
	}
	if a, err = a.ForData(d); err != nil {
		return nil, err
	}
	p, _, err := model.UnmarshalSafetensors(file)
	if err != nil {
		return nil, err
	}
	loss, acc, err := model.Evaluate(a, p, d)
	if err != nil {
		return nil, err
	}
	return []ledger.Metric{
		{Name: "accuracy", Value: strconv.FormatFloat(acc, 'g', 6, 64)},
		{Name: "loss", Value: strconv.FormatFloat(loss, 'g', 6, 64)},
	}, nil
}

// open is the coordinator's Opener: fetch the update blob and, in sealed
// mode, decrypt it as a recipient.
func (s *Server) open(ctx context.Context, sub *ledger.SignedSubmission) ([]byte, string, error) {
	var b []byte
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if b, err = s.cfg.Store.Get(ctx, sub.Sub.Blob); err == nil || ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return nil, "", ctx.Err()
	}
	if err != nil {
		return nil, ReasonBlobMissing, nil
	}
	return OpenUpdate(&s.core.Job.Job, sub, b, RecipientName, s.cfg.HPKE)
}

// OpenUpdate turns a stored update blob into the plaintext update file: in
// sealed mode it decrypts as recipient name with key (an error when key is nil).
func OpenUpdate(job *ledger.JobSpec, sub *ledger.SignedSubmission, blob []byte, name string, key *seal.Key) ([]byte, string, error) {
	if job.Privacy != "sealed" {
		return blob, "", nil
	}
	if key == nil {
		return nil, "", fmt.Errorf("coordinator: no HPKE key to open sealed updates")
	}
	pt, err := seal.Open(blob, name, key, seal.AAD(job.ID(), sub.Sub.Round, sub.Sub.Participant))
	if err != nil {
		return nil, ReasonBadUpdate, nil
	}
	return pt, "", nil
}

// handle serves one round-protocol stream: one request, one response.
func (s *Server) handle(st network.Stream) {
	defer st.Close()
	sender := st.Conn().RemotePeer().String()
	st.SetReadDeadline(time.Now().Add(30 * time.Second))
	var req Request
	resp := s.serve(st, sender, &req)
	st.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := codec.WriteMsg(st, resp); err != nil {
		st.Reset()
	}
}

func (s *Server) serve(st network.Stream, sender string, req *Request) Response {
	if err := codec.ReadMsg(st, MaxRequestSize, req); err != nil {
		reason := ReasonMalformed
		if errors.Is(err, codec.ErrMessageTooLarge) {
			reason = ReasonOversized
		}
		s.mu.Lock()
		_, jerr := s.stepLocked(Event{Kind: EvReject, Peer: sender, Reason: reason})
		s.mu.Unlock()
		if jerr != nil {
			return Response{Status: RespError, Reason: "journal unavailable"}
		}
		return Response{Status: RespRejected, Reason: reason}
	}
	switch req.Op {
	case OpHello:
		return Response{Status: RespOK, Job: s.jobRec, JobBlob: s.core.JobBlob}
	case OpRegister:
		if req.NumExamples == 0 {
			return Response{Status: RespRejected, Reason: ReasonNoExamples}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.core.Registered[sender] != req.NumExamples {
			if _, err := s.stepLocked(Event{Kind: EvRegister, Peer: sender, NumExamples: req.NumExamples}); err != nil {
				return Response{Status: RespError, Reason: "journal unavailable"}
			}
		}
		return Response{Status: RespOK, Job: s.jobRec, JobBlob: s.core.JobBlob, Head: s.core.Head, Round: s.core.Round}
	case OpTask:
		return s.task(sender, req.AfterRound)
	case OpSubmit:
		if req.Sub == nil {
			return Response{Status: RespRejected, Reason: ReasonMalformed}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		reason, err := s.stepLocked(Event{Kind: EvSubmit, Peer: sender, Millis: s.nowMillis(), Sub: req.Sub})
		if err != nil {
			return Response{Status: RespError, Reason: "journal unavailable"}
		}
		if reason != "" {
			return Response{Status: RespRejected, Reason: reason}
		}
		return Response{Status: RespOK, Round: req.Sub.Sub.Round}
	}
	return Response{Status: RespRejected, Reason: ReasonMalformed}
}

// taskPoll bounds how long a task request waits for a round (wall time; it
// only decides when a participant asks again, never an outcome).
const taskPoll = 10 * time.Second

func (s *Server) task(sender string, after uint64) Response {
	deadline := time.After(taskPoll)
	for {
		s.mu.Lock()
		c := s.core
		if c.Phase == PhaseDone {
			s.mu.Unlock()
			return Response{Status: RespDone, Head: c.Head, Round: c.Round}
		}
		if c.Round > after && c.InCohort(sender) {
			if _, submitted := c.Accepted[sender]; !submitted {
				t := &Task{Round: c.Round, Model: c.Model, ModelHash: c.ModelHash, DeadlineMillis: c.DeadlineMillis}
				s.mu.Unlock()
				return Response{Status: RespOK, Task: t, Round: t.Round}
			}
		}
		changed, round := s.changed, c.Round
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			return Response{Status: RespWait, Round: round}
		case <-s.closed:
			return Response{Status: RespError, Reason: "coordinator shutting down"}
		}
	}
}

// WaitFor blocks until cond holds for the current round and phase, or ctx
// ends. It returns the round's cohort at that moment.
func (s *Server) WaitFor(ctx context.Context, cond func(round uint64, phase Phase) bool) ([]string, error) {
	for {
		s.mu.Lock()
		ok := cond(s.core.Round, s.core.Phase)
		cohort, changed := append([]string(nil), s.core.Cohort...), s.changed
		s.mu.Unlock()
		if ok {
			return cohort, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}
