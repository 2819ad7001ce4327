package sims

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/audit"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/clock"
	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/decimal"
	"github.com/floe-fl/floe/job"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/participant"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/seal"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// AuditorName is the auditor's recipient name in a simulated job; its HPKE key
// is written to Out/auditor.hpke.
const AuditorName = "auditor"

// Options configure a simulation.
type Options struct {
	Seed         uint64
	Net          string // "tcp" (real hosts on loopback) or "memory" (mocknet, simulated clock)
	Nodes        int    // storage nodes
	Participants int
	Cohort       int // members per round
	Quorum       int // minimum valid updates; 0 means half the cohort, rounded up
	Rounds       int
	Dataset      string  // "synthetic" or "mnist"
	DataDir      string  // MNIST directory
	Alpha, Beta  float64 // Synthetic(alpha, beta)
	Partition    string  // "iid", "shards" or "dirichlet" (MNIST)
	DirAlpha     float64 // Dirichlet concentration
	Arch         string  // "logreg" or "mlp:784-200-200-10"
	Epochs       int
	Batch        int
	LR           float64
	Mu           float64
	Rule         aggregate.Spec
	NormBound    float64
	Privacy      string // "sealed" or "plain"
	Deadline     time.Duration
	Dropout      float64 // probability a cohort member skips a round
	Attackers    int     // participants that send scaled sign-flipped updates
	Crashes      int     // coordinator crashes (each restarted from its data directory), at seeded rounds and points
	DeadNodes    int     // storage nodes killed for good after a third of the rounds (at most f)
	Out          string  // directory for keys, node data, committee and head
	NoAudit      bool    // skip auditing the chain at the end
	Logger       *slog.Logger
}

// DefaultOptions is the README's default simulation.
func DefaultOptions() Options {
	return Options{
		Seed: 1, Net: "tcp", Nodes: 4, Participants: 10, Cohort: 10, Rounds: 20,
		Dataset: "synthetic", Alpha: 1, Beta: 1, Partition: "iid", DirAlpha: 0.5,
		Arch: "logreg", Epochs: 1, Batch: 10, LR: 0.05,
		Rule: aggregate.Spec{Rule: "fedavg"}, Privacy: "sealed", Deadline: 30 * time.Second,
	}
}

// Validate reports the first bad option.
func (o *Options) Validate() error {
	switch {
	case o.Net != "tcp" && o.Net != "memory":
		return fmt.Errorf("sims: --net must be tcp or memory, not %q", o.Net)
	case o.Nodes < 1 || o.Nodes > blob.MaxCommittee:
		return fmt.Errorf("sims: storage nodes must be in [1, %d], got %d", blob.MaxCommittee, o.Nodes)
	case o.Participants < 1:
		return fmt.Errorf("sims: need at least one participant")
	case o.Cohort < 1:
		return fmt.Errorf("sims: cohort must be at least 1")
	case o.Rounds < 1:
		return fmt.Errorf("sims: rounds must be at least 1")
	case o.Dropout < 0 || o.Dropout >= 1:
		return fmt.Errorf("sims: dropout must be in [0, 1)")
	case o.Attackers < 0 || o.Attackers > o.Participants:
		return fmt.Errorf("sims: attackers must be in [0, participants]")
	case o.Crashes < 0 || o.Crashes > o.Rounds:
		return fmt.Errorf("sims: crashes must be in [0, rounds]")
	case o.DeadNodes < 0 || o.DeadNodes > (o.Nodes-1)/3:
		return fmt.Errorf("sims: dead storage nodes must be in [0, f] = [0, %d] for %d nodes", max((o.Nodes-1)/3, 0), o.Nodes)
	case o.Privacy != "sealed" && o.Privacy != "plain":
		return fmt.Errorf("sims: privacy must be sealed or plain")
	case o.Out == "":
		return fmt.Errorf("sims: an output directory is required")
	case o.Quorum < 0:
		return fmt.Errorf("sims: quorum must be >= 0 (0: half the cohort, rounded up)")
	case o.Epochs < 1 || o.Batch < 1:
		return fmt.Errorf("sims: epochs and batch size must be at least 1")
	}
	if err := o.jobConfig().Validate(); err != nil {
		return fmt.Errorf("sims: %w", err)
	}
	return nil
}

