package sims

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/audit"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/blob/walrus/walrustest"
	"github.com/floe-fl/floe/clock"
	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/seal"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// AuditorName is the auditor's recipient name in a simulated job; its HPKE key
// is written to Out/auditor.hpke.
const AuditorName = "auditor"

// Options configure a simulation.
type Options struct {
	Seed         uint64
	Net          string // "tcp" (real hosts on loopback) or "memory" (mocknet, simulated clock)
	Nodes        int    // storage nodes (none with Store walrus: ignored)
	Participants int
	Cohort       int // members per round
	Quorum       int // minimum valid updates; 0 means half the cohort, rounded up
	Rounds       int
	Dataset      string  // "synthetic" or "mnist"
	DataDir      string  // MNIST directory
	Alpha, Beta  float64 // Synthetic(alpha, beta)
	Partition    string  // "iid", "shards", "dirichlet" or "fang" (MNIST)
	DirAlpha     float64 // Dirichlet concentration
	Bias         float64 // "fang" partition: probability an example goes to its label's group of participants
	Shards       int     // "shards" partition: shards per participant (McMahan et al. use 2)
	Arch         string  // "logreg" or "mlp:784-200-200-10"
	Epochs       int
	LocalSteps   int // if > 0, local SGD steps a round instead of Epochs (a participant option of the simulation, not in the signed job)
	Batch        int
	LR           float64
	Mu           float64
	Rule         aggregate.Spec
	NormBound    float64
	Privacy      string // "sealed", "secagg" or "plain"
	Deadline     time.Duration
	Dropout      float64 // probability a cohort member skips a round
	Attackers    int     // participants that attack
	AttackerSet  string  // which: AttackersFirst ("" too) or AttackersSpread
	Attack       string  // what the attackers do: one of Attacks() (attacks.go)
	Crashes      int     // coordinator crashes (each restarted from its data directory), at seeded rounds and points
	DeadNodes    int     // storage nodes killed for good after a third of the rounds (at most f)
	// Faults are faults with their schedules (faults.go); Dropout,
	// Crashes and DeadNodes are shorthands that add to them.
	Faults  []Fault
	Out     string // directory for keys, node data, committee and head
	NoAudit bool   // skip auditing the chain at the end
	// NoClean skips the clean run of RunWithClean (floe sim): with faults,
	// it also runs the same options without them (same seed, Out/clean)
	// and reports its accuracy beside (Result.Clean). Run ignores it.
	NoClean bool
	Logger  *slog.Logger

	// Trainer, if set, makes each participant's trainer (else the built-in
	// one for Arch); a trainer that is an io.Closer (a resident one) is
	// closed when its participant stops.
	Trainer func() model.Trainer

	// InitialModel, if set, is the job's initial model file (version 0), as
	// a job file's initial_model: the job's architecture is the file's
	// (model.InitialArch), and a model that is not a built-in one needs a
	// Trainer. Evaluator, if set, makes the coordinator's evaluator program
	// (coordinator.Config.Evaluator), which evaluates every new model on
	// the held-out set; one that is an io.Closer is closed when the run
	// ends.
	InitialModel []byte
	Evaluator    func() coordinator.Evaluator

	// Store is where the job's blobs live: "" (floe's storage nodes, Nodes
	// of them) or "walrus" (the Walrus network, no storage nodes: the job
	// says store walrus and has no committee). In walrus mode Run starts an
	// in-process Walrus publisher and aggregator (blob/walrus/walrustest),
	// unless Publisher and Aggregator name one to use instead.
	Store                 string
	Publisher, Aggregator string // with Store walrus: base URLs of a Walrus publisher and aggregator ("": in process)
}

// DefaultOptions is the README's default simulation.
func DefaultOptions() Options {
	return Options{
		Seed: 1, Net: "tcp", Nodes: 4, Participants: 10, Cohort: 10, Rounds: 20,
		Dataset: "synthetic", Alpha: 1, Beta: 1, Partition: "iid", DirAlpha: 0.5, Bias: 0.5, Shards: 2,
		Arch: "logreg", Epochs: 1, Batch: 10, LR: 0.05,
		Rule: aggregate.Spec{Rule: "fedavg"}, Privacy: "sealed", Deadline: 30 * time.Second,
		Attack: AttackSignFlip,
	}
}

