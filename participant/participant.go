package participant

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/decimal"
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

// Config configures a participant.
type Config struct {
	Host        host.Host
	Key         crypto.PrivKey
	Coordinator peer.AddrInfo
	Store       blob.Store
	Trainer     model.Trainer // nil: the built-in trainer for the job's architecture
	Data        *model.Dataset
	Logger      *slog.Logger
	// UpdateLifetime, if non-zero, is how long storage nodes keep update
	// blobs; zero means the job's update lifetime (itself 0 for forever).
	UpdateLifetime time.Duration
	// Rand, if set, supplies the sealing randomness (simulations seed it for
	// reproducible runs); nil means crypto/rand.
	Rand func(round uint64) io.Reader
	// Skip, if set, makes the participant drop out of a round (simulated dropout).
	Skip func(round uint64) bool
	// Tamper, if set, may alter the update before it is sealed (simulated attacker).
	Tamper func(round uint64, delta []float32)
	// OnSubmit, if set, is called after each submission with the coordinator's answer.
	OnSubmit func(round uint64, status, reason string)
	// OnDone, if set, is called once when the coordinator says the job is
	// finished, with the last round and chain head it reported; Run then
	// returns nil.
	OnDone func(round uint64, head ledger.BlobID)
	// Metrics, if set, receives the participant's metrics (README:
	// Metrics); nil: none.
	Metrics prometheus.Registerer
	// StoreKind, if set, is what Store is: StoreCommittee (floe's storage
	// nodes) or ledger.StoreWalrus. A job whose blobs live elsewhere is
	// then refused at registration with a PermanentError saying which
	// flags to use, instead of failing every upload.
	StoreKind string
}

// StoreCommittee is Config.StoreKind for floe's own storage nodes.
const StoreCommittee = "committee"

// Participant is a running edge agent.
type Participant struct {
	cfg  Config
	self string
	job  *ledger.SignedJob
	arch model.Arch
	m    *participantMetrics // nil: none
}

// New checks cfg and returns a participant.
func New(cfg Config) (*Participant, error) {
	if cfg.Data == nil || cfg.Data.N == 0 {
		return nil, errors.New("participant: no local data")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	id, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("participant: %w", err)
	}
	m, err := newParticipantMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("participant: %w", err)
	}
	return &Participant{cfg: cfg, self: id.String(), m: m}, nil
}

// call sends one request and reads the response.
func (p *Participant) call(ctx context.Context, req Request) (*round.Response, error) {
	return Call(ctx, p.cfg.Host, p.cfg.Coordinator, req)
}

// Request is a round-protocol request.
type Request = round.Request

// Call opens a stream to the coordinator, sends req and returns its response.
func Call(ctx context.Context, h host.Host, coord peer.AddrInfo, req Request) (*round.Response, error) {
	if len(coord.Addrs) > 0 {
		h.Peerstore().AddAddrs(coord.ID, coord.Addrs, time.Hour)
	}
	// The participant backs off between attempts itself: libp2p's dial
	// backoff on top of it kept a participant away from a restarted
	// coordinator for most of a minute.
	dctx := network.WithForceDirectDial(ctx, "floe participant: retries are paced by the participant")
	st, err := h.NewStream(dctx, coord.ID, transport.ProtoRound)
	if err != nil {
		return nil, fmt.Errorf("participant: connect to coordinator: %w", err)
	}
	defer st.Close()
	if dl, ok := ctx.Deadline(); ok {
		st.SetDeadline(dl)
	} else {
		st.SetDeadline(time.Now().Add(time.Minute))
	}
	if err := codec.WriteMsg(st, req); err != nil {
		st.Reset()
		return nil, err
	}
	if err := st.CloseWrite(); err != nil {
		st.Reset()
		return nil, err
	}
	var resp round.Response
	if err := codec.ReadMsg(st, round.MaxRequestSize+ledger.MaxRecordSize, &resp); err != nil {
		st.Reset()
		return nil, fmt.Errorf("participant: read response: %w", err)
	}
	return &resp, nil
}

