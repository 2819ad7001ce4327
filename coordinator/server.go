package coordinator

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/floe-fl/floe/atomicfile"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/clock"
	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/internal/prefetch"
	"github.com/floe-fl/floe/job"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/seal"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
)

// RecipientName is the coordinator's name in a job's recipient list.
const RecipientName = "coordinator"

// Config configures a Server.
type Config struct {
	Host    host.Host
	Key     crypto.PrivKey // the host's identity: signs the job and commitments
	HPKE    *seal.Key      // opens sealed updates (privacy "sealed")
	Store   blob.Store
	DataDir string // journal and job record
	Clock   clock.Clock
	Eval    *model.Dataset // held-out set for metrics of built-in architectures; nil for none
	// Evaluator, if set, evaluates every new model instead of the built-in
	// evaluation (an evaluator program: model.NewResidentTrainer), on Eval
	// when set, else on data of its own.
	Evaluator Evaluator
	// HeadFile, if set, is rewritten with the chain head when the server
	// opens and after every commit.
	HeadFile string
	Logger   *slog.Logger
	// OnCommit, if set, is called after each round is committed.
	OnCommit func(c *ledger.SignedCommitment, head ledger.BlobID)
	// Metrics, if set, receives the coordinator's metrics (README: Metrics);
	// nil: none.
	Metrics prometheus.Registerer
	// PrefetchBytes bounds the update bytes a fold fetches and opens ahead
	// of the update it folds (0: prefetch.Budget, 64 MiB): memory for
	// overlap. Updates larger than it are fetched one at a time.
	PrefetchBytes uint64
	// EarlyFetchBytes, when not 0, has the coordinator fetch, open and
	// check each accepted update of a sealed or plain round as it arrives,
	// into files of DataDir/early (0600, removed once the round is folded),
	// up to this many bytes a round; the fold reads them from there. The
	// round then ends sooner after its last submission; disk use is at most
	// this much. 0: updates are fetched by the fold.
	EarlyFetchBytes uint64
}

// Server drives a round.Machine: it serves the round protocol, journals
// events and does the I/O of closing rounds. Goroutines: Run's loop (owns
// folding and committing) and one per inbound stream (each takes mu to step
// the machine, persist and reply).
type Server struct {
	cfg     Config
	jobRec  []byte
	signed  *ledger.SignedJob
	journal *Journal
	metrics *serverMetrics // nil: none

	closed    chan struct{} // closed by Close: wakes long polls
	closeOnce sync.Once

	limits limiter // request rates; guards itself

	streamsMu sync.Mutex     // guards the following
	streams   map[string]int // open round-protocol streams by peer
	outsiders int            // open streams of peers that are not registered
	resets    uint64         // streams reset for a limit

	mu      sync.Mutex // guards the following
	m       *round.Machine
	changed chan struct{} // closed and replaced on every state change
	failed  error         // a journal failure: the server stops
	fold    *round.FoldTask
	commit  *ledger.Commitment
	model   []byte // bytes of the current input model, when known
	pending []byte // bytes of the folded round's output model

	early *earlyFetch // nil: no early fetch

	recent     []RoundSummary // the last MaxRecentRounds commits, oldest first
	lastPhase  round.Phase    // the phase Run saw last, since phaseSince
	phaseSince time.Time
	roundSince time.Time     // when Run saw the current round collecting
	foldTook   time.Duration // the last fold's duration
}