// jobConfig is the simulated job, built and checked by package job like a
// job file (without the auditor, whose key Run derives).
func (o *Options) jobConfig() job.Config {
	c := job.Default()
	c.Name, c.Model, c.Seed = "sim", o.Arch, job.Uint(o.Seed)
	c.Rounds, c.CohortSize, c.Quorum = job.Uint(o.Rounds), job.Uint(min(o.Cohort, o.Participants)), job.Uint(o.Quorum)
	c.MinParticipants, c.Deadline = job.Uint(o.Participants), o.Deadline.String()
	c.Train = job.Train{Epochs: job.Uint(o.Epochs), BatchSize: job.Uint(o.Batch), LR: o.LR, Mu: o.Mu}
	c.Aggregation, c.Privacy, c.NormBound = o.Rule, o.Privacy, o.NormBound
	return c
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
	Committee blob.Committee
	// Audit is the report of auditing the finished chain (nil with NoAudit).
	Audit *audit.Report
	// Crashes lists the simulated coordinator crashes as "round R at POINT".
	Crashes []string
	// DeadNodes lists the committee indices of the storage nodes killed.
	DeadNodes []int
}

// keyFor derives a deterministic Ed25519 key for a role.
func keyFor(seed uint64, role string) crypto.PrivKey {
	h := sha256.Sum256([]byte("floe/sim-key/v1\x00" + strconv.FormatUint(seed, 10) + "\x00" + role))
	k, _, err := crypto.GenerateEd25519Key(bytes.NewReader(append(h[:], h[:]...)))
	if err != nil {
		panic(err)
	}
	return k
}

// network creates hosts on loopback TCP or on a mocknet.
type network struct {
	mn    mocknet.Mocknet
	hosts []host.Host
}