// Run takes part in the job until it is done or ctx ends.
func (p *Participant) Run(ctx context.Context) error {
	log := p.cfg.Logger
	backoff := 100 * time.Millisecond
	var last uint64
	registered := false
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := func() error {
			if !registered {
				if err := p.register(ctx); err != nil {
					return err
				}
				registered = true
			}
			resp, err := p.call(ctx, Request{Op: round.OpTask, AfterRound: last})
			if err != nil {
				return err
			}
			switch resp.Status {
			case round.RespDone:
				return &doneError{resp.Round, resp.Head}
			case round.RespWait:
				return nil
			case round.RespOK:
				if resp.Task == nil {
					return errors.New("participant: task response without task")
				}
				if err := p.doRound(ctx, resp.Task); err != nil {
					return err
				}
				last = resp.Task.Round
				return nil
			default:
				return fmt.Errorf("participant: coordinator answered %s: %s", resp.Status, resp.Reason)
			}
		}()
		var done *doneError
		if errors.As(err, &done) {
			log.Info("job finished", "round", done.round, "head", ledger.Hash(done.head).String())
			if p.cfg.OnDone != nil {
				p.cfg.OnDone(done.round, done.head)
			}
			return nil
		}
		if err == nil {
			backoff = 100 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var perm *PermanentError
		if errors.As(err, &perm) {
			return err // retrying cannot help: the job and this participant do not fit
		}
		log.Warn("participant retrying", "err", err, "in", backoff)
		registered = false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// doneError is how the steps of Run report the coordinator's answer that
// the job is finished (to a registration, a task poll or a submission); Run
// returns nil on it. Every path checks for it: a participant must stop once
// the job ends instead of polling a finished coordinator forever.
type doneError struct {
	round uint64
	head  ledger.BlobID
}

func (e *doneError) Error() string { return "participant: job done" }

// checkDone returns a *doneError for a done answer, else nil.
func checkDone(resp *round.Response) error {
	if resp.Status == round.RespDone {
		return &doneError{resp.Round, resp.Head}
	}
	return nil
}

// PermanentError reports a problem that retrying cannot mend, such as local
// data that does not fit the job's model; Run returns it.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

func (p *Participant) register(ctx context.Context) error {
	resp, err := p.call(ctx, Request{Op: round.OpRegister, NumExamples: uint64(p.cfg.Data.N)})
	if err != nil {
		return err
	}
	if err := checkDone(resp); err != nil {
		return err
	}
	if resp.Status == round.RespRejected {
		return &PermanentError{fmt.Errorf("participant: registration refused: %s", resp.Reason)}
	}
	if resp.Status != round.RespOK {
		return fmt.Errorf("participant: register: %s %s", resp.Status, resp.Reason)
	}
	job, _, err := ledger.Decode(resp.Job)
	if err != nil || job == nil {
		return fmt.Errorf("participant: coordinator sent a bad job record: %v", err)
	}
	if err := job.Verify(); err != nil {
		return err
	}
	if job.Job.Coordinator != p.cfg.Coordinator.ID.String() {
		return &PermanentError{fmt.Errorf("participant: job is signed by %s, not the coordinator %s", job.Job.Coordinator, p.cfg.Coordinator.ID)}
	}
	var a model.Arch
	if job.Job.Arch == model.ArchFile {
		// A model the job brought as a file: only the participant's own
		// trainer program knows how to train it.
		if p.cfg.Trainer == nil {
			return &PermanentError{fmt.Errorf("participant: the job's model is a file the built-in trainer does not know: run the participant with a trainer (--trainer)")}
		}
	} else {
		if a, err = model.ParseArch(job.Job.Arch); err != nil {
			return &PermanentError{fmt.Errorf("participant: job model: %w", err)}
		}
		if a, err = a.ForData(p.cfg.Data); err != nil {
			return &PermanentError{fmt.Errorf("participant: local data does not fit the job's model %s: %w", job.Job.Arch, err)}
		}
	}
	if err := job.Job.Validate(); err != nil {
		return &PermanentError{fmt.Errorf("participant: the coordinator's job cannot be run: %w", err)}
	}
	if err := checkStore(p.cfg.StoreKind, job.Job.Store); err != nil {
		return &PermanentError{err}
	}
	p.job, p.arch = job, a
	return nil
}

// checkStore reports a job whose blobs live in another store than the
// participant's (kind as Config.StoreKind; "" skips the check).
func checkStore(kind, jobStore string) error {
	switch {
	case kind == "":
		return nil
	case jobStore == ledger.StoreWalrus && kind != ledger.StoreWalrus:
		return fmt.Errorf("participant: the job keeps its blobs on Walrus: run the participant with --store walrus --publisher URL --aggregator URL, not a committee")
	case jobStore == "" && kind != StoreCommittee:
		return fmt.Errorf("participant: the job keeps its blobs on floe's storage nodes: run the participant with --committee FILE, not --store %s", kind)
	}
	return nil
}

// TrainSeed derives the local training seed of a participant in a round.
func TrainSeed(jobSeed uint64, round uint64, participant string) uint64 {
	h := sha256.Sum256([]byte("floe/train/v1\x00" + strconv.FormatUint(jobSeed, 10) + "\x00" + strconv.FormatUint(round, 10) + "\x00" + participant))
	return binary.BigEndian.Uint64(h[:8])
}

// trainConfig reads the job's training hyperparameters for a round. The
// decimals were checked by JobSpec.Validate at registration; an error here
// means the job changed underneath.
func trainConfig(job *ledger.JobSpec, seed uint64) (model.TrainConfig, error) {
	lr, err := decimal.Parse(job.Train.LR)
	if err != nil {
		return model.TrainConfig{}, fmt.Errorf("participant: job learning rate: %w", err)
	}
	mu, err := decimal.ParseOptional(job.Train.Mu)
	if err != nil {
		return model.TrainConfig{}, fmt.Errorf("participant: job mu: %w", err)
	}
	wd, err := decimal.ParseOptional(job.Train.WeightDecay)
	if err != nil {
		return model.TrainConfig{}, fmt.Errorf("participant: job weight decay: %w", err)
	}
	return model.TrainConfig{
		Epochs: int(job.Train.Epochs), BatchSize: int(job.Train.BatchSize),
		LR: lr.Float64(), Mu: mu.Float64(), WeightDecay: wd.Float64(), Seed: seed,
	}, nil
}

func (p *Participant) doRound(ctx context.Context, t *round.Task) error {
	job := &p.job.Job
	if p.cfg.Skip != nil && p.cfg.Skip(t.Round) {
		return nil
	}
	gb, err := p.cfg.Store.Get(ctx, t.Model)
	if err != nil {
		return fmt.Errorf("participant: fetch model of round %d: %w", t.Round, err)
	}
	if ledger.Sum(gb) != t.ModelHash {
		return fmt.Errorf("participant: model of round %d does not match the task's hash", t.Round)
	}
	global, _, err := model.UnmarshalSafetensors(gb)
	if err != nil {
		return fmt.Errorf("participant: model of round %d: %w", t.Round, err)
	}
	train := func() (*model.Result, []float32, error) {
		tr := p.cfg.Trainer
		if tr == nil {
			tr = model.NewLocalTrainer(p.arch)
		}
		cfg, err := trainConfig(job, TrainSeed(job.Seed, t.Round, p.self))
		if err != nil {
			return nil, nil, &PermanentError{err}
		}
		start := time.Now()
		res, err := tr.Train(ctx, global, p.cfg.Data, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("participant: train round %d: %w", t.Round, err)
		}
		p.m.trained(time.Since(start))
		delta, err := res.Delta(global)
		if err != nil {
			return nil, nil, err
		}
		if p.cfg.Tamper != nil {
			p.cfg.Tamper(t.Round, delta)
		}
		return res, delta, nil
	}
	if job.Privacy == ledger.PrivacySecAgg {
		return p.secaggRound(ctx, t, train)
	}
	res, delta, err := train()
	if err != nil {
		return err
	}
	upd := global.Clone()
	if err := upd.SetFlat(delta); err != nil {
		return err
	}
	// The update file is written with room for the GCM tag and sealed in
	// its own buffer, then streamed to the store as the envelope's header
	// and ciphertext: the participant never holds two copies of it.
	file, err := model.MarshalSafetensorsRoom(upd, map[string]string{"floe.kind": "update", "floe.round": strconv.FormatUint(t.Round, 10)}, seal.Overhead)
	if err != nil {
		return err
	}
	hash := ledger.Sum(file)
	parts := blob.Parts{file}
	if job.Privacy == "sealed" {
		var rnd io.Reader
		if p.cfg.Rand != nil {
			rnd = p.cfg.Rand(t.Round)
		}
		prefix, ct, err := seal.SealInPlace(file, job.Recipients, seal.AAD(job.ID(), t.Round, p.self), rnd)
		if err != nil {
			return err
		}
		parts = blob.Parts{prefix, ct}
	}
	if b := job.MaxUpdateBytes; b > 0 && uint64(parts.Size()) > b {
		return &PermanentError{fmt.Errorf("participant: update of round %d is %d bytes, above the job's bound of %d", t.Round, parts.Size(), b)}
	}
	return p.submit(ctx, t.Round, parts, hash, res)
}

// submit stores an update blob (sealed, masked or plain) and hands in its
// signed submission, with updateHash the hash the fold checks.
func (p *Participant) submit(ctx context.Context, r uint64, data blob.Parts, updateHash ledger.Hash, res *model.Result) error {
	job := &p.job.Job
	lifetime := p.cfg.UpdateLifetime
	if lifetime == 0 {
		lifetime = time.Duration(job.UpdateLifetimeMillis) * time.Millisecond
	}
	id, cert, err := blob.PutParts(ctx, p.cfg.Store, data, lifetime)
	if err != nil {
		return fmt.Errorf("participant: store update of round %d: %w", r, err)
	}
	p.m.uploaded(int(data.Size()))
	sub := ledger.Submission{Job: job.ID(), Round: r, Participant: p.self, Blob: id, UpdateHash: updateHash,
		NumExamples: uint64(res.NumExamples), UpdateSize: uint64(data.Size()), Metrics: round.MetricsOf(res.Metrics)}
	sig, err := ledger.SignSubmission(p.cfg.Key, sub)
	if err != nil {
		return err
	}
	resp, err := p.call(ctx, Request{Op: round.OpSubmit, Sub: &ledger.SignedSubmission{Sub: sub, Sig: sig, Cert: cert}})
	if err != nil {
		return err
	}
	if err := checkDone(resp); err != nil {
		return err
	}
	p.m.submitted(r, resp)
	if p.cfg.OnSubmit != nil {
		p.cfg.OnSubmit(r, resp.Status, string(resp.Reason))
	}
	if resp.Status != round.RespOK {
		p.cfg.Logger.Warn("submission rejected", "round", r, "reason", resp.Reason)
	}
	return nil
}

// SealRand returns a deterministic randomness source for sealing, for
// reproducible simulations only.
func SealRand(seed uint64, participant string, round uint64) io.Reader {
	var s [32]byte
	h := sha256.Sum256([]byte("floe/sim-seal/v1\x00" + strconv.FormatUint(seed, 10) + "\x00" + participant + "\x00" + strconv.FormatUint(round, 10)))
	copy(s[:], h[:])
	return rand.NewChaCha8(s)
}