// CreateJob builds, signs and stores a job: the initial model and the job
// record. It is called once, on a data directory without a job.
func CreateJob(ctx context.Context, st blob.Store, key crypto.PrivKey, spec ledger.JobSpec, initial []byte) (*ledger.SignedJob, ledger.BlobID, []byte, error) {
	if err := round.PrepareSecAgg(&spec, initial); err != nil {
		return nil, ledger.BlobID{}, nil, fmt.Errorf("coordinator: %w", err)
	}
	if err := job.CheckSpec(&spec); err != nil {
		return nil, ledger.BlobID{}, nil, fmt.Errorf("coordinator: %w", err)
	}
	if spec.MaxUpdateBytes == 0 {
		spec.MaxUpdateBytes = spec.UpdateBytesBound(len(initial))
	}
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

// Files of the data directory.
const (
	jobFile     = "job"     // the job blob ID followed by the record bytes
	journalFile = "journal" // the event journal
	headFile    = "head"    // the last committed head, text form
)

// ErrJournalLost reports a data directory whose job has committed rounds but
// whose journal is missing or empty: starting over would commit those rounds
// again under new heads.
var ErrJournalLost = errors.New("coordinator: journal lost")

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
	jnl := filepath.Join(cfg.DataDir, journalFile)
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
		// A journal left from another job would be replayed into this one.
		if err := os.Remove(jnl); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("coordinator: %w", err)
		}
		if err := atomicfile.WriteFile(jp, append(jb[:], jrec...), 0o600); err != nil {
			return nil, fmt.Errorf("coordinator: %w", err)
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
	// A resumed job is checked as auditors check it; whether its rule's
	// parameters suit its quorum (job.CheckSpec) was checked when it was
	// made, and a round whose rule cannot run fails without stopping the job.
	if err := sj.Job.Validate(); err != nil {
		return nil, fmt.Errorf("coordinator: the job in %s is not valid: %w", jp, err)
	}
	me, _ := peer.IDFromPrivateKey(cfg.Key)
	if sj.Job.Coordinator != me.String() {
		return nil, fmt.Errorf("coordinator: job in %s belongs to coordinator %s, this key is %s", cfg.DataDir, sj.Job.Coordinator, me)
	}
	sm, err := newServerMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	s := &Server{cfg: cfg, jobRec: jrec, signed: sj, metrics: sm, changed: make(chan struct{}), closed: make(chan struct{})}
	s.m = round.New(&sj.Job, jb, cfg.Store.VerifyCert)
	j, recs, err := OpenJournal(jnl)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		if head, err := os.ReadFile(filepath.Join(cfg.DataDir, headFile)); err == nil && strings.TrimSpace(string(head)) != ledger.Hash(jb).String() {
			j.Close()
			return nil, fmt.Errorf("%w: %s is empty but the job in %s has committed rounds up to head %s; refusing to start the job again (restore the journal, or use a new data directory for a new job)",
				ErrJournalLost, jnl, cfg.DataDir, strings.TrimSpace(string(head)))
		}
	}
	for i, b := range recs {
		var ev round.Event
		if err := codec.Unmarshal(b, &ev); err != nil {
			j.Close()
			return nil, fmt.Errorf("%w: record %d: %v", ErrJournalCorrupt, i, err)
		}
		if _, err := s.m.Apply(ev); err != nil {
			j.Close()
			return nil, fmt.Errorf("coordinator: journal event %d: %w", i, err)
		}
	}
	s.journal = j
	sm.timeSyncs(j)
	if cfg.EarlyFetchBytes > 0 && sj.Job.Privacy != ledger.PrivacySecAgg {
		if s.early, err = newEarlyFetch(cfg.DataDir, cfg.EarlyFetchBytes, s.openChecked, cfg.Logger, sm.earlyFetch); err != nil {
			j.Close()
			return nil, err
		}
	}
	if err := s.writeHead(); err != nil {
		j.Close()
		return nil, err
	}
	cfg.Host.SetStreamHandler(transport.ProtoRound, s.handle)
	cfg.Host.SetStreamHandler(transport.ProtoStatus, s.handleStatus)
	return s, nil
}

// writeHead records the chain head in the data directory and, when
// configured, in Config.HeadFile.
func (s *Server) writeHead() error {
	id := ledger.Hash(s.m.Head()).String()
	if err := atomicfile.WriteFile(filepath.Join(s.cfg.DataDir, headFile), []byte(id+"\n"), 0o600); err != nil {
		return fmt.Errorf("coordinator: head: %w", err)
	}
	if s.cfg.HeadFile != "" {
		if err := atomicfile.WriteFile(s.cfg.HeadFile, []byte(id+"\n"), 0o644); err != nil {
			return fmt.Errorf("coordinator: head file: %w", err)
		}
	}
	return nil
}

// JobBlob returns the blob ID of the job record (the chain's root).
func (s *Server) JobBlob() ledger.BlobID { return s.m.JobBlob() }

// Job returns the signed job.
func (s *Server) Job() *ledger.SignedJob { return s.signed }

// Status reports the current round, phase and chain head.
func (s *Server) Status() (r uint64, phase round.Phase, head ledger.BlobID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.Round(), s.m.Phase(), s.m.Head()
}