func (n *network) newHost(key crypto.PrivKey, i int) (host.Host, error) {
	var (
		h   host.Host
		err error
	)
	if n.mn != nil {
		addr, _ := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.0.%d.%d/tcp/4001", i/250, i%250+1))
		h, err = n.mn.AddPeer(key, addr)
	} else {
		h, err = transport.NewHost(transport.HostConfig{Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	}
	if err != nil {
		return nil, err
	}
	n.hosts = append(n.hosts, h)
	if n.mn != nil {
		if err := n.mn.LinkAll(); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (n *network) close() {
	for _, h := range n.hosts {
		h.Close()
	}
	if n.mn != nil {
		n.mn.Close()
	}
}

// loadData returns per-participant datasets and the held-out evaluation set.
func loadData(o *Options) ([]*model.Dataset, *model.Dataset, error) {
	switch o.Dataset {
	case "synthetic":
		return model.SyntheticFederated(o.Alpha, o.Beta, o.Participants, o.Seed)
	case "mnist":
		train, test, err := model.LoadMNIST(o.DataDir)
		if err != nil {
			return nil, nil, err
		}
		parts, err := partition(train.Y, o)
		if err != nil {
			return nil, nil, err
		}
		sets := make([]*model.Dataset, len(parts))
		for i, p := range parts {
			sets[i] = train.Subset(p)
		}
		return sets, test, nil
	}
	return nil, nil, fmt.Errorf("sims: unknown dataset %q (synthetic or mnist)", o.Dataset)
}

func partition(labels []int, o *Options) ([][]int, error) {
	switch o.Partition {
	case "dirichlet":
		return model.PartitionDirichlet(labels, o.Participants, o.DirAlpha, o.Seed), nil
	case "shards":
		return model.PartitionShards(labels, o.Participants, 2, o.Seed), nil
	case "iid", "":
		return model.PartitionIID(labels, o.Participants, o.Seed), nil
	}
	return nil, fmt.Errorf("sims: unknown partition %q (iid, shards or dirichlet)", o.Partition)
}

// Run runs a simulation. onRound, if set, is called after each round.
func Run(ctx context.Context, o Options, onRound func(RoundStat)) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	outer := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	data, eval, err := loadData(&o)
	if err != nil {
		return nil, err
	}
	arch, err := model.ParseArch(o.Arch)
	if err != nil {
		return nil, err
	}
	if arch, err = arch.ForData(data[0]); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("sims: %w", err)
	}
	// A simulation owns what it leaves in Out: clear a previous run's.
	for _, d := range []string{"nodes", "coordinator", "auditor.hpke", "head", "committee"} {
		if err := os.RemoveAll(filepath.Join(o.Out, d)); err != nil {
			return nil, fmt.Errorf("sims: %w", err)
		}
	}

	// Round deadlines run on a simulated clock in both modes: once every
	// cohort member has submitted or dropped out, time jumps to the deadline,
	// so dropouts never make a simulation wait. The memory network starts it
	// at a fixed instant, so that commitments are reproducible.
	start := time.Now().Truncate(time.Second)
	net := &network{}
	if o.Net == "memory" {
		net.mn = mocknet.New()
		start = time.Unix(1_700_000_000, 0).UTC()
	}
	fake := clock.NewFake(start)
	var clk clock.Clock = fake
	defer net.close()

	// Storage nodes, with keys and data where a user can restart them.
	var (
		com       blob.Committee
		nodes     []*p2p.Node
		nodeHosts []host.Host
	)
	for i := 0; i < o.Nodes; i++ {
		dir := filepath.Join(o.Out, "nodes", strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sims: %w", err)
		}
		key := keyFor(o.Seed, "node-"+strconv.Itoa(i))
		if err := transport.WriteKeyFile(filepath.Join(dir, "key"), key); err != nil {
			return nil, err
		}
		h, err := net.newHost(key, i)
		if err != nil {
			return nil, err
		}
		node, err := p2p.NewNode(h, filepath.Join(dir, "data"), p2p.WithClock(clk))
		if err != nil {
			return nil, err
		}
		defer node.Close()
		nodes, nodeHosts = append(nodes, node), append(nodeHosts, h)
		com.Members = append(com.Members, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	}
	if err := blob.WriteCommitteeFile(filepath.Join(o.Out, "committee"), com); err != nil {
		return nil, err
	}
	storeFor := func(h host.Host) (blob.Store, error) {
		c, err := p2p.NewClient(h, com)
		if err != nil {
			return nil, err
		}
		return p2p.Store{Client: c, WaitAll: o.Net == "memory"}, nil
	}

	// Coordinator.
	ckey := keyFor(o.Seed, "coordinator")
	cdir := filepath.Join(o.Out, "coordinator")
	ch, err := net.newHost(ckey, o.Nodes)
	if err != nil {
		return nil, err
	}
	cstore, err := storeFor(ch)
	if err != nil {
		return nil, err
	}
	hseed := sha256.Sum256([]byte("floe/sim-hpke/v1\x00" + strconv.FormatUint(o.Seed, 10)))
	hkey, err := seal.DeriveKey(hseed[:])
	if err != nil {
		return nil, err
	}
	cohort := min(o.Cohort, o.Participants)
	committee := com.Addrs()
	jc := o.jobConfig()
	var auditorKey *seal.Key
	if o.Privacy == "sealed" {
		// An auditor recipient, whose key is left in Out so that a separate
		// `floe audit --key` can open the updates.
		aseed := sha256.Sum256([]byte("floe/sim-auditor/v1\x00" + strconv.FormatUint(o.Seed, 10)))
		if auditorKey, err = seal.DeriveKey(aseed[:]); err != nil {
			return nil, err
		}
		if err := auditorKey.WriteFile(filepath.Join(o.Out, "auditor.hpke")); err != nil {
			return nil, err
		}
		jc.Auditors = []job.Auditor{{Name: AuditorName, PublicKey: base64.StdEncoding.EncodeToString(auditorKey.PublicKey())}}
	}
	spec, err := jc.Spec(ch.ID().String(), hkey, arch.String(), committee)
	if err != nil {
		return nil, fmt.Errorf("sims: %w", err)
	}
	spec.Eval = "held-out " + o.Dataset
	var (
		mu       sync.Mutex // guards the following
		stats    []RoundStat
		done     = map[uint64]map[string]bool{} // round -> cohort members finished -> accepted at receipt
		lastTime = clk.Now()
	)
	// short carries rounds whose cohort has finished with fewer accepted
	// submissions than members: with a simulated clock, time jumps to their deadline.
	short := make(chan struct{}, o.Rounds)
	crashAt, crashed := crashPlan(o), map[uint64]bool{}
	var crashes []string
	committed := make(chan uint64, o.Rounds)
	ccfg := coordinator.Config{
		Host: ch, Key: ckey, HPKE: hkey, Store: cstore, DataDir: cdir, Clock: clk, Eval: eval, Logger: o.Logger,
		Fault: func(point string, round uint64) bool {
			// Called from the coordinator's Run goroutine only.
			if crashAt[round] != point || crashed[round] {
				return false
			}
			crashed[round] = true
			crashes = append(crashes, fmt.Sprintf("round %d at %s", round, point))
			return true
		},
		OnCommit: func(c *ledger.SignedCommitment, head ledger.BlobID) {
			st := RoundStat{Round: c.C.Round, Status: c.C.Status, Cohort: len(c.C.Cohort), Head: head}
			for _, s := range c.C.Submissions {
				st.Submitted++
				if s.Status == ledger.StatusAccepted {
					st.Accepted++
				}
			}
			for _, m := range c.C.Metrics {
				v := math.NaN() // an unreadable metric shows as NaN, not as 0
				if d, err := decimal.Parse(m.Value); err == nil {
					v = d.Float64()
				} else if o.Logger != nil {
					o.Logger.Warn("unreadable metric in commitment", "round", c.C.Round, "metric", m.Name, "err", err)
				}
				switch m.Name {
				case "loss":
					st.Loss = v
				case "accuracy":
					st.Accuracy = v
				}
			}
			now := time.Now()
			mu.Lock()
			st.Seconds = now.Sub(lastTime).Seconds()
			lastTime = now
			stats = append(stats, st)
			mu.Unlock()
			committed <- c.C.Round
			if onRound != nil {
				onRound(st)
			}
		},
	}
	newJob := func() (ledger.JobSpec, []byte, error) {
		b, err := model.MarshalSafetensors(arch.Init(o.Seed), round.ModelMeta(&spec, 0))
		return spec, b, err
	}
	srv, err := coordinator.Open(ctx, ccfg, newJob)
	if err != nil {
		return nil, err
	}
	defer func() { srv.Close() }()
	lastTime = time.Now()

	// Participants.
	coordInfo := peer.AddrInfo{ID: ch.ID(), Addrs: ch.Addrs()}
	// finished records that a cohort member is through with a round
	// (submitted, or dropped out). A member that retried after a lost reply
	// is counted once, and a "duplicate" answer means its first try was accepted.
	finished := func(round uint64, self string, accepted bool) {
		mu.Lock()
		if done[round] == nil {
			done[round] = map[string]bool{}
		}
		_, seen := done[round][self]
		done[round][self] = done[round][self] || accepted
		n, ok := len(done[round]), 0
		for _, a := range done[round] {
			if a {
				ok++
			}
		}
		mu.Unlock()
		if !seen && n == cohort && ok < cohort {
			short <- struct{}{}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, o.Participants+1)
	for i := 0; i < o.Participants; i++ {
		key := keyFor(o.Seed, "participant-"+strconv.Itoa(i))
		h, err := net.newHost(key, o.Nodes+1+i)
		if err != nil {
			return nil, err
		}
		st, err := storeFor(h)
		if err != nil {
			return nil, err
		}
		self := h.ID().String()
		attacker := i < o.Attackers
		pcfg := participant.Config{
			Host: h, Key: key, Coordinator: coordInfo, Store: st, Data: data[i], Logger: o.Logger,
			Skip: func(round uint64) bool {
				skip := dropout(o.Seed, self, round) < o.Dropout
				if skip {
					finished(round, self, false)
				}
				return skip
			},
			OnSubmit: func(r uint64, status, reason string) {
				finished(r, self, status == round.RespOK || reason == string(ledger.ReasonDuplicate))
			},
		}
		if attacker {
			pcfg.Tamper = func(_ uint64, d []float32) {
				for j := range d {
					d[j] *= -10
				}
			}
		}
		if o.Net == "memory" {
			pcfg.Rand = func(round uint64) io.Reader {
				return participant.SealRand(o.Seed, self, round)
			}
		}
		p, err := participant.New(pcfg)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- err
			}
		}()
	}
	// The coordinator's loop. With a simulated clock nothing else moves time,
	// so the fake clock still reads the round's start and jumping by the
	// deadline closes the round at exactly its deadline.
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(ctx) }()
	var (
		runErr error
		dead   []int
	)
	killAt := uint64(max(1, o.Rounds/3))
loop:
	for {
		select {
		case runErr = <-srvDone:
			if !errors.Is(runErr, coordinator.ErrCrashed) {
				break loop
			}
			// The coordinator "died": reopen it from its data directory alone.
			srv.Close()
			if srv, runErr = coordinator.Open(ctx, ccfg, newJob); runErr != nil {
				break loop
			}
			go func(s *coordinator.Server) { srvDone <- s.Run(ctx) }(srv)
		case r := <-committed:
			if r == killAt && o.DeadNodes > 0 {
				for i := o.Nodes - 1; i >= o.Nodes-o.DeadNodes; i-- {
					nodes[i].Close()
					nodeHosts[i].Close()
					dead = append(dead, i)
				}
			}
		case err := <-errs:
			runErr = err
			break loop
		case <-short:
			fake.Advance(o.Deadline)
		case <-ctx.Done():
			runErr = ctx.Err()
			break loop
		}
	}
	cancel()
	wg.Wait()
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return nil, runErr
	}
	_, _, head := srv.Status()
	if err := os.WriteFile(filepath.Join(o.Out, "head"), []byte(ledger.Hash(head).String()+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("sims: %w", err)
	}
	res := &Result{Head: head, JobBlob: srv.JobBlob(), Committee: com, Crashes: crashes, DeadNodes: dead}
	mu.Lock()
	res.Rounds = stats
	mu.Unlock()
	if !o.NoAudit {
		// Audit the chain as an outside auditor would: from the head alone,
		// opening sealed updates with the auditor's recipient key.
		cfg := audit.Config{Get: cstore.Get, Committee: com, Head: head}
		if o.Privacy == "sealed" {
			cfg.Key, cfg.Name = auditorKey, AuditorName
		}
		if res.Audit, err = audit.Run(outer, cfg); err != nil {
			return nil, fmt.Errorf("sims: audit: %w", err)
		}
	}
	return res, nil
}

// crashPlan picks o.Crashes distinct rounds, and for each a fault point, from the seed.
func crashPlan(o Options) map[uint64]string {
	r := rand.New(rand.NewPCG(o.Seed, 0x6372617368)) // "crash"
	plan := map[uint64]string{}
	for _, i := range r.Perm(o.Rounds)[:o.Crashes] {
		point := coordinator.FaultClosed
		if r.IntN(2) == 1 {
			point = coordinator.FaultStored
		}
		plan[uint64(i+1)] = point
	}
	return plan
}

// dropout returns a uniform number in [0, 1) fixed by seed, participant and round.
func dropout(seed uint64, p string, round uint64) float64 {
	h := sha256.Sum256([]byte("floe/sim-dropout/v1\x00" + strconv.FormatUint(seed, 10) + "\x00" + p + "\x00" + strconv.FormatUint(round, 10)))
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16]))).Float64()
}