// Validate reports the first bad option.
func (o *Options) Validate() error {
	switch {
	case o.Net != "tcp" && o.Net != "memory":
		return fmt.Errorf("sims: --net must be tcp or memory, not %q", o.Net)
	case o.Store != "" && o.Store != ledger.StoreWalrus:
		return fmt.Errorf("sims: --store must be empty (floe's storage nodes) or %s, not %q", ledger.StoreWalrus, o.Store)
	case o.Store != ledger.StoreWalrus && (o.Publisher != "" || o.Aggregator != ""):
		return fmt.Errorf("sims: a Walrus publisher and aggregator need --store walrus")
	case o.Store == ledger.StoreWalrus && (o.Publisher == "") != (o.Aggregator == ""):
		return fmt.Errorf("sims: give both a Walrus publisher and an aggregator, or neither (an in-process test server)")
	case o.Store == ledger.StoreWalrus && o.DeadNodes != 0:
		return fmt.Errorf("sims: dead storage nodes (--dead-nodes) need floe's storage nodes; --store walrus has none")
	case o.Store != ledger.StoreWalrus && (o.Nodes < 1 || o.Nodes > blob.MaxCommittee):
		return fmt.Errorf("sims: storage nodes must be in [1, %d], got %d", blob.MaxCommittee, o.Nodes)
	case o.Participants < 1:
		return fmt.Errorf("sims: need at least one participant")
	case o.Cohort < 1:
		return fmt.Errorf("sims: cohort must be at least 1")
	case o.Rounds < 1:
		return fmt.Errorf("sims: rounds must be at least 1")
	case o.Dropout < 0 || o.Dropout >= 1:
		return fmt.Errorf("sims: dropout must be in [0, 1)")
	case o.AttackerSet != "" && o.AttackerSet != AttackersFirst && o.AttackerSet != AttackersSpread:
		return fmt.Errorf("sims: attacker set %q, want %s or %s", o.AttackerSet, AttackersFirst, AttackersSpread)
	case o.Attackers < 0 || o.Attackers > o.Participants:
		return fmt.Errorf("sims: attackers must be in [0, participants]")
	case o.Crashes < 0 || o.Crashes > o.Rounds:
		return fmt.Errorf("sims: crashes must be in [0, rounds]")
	case o.Store != ledger.StoreWalrus && (o.DeadNodes < 0 || o.DeadNodes > (o.Nodes-1)/3):
		return fmt.Errorf("sims: dead storage nodes must be in [0, f] = [0, %d] for %d nodes", max((o.Nodes-1)/3, 0), o.Nodes)
	case o.Privacy != "sealed" && o.Privacy != "plain" && o.Privacy != ledger.PrivacySecAgg:
		return fmt.Errorf("sims: privacy must be sealed, secagg or plain")
	case o.Out == "":
		return fmt.Errorf("sims: an output directory is required")
	case o.Quorum < 0:
		return fmt.Errorf("sims: quorum must be >= 0 (0: half the cohort, rounded up)")
	case o.Epochs < 1 || o.Batch < 1:
		return fmt.Errorf("sims: epochs and batch size must be at least 1")
	case o.LocalSteps < 0:
		return fmt.Errorf("sims: local steps must be >= 0 (0: epochs)")
	case o.Partition == "shards" && o.Shards < 1:
		return fmt.Errorf("sims: the shards partition needs at least 1 shard per participant, got %d", o.Shards)
	case !(o.Bias >= 0 && o.Bias <= 1):
		return fmt.Errorf("sims: the fang partition's bias must be in [0, 1], got %g", o.Bias)
	}
	if err := o.validateAttack(); err != nil {
		return err
	}
	if err := o.validateFaults(); err != nil {
		return err
	}
	if err := o.validateWalrus(); err != nil {
		return err
	}
	if err := o.jobConfig().Validate(); err != nil {
		return fmt.Errorf("sims: %w", err)
	}
	return nil
}

// RoundStat summarises one committed round.
type RoundStat struct {
	Round     uint64
	Status    ledger.Status
	Cohort    int
	Submitted int
	Accepted  int
	Loss      float64
	Accuracy  float64
	Seconds   float64
	Head      ledger.BlobID
}