// Close stops serving and closes the journal.
func (s *Server) Close() error {
	s.cfg.Host.RemoveStreamHandler(transport.ProtoRound)
	s.cfg.Host.RemoveStreamHandler(transport.ProtoStatus)
	s.closeOnce.Do(func() { close(s.closed) })
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.journal.Close()
}

// flushLocked does what the machine's Ready asks that does not block:
// persists its events (journal, fsync), hands its fold and commitment to
// Run, and returns its replies, which may be sent now. A journal failure is
// fatal: the server answers errors from then on and Run stops with it.
func (s *Server) flushLocked() ([]round.Reply, error) {
	if s.failed != nil {
		return nil, s.failed
	}
	rd := s.m.Ready()
	for _, ev := range rd.Persist {
		b, err := codec.Marshal(ev)
		if err == nil {
			err = s.journal.Append(b)
		}
		if err != nil {
			s.failed = fmt.Errorf("coordinator: stopping: %s event of round %d not journaled: %w", ev.Kind, ev.Round, err)
			s.cfg.Logger.Error("journal failed; stopping", "err", err)
			s.notifyLocked()
			return nil, s.failed
		}
	}
	if rd.Fold != nil {
		s.fold = rd.Fold
	}
	if rd.Commit != nil {
		s.commit = rd.Commit
	}
	s.m.Advance(rd)
	if len(rd.Persist) > 0 || rd.Fold != nil || rd.Commit != nil {
		s.notifyLocked()
	}
	return rd.Replies, nil
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// stepLocked steps ev and returns its reply once it is durable.
func (s *Server) stepLocked(ev round.Event) (round.Reply, error) {
	if s.failed != nil {
		return round.Reply{}, s.failed
	}
	id, err := s.m.Step(ev)
	if err != nil {
		return round.Reply{}, err
	}
	replies, err := s.flushLocked()
	if err != nil {
		return round.Reply{}, err
	}
	for _, r := range replies {
		if r.ID == id {
			return r, nil
		}
	}
	return round.Reply{}, nil
}

func (s *Server) nowMillis() uint64 { return uint64(s.cfg.Clock.Now().UnixMilli()) }

// Run drives rounds until the job is done or ctx ends. It returns the
// journal's error if persisting an event failed.
func (s *Server) Run(ctx context.Context) error {
	if s.early != nil {
		ectx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { s.early.run(ectx); close(done) }()
		defer func() { cancel(); <-done }()
	}
	for {
		s.mu.Lock()
		if s.m.Phase() == round.PhaseDone && s.commit == nil {
			s.mu.Unlock()
			return nil
		}
		s.m.Tick(s.nowMillis())
		_, err := s.flushLocked()
		s.trackPhaseLocked()
		fold, commit := s.fold, s.commit
		s.fold, s.commit = nil, nil
		if fold != nil && fold.Round != s.m.Round() {
			fold = nil
		}
		changed := s.changed
		var timer <-chan time.Time
		if wake, ok := s.m.WakeMillis(); ok && fold == nil && commit == nil {
			// Absolute: the clock may move between reading now and here.
			timer = s.cfg.Clock.Until(time.UnixMilli(int64(wake)))
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
		switch {
		case fold != nil:
			start := time.Now()
			if err := s.runFold(ctx, fold); err != nil {
				s.mu.Lock()
				s.m.Refold()
				s.mu.Unlock()
				return err
			}
			s.mu.Lock()
			s.foldTook = time.Since(start)
			s.mu.Unlock()
			s.metrics.phaseDone(phaseFolding, time.Since(start))
			continue
		case commit != nil:
			start := time.Now()
			if err := s.storeCommit(ctx, commit); err != nil {
				return err
			}
			s.metrics.phaseDone(phaseCommitting, time.Since(start))
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-timer:
		}
	}
}

// retry runs fn until it succeeds, ctx ends or the store stopped
// (blob.ErrStopped), backing off between attempts.
func retry[T any](ctx context.Context, log *slog.Logger, what string, fn func() (T, error)) (T, error) {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		v, err := fn()
		if err == nil {
			return v, nil
		}
		if errors.Is(err, blob.ErrStopped) {
			return v, err
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

// runFold aggregates the closed round, stores the model and aggregator
// state, evaluates the model and hands the result to the machine, which
// builds the commitment. Rerun after a crash it produces the same bytes:
// every input is in the journal.
func (s *Server) runFold(ctx context.Context, t *round.FoldTask) error {
	log := s.cfg.Logger
	// The early fetch stops first: its buffers hold the input model when
	// it must be fetched, and the fold's first update; the memory of any
	// others is returned below.
	spares := s.early.close(t.Round)
	defer s.early.finish(t.Round)
	take := func() []byte {
		if len(spares) == 0 {
			return nil
		}
		b := spares[0]
		spares = spares[1:]
		return b
	}
	s.mu.Lock()
	global := s.model
	s.mu.Unlock()
	if global == nil || ledger.Sum(global) != t.ModelHash {
		var err error
		buf := take()
		global, err = retry(ctx, log, "fetch model", func() ([]byte, error) {
			gctx := ctx
			if buf != nil {
				gctx = blob.WithBuffer(ctx, buf) // each attempt reads into it
			}
			return s.cfg.Store.Get(gctx, t.Model)
		})
		if err != nil {
			return err
		}
		if ledger.Sum(global) != t.ModelHash {
			return fmt.Errorf("coordinator: model blob of round %d does not match its hash", t.Round)
		}
	}
	var state []byte
	if t.StateBlob != (ledger.BlobID{}) {
		var err error
		state, err = retry(ctx, log, "fetch state", func() ([]byte, error) { return s.cfg.Store.Get(ctx, t.StateBlob) })
		if err != nil {
			return err
		}
	}
	job := &s.signed.Job
	noise, err := NoiseSeed(s.cfg.Key, s.m.JobID(), t.Round)
	if err != nil {
		return err
	}
	spare := take()
	spares = nil
	if len(global) >= freeBeforeFold {
		// The fold needs about four times the model, in buffers of the
		// model's size that memory freed in small pieces (the last
		// round's, a model put finishing in the background) cannot hold:
		// return that memory first rather than hold both.
		debug.FreeOSMemory()
	}
	// The fold reads early-fetched updates from their files, already
	// opened and checked, and fetches the others; the early fetcher's
	// buffer is the fold's first (each update is fetched for the fold
	// alone: its buffers recycle).
	var (
		mu      sync.Mutex // guards spare, checked and last
		checked = map[*ledger.SignedSubmission]bool{}
		last    []byte // the buffer of the latest opening (all start at their buffer's start)
	)
	open := func(ctx context.Context, sub *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		buf := blob.TakeBuffer(ctx)
		mu.Lock()
		if buf == nil {
			buf, spare = spare, nil
		}
		mu.Unlock()
		pt, ok := s.early.take(sub, buf)
		var reason ledger.Reason
		var err error
		if !ok {
			if buf != nil {
				ctx = blob.WithBuffer(ctx, buf)
			}
			pt, reason, err = s.open(ctx, sub)
		}
		mu.Lock()
		checked[sub] = ok
		if pt != nil {
			last = pt[:0]
		}
		mu.Unlock()
		return pt, reason, err
	}
	isChecked := func(sub *ledger.SignedSubmission) bool {
		mu.Lock()
		defer mu.Unlock()
		return checked[sub]
	}
	// The output model goes into the last update's buffer: every opening
	// is folded by then, and the buffers are the fold's alone.
	outputBuffer := func() []byte {
		mu.Lock()
		defer mu.Unlock()
		b := last
		last = nil
		return b
	}
	pf := prefetch.New(ctx, t.Subs, open, prefetch.WindowWithin(job.MaxUpdateBytes, s.cfg.PrefetchBytes), prefetch.Recycle())
	out, err := round.Fold(ctx, round.FoldInput{Job: job, Round: t.Round, Global: global, State: state, NoiseSeed: noise, Subs: t.Subs, SecAgg: t.SecAgg,
		Checked: isChecked, OutputBuffer: outputBuffer}, pf.Open)
	pf.Close()
	if err != nil {
		return err
	}
	res := &round.FoldResult{Round: t.Round, Out: out, NoiseSeed: noise}
	if out.Status == ledger.StatusOK {
		if res.OutputModel, err = s.put(ctx, "store model", out.Model); err != nil {
			return err
		}
		if len(out.State) > 0 {
			if res.StateBlob, err = s.put(ctx, "store state", out.State); err != nil {
				return err
			}
		}
		// An evaluator program evaluates any model; built-in evaluation
		// runs the built-in architectures only (a job on a model file of
		// its own has no metrics without an evaluator).
		if s.cfg.Evaluator != nil {
			if res.Metrics, err = s.evaluateWith(ctx, out.Model); err != nil {
				return err
			}
		} else if s.cfg.Eval != nil && model.IsBuiltin(job.Arch) {
			if res.Metrics, err = evaluate(job.Arch, out.Model, s.cfg.Eval); err != nil {
				return err
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.m.Folded(res); err != nil {
		return err
	}
	s.pending = out.Model
	_, err = s.flushLocked()
	return err
}

// storeCommit signs and stores the round's commitment, then journals the
// commit. A crash between the two stores the same bytes again on restart.
func (s *Server) storeCommit(ctx context.Context, cm *ledger.Commitment) error {
	sc, err := ledger.SignCommitment(s.cfg.Key, *cm)
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
	s.mu.Lock()
	_, err = s.stepLocked(round.Event{Kind: round.EvCommit, Round: cm.Round,
		Commit: &round.CommitInfo{Head: newHead, Model: cm.OutputModel, ModelHash: cm.OutputModelHash, StateBlob: cm.StateBlob}})
	if err == nil {
		s.model, s.pending = s.pending, nil
		err = s.writeHead()
		sum := Summarize(cm, newHead)
		sum.FoldMillis = uint64(s.foldTook.Milliseconds())
		if !s.roundSince.IsZero() {
			sum.TotalMillis = uint64(s.cfg.Clock.Now().Sub(s.roundSince).Milliseconds())
		}
		s.rememberLocked(sum)
		s.metrics.committed(cm)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if cm.Status == ledger.StatusFailed {
		s.cfg.Logger.Warn("round committed as failed", "round", cm.Round, "reason", cm.Reason, "head", ledger.Hash(newHead).String())
	} else {
		s.cfg.Logger.Info("round committed", "round", cm.Round, "status", cm.Status, "head", ledger.Hash(newHead).String())
	}
	if s.cfg.OnCommit != nil {
		s.cfg.OnCommit(sc, newHead)
	}
	return nil
}

// put stores b (kept forever), retrying until it succeeds or ctx ends.
func (s *Server) put(ctx context.Context, what string, b []byte) (ledger.BlobID, error) {
	return retry(ctx, s.cfg.Logger, what, func() (ledger.BlobID, error) {
		if len(b) >= streamPutMin {
			// A model: streamed from b through the store's small buffers
			// (where it can) instead of encoded whole beside it.
			id, _, err := blob.PutParts(ctx, s.cfg.Store, blob.Parts{b}, 0)
			return id, err
		}
		id, _, err := s.cfg.Store.Put(ctx, b, 0)
		return id, err
	})
}

// freeBeforeFold is the model size from which the coordinator returns
// free memory to the system before a fold.
const freeBeforeFold = 64 << 20

// streamPutMin is the size from which the coordinator streams a blob into
// the store (blob.PutParts) rather than encoding it in memory.
const streamPutMin = 1 << 20

// Evaluator evaluates a model: an evaluator program behind the resident
// trainer protocol (model.ResidentTrainer), the same contract as trainers.
type Evaluator interface {
	Evaluate(ctx context.Context, p *model.Params, data *model.Dataset) (*model.Result, error)
}

// evaluateWith runs the evaluator on a model file. Its figures are the
// coordinator's word, recorded in the commitment (bounded as submissions'
// metrics are). An evaluator that fails three times leaves the round
// without metrics, logged: it never holds up the job.
func (s *Server) evaluateWith(ctx context.Context, file []byte) ([]ledger.Metric, error) {
	p, _, err := model.UnmarshalSafetensors(file)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		res, err := s.cfg.Evaluator.Evaluate(ctx, p, s.cfg.Eval)
		switch {
		case err == nil:
			return round.MetricsOf(res.Metrics), nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case attempt == 3:
			s.cfg.Logger.Error("evaluator failed; the round is committed without metrics", "err", err)
			return nil, nil
		}
		s.cfg.Logger.Warn("evaluator failed; retrying", "attempt", attempt, "err", err)
	}
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
// mode, decrypt it as a recipient. A blob the store cannot serve is missing,
// unless the store stopped (blob.ErrStopped): that aborts the fold.
func (s *Server) open(ctx context.Context, sub *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
	get := func(ctx context.Context, id ledger.BlobID) ([]byte, error) {
		var b []byte
		var err error
		var tl *blob.TooLargeError
		for attempt := 0; attempt < 3; attempt++ {
			if b, err = s.cfg.Store.Get(ctx, id); err == nil || ctx.Err() != nil || errors.Is(err, blob.ErrStopped) || errors.As(err, &tl) {
				break
			}
		}
		return b, err
	}
	b, reason, err := round.FetchUpdate(ctx, get, &s.signed.Job, sub)
	if err != nil || reason != "" {
		return nil, reason, err
	}
	s.metrics.updateFetched(len(b))
	if s.signed.Job.Privacy != "sealed" {
		return b, "", nil // plain, or a secagg masked input
	}
	if s.cfg.HPKE == nil {
		return nil, "", fmt.Errorf("coordinator: no HPKE key to open sealed updates")
	}
	// b was fetched for this fold alone: open it in its own buffer.
	return round.OpenSealedInPlace(&s.signed.Job, sub, b, RecipientName, s.cfg.HPKE)
}

// openChecked is open for the early fetch: it also checks the plaintext
// against the submission's update hash (the fold then need not), and
// returns ReasonHash when it differs.
func (s *Server) openChecked(ctx context.Context, sub *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
	pt, reason, err := s.open(ctx, sub)
	if err != nil || reason != "" {
		return nil, reason, err
	}
	if ledger.Sum(pt) != sub.Sub.UpdateHash {
		return nil, ledger.ReasonHash, nil
	}
	return pt, "", nil
}

// Stream limits of the round protocol, beyond libp2p's resource manager
// (which caps streams per protocol and per peer but cannot tell the job's
// participants from strangers): a registered peer may hold
// MaxStreamsPerParticipant streams at once, any other peer
// MaxStreamsPerOutsider, and all peers that are not registered together
// MaxOutsiderStreams, so slow streams from many fresh identities cannot
// take the slots the cohort needs. A stream past a limit is reset at once.
const (
	MaxStreamsPerParticipant = 8
	MaxStreamsPerOutsider    = 2
	MaxOutsiderStreams       = 256
)

// requestTimeout bounds the time a peer may take to send its request.
const requestTimeout = 10 * time.Second

// admitStream counts a stream of peer against the stream limits, and
// reports whether it is within them; release undoes it.
func (s *Server) admitStream(peer string) (ok bool, release func()) {
	s.mu.Lock()
	_, registered := s.m.Registered(peer)
	s.mu.Unlock()
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streams == nil {
		s.streams = map[string]int{}
	}
	perPeer := MaxStreamsPerParticipant
	if !registered {
		perPeer = MaxStreamsPerOutsider
		if s.outsiders >= MaxOutsiderStreams {
			s.resetLocked(peer)
			return false, nil
		}
	}
	if s.streams[peer] >= perPeer {
		s.resetLocked(peer)
		return false, nil
	}
	s.streams[peer]++
	if !registered {
		s.outsiders++
	}
	return true, func() {
		s.streamsMu.Lock()
		defer s.streamsMu.Unlock()
		if s.streams[peer]--; s.streams[peer] == 0 {
			delete(s.streams, peer)
		}
		if !registered {
			s.outsiders--
		}
	}
}

// resetLocked counts a stream reset for a limit and says so in the log, at
// the 1st, 2nd, 4th, 8th... reset, so that a flood cannot flood the log.
func (s *Server) resetLocked(peer string) {
	s.resets++
	if s.resets&(s.resets-1) == 0 {
		s.cfg.Logger.Warn("round-protocol stream limit reached; streams reset", "peer", peer, "resets", s.resets)
	}
}

// handle serves one round-protocol stream: one request, one response.
func (s *Server) handle(st network.Stream) {
	sender := st.Conn().RemotePeer().String()
	ok, release := s.admitStream(sender)
	if !ok {
		st.Reset()
		return
	}
	defer release()
	defer st.Close()
	st.SetReadDeadline(time.Now().Add(requestTimeout))
	var req round.Request
	resp := s.serve(st, sender, &req)
	st.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := codec.WriteMsg(st, resp); err != nil {
		st.Reset()
	}
}

// journalUnavailable answers inputs that could not be made durable.
var journalUnavailable = round.Response{Status: round.RespError, Reason: "journal unavailable"}

func (s *Server) serve(st network.Stream, sender string, req *round.Request) round.Response {
	if err := codec.ReadMsg(st, round.MaxRequestSize, req); err != nil {
		reason := ledger.ReasonMalformed
		if errors.Is(err, codec.ErrMessageTooLarge) {
			reason = ledger.ReasonOversized
		}
		s.mu.Lock()
		_, jerr := s.stepLocked(round.Event{Kind: round.EvReject, Peer: sender, Reason: reason})
		s.mu.Unlock()
		if jerr != nil {
			return journalUnavailable
		}
		return round.Response{Status: round.RespRejected, Reason: reason}
	}
	s.mu.Lock()
	_, registered := s.m.Registered(sender)
	s.mu.Unlock()
	if !s.limits.allow(sender, registered, time.Now()) {
		return round.Response{Status: round.RespError, Reason: "rate limited: slow down"}
	}
	switch req.Op {
	case round.OpHello:
		return round.Response{Status: round.RespOK, Job: s.jobRec, JobBlob: s.m.JobBlob()}
	case round.OpRegister:
		if req.NumExamples == 0 {
			return round.Response{Status: round.RespRejected, Reason: ledger.ReasonNoExamples}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		reply, err := s.stepLocked(round.Event{Kind: round.EvRegister, Peer: sender, NumExamples: req.NumExamples})
		if err != nil {
			return journalUnavailable
		}
		if reply.Reason != "" {
			return round.Response{Status: round.RespRejected, Reason: reply.Reason}
		}
		return round.Response{Status: round.RespOK, Job: s.jobRec, JobBlob: s.m.JobBlob(), Head: s.m.Head(), Round: s.m.Round()}
	case round.OpTask:
		return s.task(sender, req.AfterRound)
	case round.OpSubmit:
		if req.Sub == nil {
			return round.Response{Status: round.RespRejected, Reason: ledger.ReasonMalformed}
		}
		if s.signed.Job.Privacy == ledger.PrivacySecAgg {
			if resp, refused := s.checkMasked(sender, req.Sub); refused {
				return resp
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		reply, err := s.stepLocked(round.Event{Kind: round.EvSubmit, Peer: sender, Millis: s.nowMillis(), Sub: req.Sub})
		if err != nil {
			return journalUnavailable
		}
		if reply.Reason != "" {
			return round.Response{Status: round.RespRejected, Reason: reply.Reason}
		}
		if s.early != nil && s.m.Phase() == round.PhaseCollecting {
			limit, _ := round.UpdateLimit(&s.signed.Job, &req.Sub.Sub)
			s.early.add(s.m.Round(), req.Sub, limit)
		}
		return round.Response{Status: round.RespOK, Round: req.Sub.Sub.Round}
	case round.OpSecAgg:
		return s.secaggView(sender, req.Round, req.AfterStep)
	case round.OpKeys, round.OpShares, round.OpSurvivors, round.OpReveal:
		ev := round.Event{Peer: sender, Millis: s.nowMillis(), Round: req.Round}
		switch req.Op {
		case round.OpKeys:
			ev.Kind, ev.Keys = round.EvKeys, req.Keys
		case round.OpShares:
			ev.Kind, ev.Shares = round.EvShares, req.Shares
		case round.OpSurvivors:
			ev.Kind, ev.Sig = round.EvSurvivorSig, req.Sig
		case round.OpReveal:
			ev.Kind, ev.Reveal = round.EvReveal, req.Reveal
		}
		if (ev.Kind == round.EvKeys && ev.Keys == nil) || (ev.Kind == round.EvShares && ev.Shares == nil) ||
			(ev.Kind == round.EvReveal && ev.Reveal == nil) {
			return round.Response{Status: round.RespRejected, Reason: ledger.ReasonMalformed}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		reply, err := s.stepLocked(ev)
		if err != nil {
			if s.failed != nil {
				return journalUnavailable
			}
			return round.Response{Status: round.RespRejected, Reason: ledger.ReasonMalformed}
		}
		if reply.Reason != "" {
			return round.Response{Status: round.RespRejected, Reason: reply.Reason}
		}
		return round.Response{Status: round.RespOK, Round: req.Round}
	}
	return round.Response{Status: round.RespRejected, Reason: ledger.ReasonMalformed}
}

// checkMasked fetches a secagg masked input before its submission is
// stepped, and refuses it (ReasonMaskedInput, recorded as the
// coordinator's word) when the blob cannot be fetched or is not the
// signed bytes: once a masked input counts, its masks cannot be removed
// without revealing both its owner's secrets, so a bad one would fail the
// round. Submissions the rules refuse anyway are left to them.
func (s *Server) checkMasked(sender string, sub *ledger.SignedSubmission) (round.Response, bool) {
	s.mu.Lock()
	reason := s.m.Check(sender, sub)
	s.mu.Unlock()
	if reason != "" {
		return round.Response{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	b, why, err := s.open(ctx, sub)
	if err == nil && why == "" && ledger.Sum(b) == sub.Sub.UpdateHash && uint64(len(b)) == sub.Sub.UpdateSize {
		return round.Response{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.stepLocked(round.Event{Kind: round.EvReject, Peer: sender, Millis: s.nowMillis(), Reason: ledger.ReasonMaskedInput}); err != nil {
		return journalUnavailable, true
	}
	return round.Response{Status: round.RespRejected, Reason: ledger.ReasonMaskedInput}, true
}

// secaggView long-polls for the view of a secagg round after step
// afterStep: it answers when the round of the member is at a later step or
// failed, with RespWait when the poll times out, and RespOK without a view
// when the round is over for the member (closed, or it is not in it).
func (s *Server) secaggView(sender string, rnd uint64, afterStep round.SAStep) round.Response {
	deadline := time.After(taskPoll)
	for {
		s.mu.Lock()
		if s.failed != nil {
			s.mu.Unlock()
			return journalUnavailable
		}
		m := s.m
		v, ok := m.SecAggView(sender)
		if !ok || v.Round != rnd {
			r := m.Round()
			s.mu.Unlock()
			return round.Response{Status: round.RespOK, Round: r}
		}
		if v.Step > afterStep || v.Failed != "" {
			s.mu.Unlock()
			return round.Response{Status: round.RespOK, Round: v.Round, SecAgg: v}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			return round.Response{Status: round.RespWait, Round: rnd}
		case <-s.closed:
			return round.Response{Status: round.RespError, Reason: "coordinator shutting down"}
		}
	}
}

// taskPoll bounds how long a task request waits for a round (wall time; it
// only decides when a participant asks again, never an outcome).
const taskPoll = 10 * time.Second

func (s *Server) task(sender string, after uint64) round.Response {
	deadline := time.After(taskPoll)
	for {
		s.mu.Lock()
		m := s.m
		if s.failed != nil {
			s.mu.Unlock()
			return journalUnavailable
		}
		if m.Phase() == round.PhaseDone {
			s.mu.Unlock()
			return round.Response{Status: round.RespDone, Head: m.Head(), Round: m.Round()}
		}
		if t, ok := m.TaskFor(sender, after); ok {
			s.mu.Unlock()
			return round.Response{Status: round.RespOK, Round: t.Round, Task: &t}
		}
		changed, r := s.changed, m.Round()
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			return round.Response{Status: round.RespWait, Round: r}
		case <-s.closed:
			return round.Response{Status: round.RespError, Reason: "coordinator shutting down"}
		}
	}
}

// WaitSecAggStall blocks until the open secagg round's current step waits
// only for members that gone reports will not answer (dropped out), and
// returns the round, the step and the step's deadline: a simulation then
// moves its clock to the deadline instead of waiting for a timeout that
// its fake clock would never reach. Steps it already returned (after, in
// the order round*8+step) are skipped. It looks again whenever the
// coordinator's state changes or wake delivers (what gone reports changed).
func (s *Server) WaitSecAggStall(ctx context.Context, after uint64, gone func(r uint64, peer string) bool, wake <-chan struct{}) (at uint64, deadline uint64, err error) {
	for {
		s.mu.Lock()
		r, step, dl, pending, ok := s.m.SAPending()
		changed := s.changed
		s.mu.Unlock()
		if at := r*8 + uint64(step); ok && at > after && len(pending) > 0 {
			stalled := true
			for _, p := range pending {
				if !gone(r, p) {
					stalled = false
					break
				}
			}
			if stalled {
				return at, dl, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-s.closed:
			return 0, 0, errors.New("coordinator: closed")
		case <-changed:
		case <-wake:
		}
	}
}

// WaitFor blocks until cond holds for the current round and phase, or ctx
// ends. It returns the round's cohort at that moment.
func (s *Server) WaitFor(ctx context.Context, cond func(r uint64, phase round.Phase) bool) ([]string, error) {
	for {
		s.mu.Lock()
		ok := cond(s.m.Round(), s.m.Phase())
		cohort, changed := s.m.Cohort(), s.changed
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