// Result is a finished simulation.
type Result struct {
	Head      ledger.BlobID
	JobBlob   ledger.BlobID
	Rounds    []RoundStat
	Committee blob.Committee // none with Store walrus
	// Audit is the report of auditing the finished chain (nil with NoAudit).
	Audit *audit.Report
	// Crashes lists the simulated coordinator crashes as "round R at POINT".
	Crashes []string
	// DeadNodes lists the committee indices of the storage nodes killed.
	DeadNodes []int
	// Faults lists the faults of the faults list that struck the storage
	// nodes and the network, in order ("round 2: killed storage nodes [3]").
	Faults []string
	// Checks are the checkers' verdicts on the run (checks.go): the audit,
	// the aggregate against a reference implementation, the submissions
	// acknowledged, the clean run.
	Checks []Check
	// Clean is the clean run (the same options without faults), when
	// there were faults and not NoClean.
	Clean *CleanRun
}

// Run runs a simulation. onRound, if set, is called after each round (from
// the coordinator's goroutine). A run whose ctx is cancelled returns the
// rounds committed so far, audited (unless NoAudit), together with an error
// that wraps context.Canceled; any other error comes without a Result.
//
// Run owns every goroutine it starts (the participants and the
// coordinator's Run): on every way out (the job done, an error, ctx ended)
// it cancels them and waits for each to return (stop), then closes the
// storage nodes and the network, and last the in-process Walrus server.
func Run(ctx context.Context, o Options, onRound func(RoundStat)) (*Result, error) {
	return run(ctx, o, onRound)
}

// RunWithClean is Run, followed, when o has faults and not NoClean, by
// the clean run: o without its faults (Dropout, Crashes, DeadNodes and
// Faults cleared; the same seed; no audit) under Out/clean. Its final
// accuracy goes to Result.Clean and to the checks (CheckClean). floe sim
// runs this.
func RunWithClean(ctx context.Context, o Options, onRound func(RoundStat)) (*Result, error) {
	res, err := run(ctx, o, onRound)
	if res == nil || o.NoClean || !o.hasFaults() || err != nil {
		return res, err
	}
	res.Clean, err = runClean(ctx, o)
	res.Checks = append(res.Checks, cleanCheck(res, res.Clean, err))
	return res, nil
}

// run is one run and its checks.
func run(ctx context.Context, o Options, onRound func(RoundStat)) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Store == ledger.StoreWalrus {
		o.Nodes, o.DeadNodes = 0, 0
	}
	s := &sim{o: &o, onRound: onRound, parts: newGroup(ctx), coord: newGroup(ctx), plan: newFaultPlan(&o),
		nst:     nodeState{dead: map[int]bool{}, parted: map[int]bool{}, corrupt: map[int]bool{}, wiped: map[int]bool{}, corrupted: map[string]bool{}, cut: map[int][][2]peer.ID{}},
		applied: map[uint64]bool{}, late: map[uint64][]chan struct{}{}, released: map[uint64]chan struct{}{},
		acks: map[ackKey]ledger.BlobID{}, captured: map[uint64]map[string][]float32{}, saRef: map[uint64]secaggRef{}, round: 1}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(o.Out, "clean")); err != nil {
		return nil, fmt.Errorf("sims: %w", err)
	}
	if err := s.startWalrus(); err != nil {
		return nil, err
	}
	defer s.stopWalrus()
	s.startNetwork()
	defer s.net.close()
	defer s.stopNodes()
	if err := s.startNodes(); err != nil {
		return nil, err
	}
	defer s.stop()
	if err := s.openCoordinator(ctx); err != nil {
		return nil, err
	}
	s.job = s.srv.Job()
	if err := s.startParticipants(); err != nil {
		return nil, err
	}
	// The faults of round 1 strike before anyone runs: the participants
	// have hosts, the coordinator has stored the job and initial model.
	s.applyFaults(ctx, 1, s.job.Job.InitialModel)
	runErr := s.loop()
	s.stop()
	// A cancelled run reports (and audits) what it committed so far.
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return nil, runErr
	}
	if s.crashStore != nil {
		s.crashStore.retire()
	}
	s.corruptSlivers() // what a corrupt node serves the audit and the checkers
	res, err := s.result()
	if err != nil {
		return nil, err
	}
	// A cancelled run's audit and checks still run (on a context that is
	// not cancelled): they cover the rounds committed.
	if !o.NoAudit {
		if res.Audit, err = s.audit(context.WithoutCancel(ctx), res.Head); err != nil {
			return nil, err
		}
	}
	res.Checks = s.checks(context.WithoutCancel(ctx), res)
	return res, runErr
}

// sim is one run: what Run's parts build and share. Each part sets its
// fields before any goroutine starts, except those under mu and those the
// comments give an owner.
type sim struct {
	o       *Options
	onRound func(RoundStat)
	parts   *group // the participants
	coord   *group // the coordinator's Run

	// prepare (job.go)
	data     []*model.Dataset // per participant
	eval     *model.Dataset   // held out
	arch     model.Arch
	archName string // the job's architecture: arch's, or the initial model file's

	// startWalrus (walrus.go): with Store walrus, the publisher and
	// aggregator, and the in-process server when Run started one
	walrusPub, walrusAgg string
	walrusSrv            *walrustest.Server

	// startNetwork, startNodes (nodes.go)
	net       *network
	clock     *clock.Fake
	com       blob.Committee
	nodes     []*p2p.Node
	nodeHosts []host.Host

	// openCoordinator (coordinator.go)
	ccfg       coordinator.Config
	newJob     func() (ledger.JobSpec, []byte, error)
	cstore     blob.Store          // the coordinator's store client (the audit's too)
	crashStore *crashStore         // wraps cstore for the coordinator when o.Crashes > 0
	auditorKey *seal.Key           // sealed jobs only
	srv        *coordinator.Server // replaced by the loop on a restart
	job        *ledger.SignedJob   // the job the coordinator created
	srvClosed  bool
	committed  chan uint64 // rounds committed, in order

	// startParticipants (participants.go)
	adv       *adversary    // the full-knowledge attackers' (attacks.go), or nil
	errs      chan error    // a participant's or a fault's failure (fail)
	short     chan struct{} // a round whose cohort finished short of its size
	poke      chan struct{} // a member dropped out (secagg: a step may stall)
	partHosts []host.Host   // by participant index
	latency   map[peer.ID]time.Duration

	// loop (loop.go); applyFaults (nodes.go) adds to dead
	crashes []string
	dead    []int

	plan *faultPlan

	mu       sync.Mutex // guards the following
	stats    []RoundStat
	done     map[uint64]map[string]bool // round -> cohort members finished -> accepted at receipt
	left     map[uint64]map[string]bool // round -> cohort members that left it after a step
	lastTime time.Time
	round    uint64 // the round open or next
	nst      nodeState
	faultLog []string
	applied  map[uint64]bool            // rounds whose commitment hook ran
	late     map[uint64][]chan struct{} // round -> held late submissions' done
	released map[uint64]chan struct{}   // round -> closed once its late submissions may go
	acks     map[ackKey]ledger.BlobID   // submissions answered ok
	captured map[uint64]map[string][]float32
	saRef    map[uint64]secaggRef // secagg rounds' reference means
}

// stop ends the run's goroutines and closes the coordinator, in the order
// that makes it quick: the coordinator's Run returns, then closing the
// coordinator answers the participants' long polls, then the participants
// return. It may be called more than once.
func (s *sim) stop() {
	s.coord.stop()
	s.closeCoordinator()
	s.parts.stop()
	if c, ok := s.ccfg.Evaluator.(io.Closer); ok {
		c.Close()
		s.ccfg.Evaluator = nil
	}
}

// result is the finished run, its head also written to Out/head. It reads
// what the goroutines left: call it after they returned.
func (s *sim) result() (*Result, error) {
	_, _, head := s.srv.Status()
	if err := os.WriteFile(filepath.Join(s.o.Out, "head"), []byte(ledger.Hash(head).String()+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("sims: %w", err)
	}
	res := &Result{Head: head, JobBlob: s.srv.JobBlob(), Committee: s.com, Crashes: s.crashes, DeadNodes: s.dead}
	s.mu.Lock()
	res.Rounds, res.Faults = s.stats, s.faultLog
	s.mu.Unlock()
	return res, nil
}

// audit audits the chain as an outside auditor would: from the head alone,
// opening sealed updates with the auditor's recipient key.
func (s *sim) audit(ctx context.Context, head ledger.BlobID) (*audit.Report, error) {
	get := s.cstore.Get
	if s.o.Store == ledger.StoreWalrus {
		// A fresh client of the aggregator, as another auditor's: it never
		// saw the puts, so every blob is checked against the chain alone.
		st, err := s.walrusStore()
		if err != nil {
			return nil, err
		}
		get = st.Get
	}
	cfg := audit.Config{Get: get, Committee: s.com, Head: head}
	if s.o.Privacy == "sealed" {
		cfg.Key, cfg.Name = s.auditorKey, AuditorName
	}
	rep, err := audit.Run(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sims: audit: %w", err)
	}
	return rep, nil
}
