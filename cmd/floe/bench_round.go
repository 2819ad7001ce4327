package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/participant"
	"github.com/floe-fl/floe/round"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// roundBench is the report of `floe bench round`: one round of a job whose
// initial model is a generated file, with a coordinator process (this
// binary's `floe coordinator`), storage nodes and a cohort of participants
// on loopback libp2p hosts, beside moving the cohort's update bytes over
// one libp2p stream in the same run.
type roundBench struct {
	Config struct {
		Params        int    `json:"params"`
		Tensors       int    `json:"tensors"`
		Cohort        int    `json:"cohort"`
		Nodes         int    `json:"nodes"`
		Privacy       string `json:"privacy"`
		Concurrency   int    `json:"participant_concurrency"`
		EarlyFetchMiB uint64 `json:"coordinator_early_fetch_mib"`
		Quick         bool   `json:"quick"`
		GOMAXPROCS    int    `json:"gomaxprocs"`
		Go            string `json:"go"`
	} `json:"config"`
	// The commitment of round 1 as the coordinator printed it.
	Status   string `json:"status"`
	Accepted int    `json:"accepted"`
	Commit   string `json:"commit_line"`

	ModelBytes        int `json:"model_bytes"`
	UpdateBytes       int `json:"update_bytes"` // one update blob as stored (sealed size in a sealed job)
	CohortUpdateBytes int `json:"cohort_update_bytes"`

	// Round open to commit, from the coordinator's floe_round_phase_seconds.
	RoundSeconds      float64 `json:"round_seconds"`
	CollectingSeconds float64 `json:"collecting_seconds"`
	FoldingSeconds    float64 `json:"folding_seconds"`
	CommittingSeconds float64 `json:"committing_seconds"`
	// Updates the coordinator fetched as they arrived (floe coordinator
	// --early-fetch-mib), by result (floe_early_fetch_total).
	EarlyFetch map[string]float64 `json:"coordinator_early_fetch"`
	// CPU (user + system) over the round, from the participants' first
	// registration to the commit line: the coordinator process's
	// (process_cpu_seconds_total), and this process's (participants and
	// storage nodes).
	CoordinatorCPUSeconds float64 `json:"coordinator_cpu_seconds"`
	PeersCPUSeconds       float64 `json:"participants_and_nodes_cpu_seconds"`
	RoundWallSeconds      float64 `json:"round_wall_seconds"` // the same window, wall clock
	CoordinatorPeakRSSMiB float64 `json:"coordinator_round_peak_rss_mib"`
	CoordinatorRSSIdleMiB float64 `json:"coordinator_rss_before_round_mib"`
	CoordinatorJobPeakMiB float64 `json:"coordinator_job_creation_peak_rss_mib"`
	PeakResetAtRoundStart bool    `json:"coordinator_peak_reset_at_round_start"`
	PeersPeakRSSMiB       float64 `json:"participants_and_nodes_peak_rss_mib"`
	// Per participant, medians: fetching the model (Get), building the
	// update (parse, "train", delta, encode, seal) and storing it (Put, to
	// n-f acknowledgements).
	GetSecondsMedian       float64 `json:"participant_get_seconds_median"`
	PrepareSecondsMedian   float64 `json:"participant_prepare_seconds_median"`
	PutSecondsMedian       float64 `json:"participant_put_seconds_median"`
	PutSecondsMax          float64 `json:"participant_put_seconds_max"`
	PutMBpsMedian          float64 `json:"participant_put_mbps_median"`
	StreamSeconds          float64 `json:"stream_seconds"`
	StreamMBpsMedian       float64 `json:"stream_mbps_median"`
	StreamCPUSeconds       float64 `json:"stream_cpu_seconds"`
	StreamUpdateSecsMedian float64 `json:"stream_seconds_per_update_median"`

	Ratios map[string]float64 `json:"ratios"`
	Notes  string             `json:"notes"`
}

func benchRound(args []string) (any, error) {
	fs := newFlagSet("bench round", "[--params N] [--cohort C] [--nodes N] [--privacy sealed|plain] [--concurrency K] [--quick] [flags]", `  floe bench round
      25M float32 parameters, a cohort of 20, 4 storage nodes, sealed updates
  floe bench round --params 100000000 --concurrency 1
  floe bench round --quick
      1M parameters and a cohort of 4, in a few seconds`)
	params := fs.Int("params", 0, "float32 parameters of the generated model (default 25M; 1M with --quick)")
	tensors := fs.Int("tensors", 4, "tensors the parameters are split into")
	cohort := fs.Int("cohort", 0, "participants, all in the round's cohort (default 20; 4 with --quick)")
	nodes := fs.Int("nodes", 4, "storage nodes")
	privacy := fs.String("privacy", "sealed", "the job's privacy: sealed or plain")
	conc := fs.Int("concurrency", 4, "participants that fetch the model, build and store their update at once (they run in this process)")
	deadline := fs.Duration("deadline", 0, "the job's round deadline (default 30m; 2m with --quick)")
	quick := fs.Bool("quick", false, "a small round: 1M parameters and a cohort of 4, unless given")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (participants and storage nodes) over the round here")
	coordProfile := fs.String("coordinator-cpuprofile", "", "write a CPU profile of the coordinator process's whole run here")
	earlyMiB := fs.Uint64("early-fetch-mib", defaultEarlyFetchMiB, "the coordinator's --early-fetch-mib (0: its fold fetches every update)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, usagef("unexpected arguments %q", fs.Args())
	}
	// Zero: the default of the size asked for.
	for _, d := range []struct {
		v            *int
		full, little int
	}{{params, 25_000_000, 1_000_000}, {cohort, 20, 4}} {
		if *d.v == 0 {
			*d.v = d.full
			if *quick {
				*d.v = d.little
			}
		}
	}
	if *deadline == 0 {
		*deadline = 30 * time.Minute
		if *quick {
			*deadline = 2 * time.Minute
		}
	}
	switch {
	case *params < 1 || *tensors < 1 || *tensors > *params:
		return nil, usagef("--params and --tensors must be positive, with at most one tensor a parameter")
	case *cohort < 1 || *nodes < 1 || *nodes > blob.MaxCommittee || *conc < 1:
		return nil, usagef("--cohort, --concurrency and --nodes must be positive (--nodes at most %d)", blob.MaxCommittee)
	case *privacy != "sealed" && *privacy != "plain":
		return nil, usagef("--privacy is sealed or plain, not %q", *privacy)
	}
	out := &roundBench{Ratios: map[string]float64{}}
	c := &out.Config
	c.Params, c.Tensors, c.Cohort, c.Nodes, c.Privacy, c.Concurrency, c.Quick = *params, *tensors, *cohort, *nodes, *privacy, *conc, *quick
	c.GOMAXPROCS, c.Go = runtime.GOMAXPROCS(0), runtime.Version()

	dir, err := os.MkdirTemp("", "floe-bench-round-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	gen := &updateGen{r: rand.New(rand.NewPCG(1, 0x70d))}
	if out.ModelBytes, err = writeBenchModel(filepath.Join(dir, "model.safetensors"), *params, *tensors, gen); err != nil {
		return nil, err
	}
	delta := make([]float32, *params)
	gen.fill(delta)

	coordArgs := []string{"--early-fetch-mib", strconv.FormatUint(*earlyMiB, 10)}
	if *coordProfile != "" {
		coordArgs = append(coordArgs, "--cpuprofile", *coordProfile)
	}
	c.EarlyFetchMiB = *earlyMiB
	if err := runBenchRound(out, dir, delta, *deadline, *cpuProfile, coordArgs); err != nil {
		return nil, err
	}
	runtime.GC()
	debug.FreeOSMemory()

	// The same bytes over one libp2p stream: each update in turn, from one
	// new host to another (libp2pStream, as `floe bench blob` measures it).
	upd := make([]byte, out.UpdateBytes)
	for i := range upd {
		upd[i] = byte(i*131 + i>>9)
	}
	var rates []float64
	cpu0 := processCPU()
	for range *cohort {
		mbps, err := libp2pStream(upd, "/ip4/127.0.0.1/tcp/0")
		if err != nil {
			return nil, fmt.Errorf("bench round: libp2p stream: %w", err)
		}
		rates = append(rates, mbps)
		out.StreamSeconds += float64(len(upd)) / 1e6 / mbps
	}
	out.StreamCPUSeconds = cpuMsPerRun(cpu0, 1) / 1000
	slices.Sort(rates)
	out.StreamMBpsMedian = rates[len(rates)/2]
	out.StreamUpdateSecsMedian = float64(len(upd)) / 1e6 / out.StreamMBpsMedian
	out.CohortUpdateBytes = *cohort * out.UpdateBytes

	r := out.Ratios
	r["round_seconds_over_stream_seconds"] = out.RoundSeconds / out.StreamSeconds
	r["close_to_commit_seconds_over_stream_seconds"] = (out.FoldingSeconds + out.CommittingSeconds) / out.StreamSeconds
	r["folding_seconds_over_stream_seconds"] = out.FoldingSeconds / out.StreamSeconds
	r["coordinator_peak_rss_over_model_bytes"] = out.CoordinatorPeakRSSMiB * (1 << 20) / float64(out.ModelBytes)
	r["coordinator_peak_rss_above_idle_over_model_bytes"] = (out.CoordinatorPeakRSSMiB - out.CoordinatorRSSIdleMiB) * (1 << 20) / float64(out.ModelBytes)
	r["participant_put_seconds_over_stream_seconds_per_update"] = out.PutSecondsMedian / out.StreamUpdateSecsMedian
	if out.StreamCPUSeconds > 0 {
		r["round_cpu_over_stream_cpu"] = (out.CoordinatorCPUSeconds + out.PeersCPUSeconds) / out.StreamCPUSeconds
		r["coordinator_cpu_over_stream_cpu"] = out.CoordinatorCPUSeconds / out.StreamCPUSeconds
	}
	r["round_cpu_over_round_wall"] = (out.CoordinatorCPUSeconds + out.PeersCPUSeconds) / out.RoundWallSeconds
	for k, v := range r {
		r[k] = round3(v)
	}
	for _, p := range []*float64{&out.RoundSeconds, &out.CollectingSeconds, &out.FoldingSeconds, &out.CommittingSeconds,
		&out.CoordinatorCPUSeconds, &out.PeersCPUSeconds, &out.RoundWallSeconds, &out.CoordinatorPeakRSSMiB, &out.CoordinatorRSSIdleMiB,
		&out.CoordinatorJobPeakMiB, &out.PeersPeakRSSMiB, &out.GetSecondsMedian, &out.PrepareSecondsMedian, &out.PutSecondsMedian, &out.PutSecondsMax, &out.PutMBpsMedian,
		&out.StreamSeconds, &out.StreamMBpsMedian, &out.StreamCPUSeconds, &out.StreamUpdateSecsMedian} {
		*p = round3(*p)
	}
	out.Notes = "one round of a job (1 round, cohort = quorum = min_participants) whose initial model is a generated safetensors file of " +
		"float32 parameters; the coordinator is a child process (`floe coordinator`, loopback TCP), the storage nodes and the " +
		"participants run in this process on their own libp2p hosts. Participants do not train: their trainer returns the global " +
		"model plus one fixed pseudo-random delta; at most participant_concurrency of them hold a model or an update at once (from " +
		"fetching the model until their put returns). round_seconds: round open to commit (the coordinator's collecting + folding + " +
		"committing phases), of which close to commit (folding + committing) is the coordinator's own part: the round closes on the last submission, " +
		"and with participants on machines of their own the rest is their training and upload; coordinator_round_peak_rss_mib: its VmHWM over the round (reset at round start through " +
		"/proc/PID/clear_refs when coordinator_peak_reset_at_round_start, else its whole life); stream_seconds: the cohort's " +
		"update bytes sent one update at a time over a libp2p stream (TCP, TLS 1.3 as floe's hosts prefer it, yamux) between two new hosts of this process, " +
		"summed; CPU is user + system time, the coordinator's over the round from its process_cpu_seconds_total"
	return out, nil
}

// writeBenchModel writes a safetensors file of n float32 parameters split
// into k tensors, with values from gen, and returns its size.
func writeBenchModel(path string, n, k int, gen *updateGen) (int, error) {
	p := &model.Params{}
	for i := range k {
		size := n / k
		if i == k-1 {
			size = n - (k-1)*(n/k)
		}
		t := model.Tensor{Name: fmt.Sprintf("block%d.weight", i), Shape: []int{size}, Data: make([]float32, size)}
		gen.fill(t.Data)
		p.Tensors = append(p.Tensors, t)
	}
	b, err := model.MarshalSafetensors(p, nil)
	if err != nil {
		return 0, err
	}
	return len(b), os.WriteFile(path, b, 0o644)
}

// runBenchRound starts the storage nodes, the coordinator process and the
// participants, waits for round 1's commitment and fills out's round
// figures.
func runBenchRound(out *roundBench, dir string, delta []float32, deadline time.Duration, cpuProfile string, coordArgs []string) error {
	cfg := &out.Config
	cl, stopNodes, err := benchCommittee(cfg.Nodes)
	if err != nil {
		return fmt.Errorf("bench round: storage nodes: %w", err)
	}
	defer stopNodes()
	com := cl.Committee()
	if err := blob.WriteCommitteeFile(filepath.Join(dir, "committee"), com); err != nil {
		return err
	}
	jobFile := fmt.Sprintf("name: bench-round\ninitial_model: model.safetensors\nseed: 1\nrounds: 1\ncohort_size: %d\nquorum: %d\n"+
		"min_participants: %d\ndeadline: %s\ntrain: {epochs: 1, batch_size: 1, lr: 0.1}\nprivacy: %s\n",
		cfg.Cohort, cfg.Cohort, cfg.Cohort, deadline, cfg.Privacy)
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte(jobFile), 0o644); err != nil {
		return err
	}
	co, err := startBenchCoordinator(dir, deadline+10*time.Minute, coordArgs)
	if err != nil {
		return err
	}
	defer co.stop()

	if out.CoordinatorRSSIdleMiB, out.CoordinatorJobPeakMiB, err = procMemory(co.pid()); err != nil {
		return err
	}
	// Peak RSS from here on: writing 5 to clear_refs resets VmHWM to VmRSS.
	out.PeakResetAtRoundStart = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", co.pid()), []byte("5"), 0) == nil
	m0, err := scrapeMetrics(co.metricsURL)
	if err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	cpu0, wall0 := processCPU(), time.Now()

	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg      sync.WaitGroup
		hosts   []host.Host
		clients []*p2p.Client
	)
	defer func() {
		cancel()
		wg.Wait()
		for _, c := range clients {
			c.Close()
		}
		for _, h := range hosts {
			h.Close()
		}
	}()
	errs := make(chan error, 2*cfg.Cohort)
	var (
		mu    sync.Mutex
		steps []participantSteps
	)
	gate := make(chan struct{}, cfg.Concurrency)
	for range cfg.Cohort {
		h, err := benchHost()
		if err != nil {
			return err
		}
		hosts = append(hosts, h)
		c, err := p2p.NewClient(h, com)
		if err != nil {
			return err
		}
		clients = append(clients, c)
		st := &gatedStore{st: p2p.Store{Client: c}, gate: gate, done: func(t participantSteps) {
			mu.Lock()
			steps = append(steps, t)
			mu.Unlock()
		}}
		p, err := participant.New(participant.Config{
			Host: h, Key: h.Peerstore().PrivKey(h.ID()), Coordinator: co.addr, Store: st, Trainer: deltaTrainer{delta},
			Data: &model.Dataset{X: []float32{0}, Y: []int{0}, N: 1, D: 1, Classes: 1},
			OnSubmit: func(r uint64, status, reason string) {
				if status != round.RespOK {
					select {
					case errs <- fmt.Errorf("bench round: submission of round %d refused: %s %s", r, status, reason):
					default:
					}
				}
			},
		})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Run(ctx); err != nil && ctx.Err() == nil {
				errs <- err
			}
		}()
	}
	timeout := time.NewTimer(deadline + 5*time.Minute)
	defer timeout.Stop()
	for out.Commit == "" {
		select {
		case line, ok := <-co.lines:
			if !ok {
				return fmt.Errorf("bench round: the coordinator exited before committing round 1: %s", co.logTail())
			}
			if strings.HasPrefix(line, "round 1 ") {
				out.Commit = line
			}
		case err := <-errs:
			return err
		case <-timeout.C:
			return fmt.Errorf("bench round: no commitment after %v: %s", deadline+5*time.Minute, co.logTail())
		}
	}
	out.RoundWallSeconds = time.Since(wall0).Seconds()
	stopProfile()
	out.PeersCPUSeconds = cpuMsPerRun(cpu0, 1) / 1000
	m1, err := scrapeMetrics(co.metricsURL)
	if err != nil {
		return err
	}
	if _, out.CoordinatorPeakRSSMiB, err = procMemory(co.pid()); err != nil {
		return err
	}
	if _, out.PeersPeakRSSMiB, err = procMemory(os.Getpid()); err != nil {
		return err
	}
	out.CoordinatorCPUSeconds = m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]
	phase := func(name string) float64 {
		k := `floe_round_phase_seconds_sum{phase="` + name + `"}`
		return m1[k] - m0[k]
	}
	out.CollectingSeconds, out.FoldingSeconds, out.CommittingSeconds = phase("collecting"), phase("folding"), phase("committing")
	out.EarlyFetch = map[string]float64{}
	for _, r := range []string{"spilled", "used", "failed", "skipped", "corrupt"} {
		k := `floe_early_fetch_total{result="` + r + `"}`
		out.EarlyFetch[r] = m1[k] - m0[k]
	}
	out.RoundSeconds = out.CollectingSeconds + out.FoldingSeconds + out.CommittingSeconds

	// "round 1 ok head ID accepted A/C ..."
	f := strings.Fields(out.Commit)
	if len(f) >= 7 && f[5] == "accepted" {
		out.Status = f[2]
		a, _, _ := strings.Cut(f[6], "/")
		out.Accepted, _ = strconv.Atoi(a)
	}
	if out.Status != "ok" || out.Accepted != cfg.Cohort {
		return fmt.Errorf("bench round: round 1 did not commit ok with all %d updates: %q", cfg.Cohort, out.Commit)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(steps) != cfg.Cohort {
		return fmt.Errorf("bench round: %d puts for a cohort of %d", len(steps), cfg.Cohort)
	}
	med := func(f func(participantSteps) time.Duration) (median, max float64) {
		d := make([]time.Duration, len(steps))
		for i, s := range steps {
			d[i] = f(s)
		}
		slices.Sort(d)
		return d[len(d)/2].Seconds(), d[len(d)-1].Seconds()
	}
	out.UpdateBytes = steps[0].size
	out.GetSecondsMedian, _ = med(func(s participantSteps) time.Duration { return s.get })
	out.PrepareSecondsMedian, _ = med(func(s participantSteps) time.Duration { return s.prepare })
	out.PutSecondsMedian, out.PutSecondsMax = med(func(s participantSteps) time.Duration { return s.put })
	out.PutMBpsMedian = float64(out.UpdateBytes) / 1e6 / out.PutSecondsMedian
	return nil
}

// participantSteps times one participant's round: fetching the model, from
// then to its put, and the put of size bytes.
type participantSteps struct {
	get, prepare, put time.Duration
	size              int
}

// deltaTrainer does not train: it returns the global model plus a fixed
// delta, so that a round costs what moving and folding updates costs.
type deltaTrainer struct{ delta []float32 }

func (t deltaTrainer) Train(_ context.Context, global *model.Params, _ *model.Dataset, _ model.TrainConfig) (*model.Result, error) {
	if global.Len() != len(t.delta) {
		return nil, fmt.Errorf("bench round: the model has %d parameters, the delta %d", global.Len(), len(t.delta))
	}
	p := global.Clone()
	off := 0
	for i := range p.Tensors {
		d := p.Tensors[i].Data
		for j := range d {
			d[j] += t.delta[off+j]
		}
		off += len(d)
	}
	return &model.Result{Params: p, NumExamples: 1}, nil
}

// gatedStore is a participant's store: a participant takes a place at the
// gate when it fetches the round's model and leaves it when its update is
// stored, so that at most cap(gate) participants of this process hold a
// model and an update at once; done gets the times of each round. One
// participant uses it, from its Run goroutine.
type gatedStore struct {
	st   p2p.Store
	gate chan struct{}
	held bool
	done func(participantSteps)
	cur  participantSteps
	got  time.Time
}

func (s *gatedStore) VerifyCert(id [32]byte, cert []byte) error { return s.st.VerifyCert(id, cert) }

func (s *gatedStore) Get(ctx context.Context, id [32]byte) ([]byte, error) {
	if !s.held {
		select {
		case s.gate <- struct{}{}:
			s.held = true
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	start := time.Now()
	b, err := s.st.Get(ctx, id)
	s.got = time.Now()
	s.cur.get = s.got.Sub(start)
	return b, err
}

func (s *gatedStore) Put(ctx context.Context, data []byte, lifetime time.Duration) ([32]byte, []byte, error) {
	return s.timePut(len(data), func() ([32]byte, []byte, error) { return s.st.Put(ctx, data, lifetime) })
}

// PutFrom stores a blob read from r, streamed where the committee's store
// can (as a participant stores its update when its store offers PutFrom).
func (s *gatedStore) PutFrom(ctx context.Context, r io.ReaderAt, size int64, lifetime time.Duration) ([32]byte, []byte, error) {
	return s.timePut(int(size), func() ([32]byte, []byte, error) {
		if p, ok := any(s.st).(interface {
			PutFrom(context.Context, io.ReaderAt, int64, time.Duration) ([32]byte, []byte, error)
		}); ok {
			return p.PutFrom(ctx, r, size, lifetime)
		}
		b := make([]byte, size)
		if n, err := r.ReadAt(b, 0); n < len(b) {
			return [32]byte{}, nil, err
		}
		return s.st.Put(ctx, b, lifetime)
	})
}

// timePut runs a put of n bytes, records its time and leaves the gate.
func (s *gatedStore) timePut(n int, put func() ([32]byte, []byte, error)) ([32]byte, []byte, error) {
	start := time.Now()
	id, cert, err := put()
	if err == nil {
		s.cur.prepare, s.cur.put, s.cur.size = start.Sub(s.got), time.Since(start), n
		s.done(s.cur)
	}
	if s.held {
		<-s.gate
		s.held = false
	}
	return id, cert, err
}

// benchCoordinator is a `floe coordinator` child process.
type benchCoordinator struct {
	cmd        *exec.Cmd
	addr       peer.AddrInfo
	metricsURL string
	logPath    string
	lines      chan string   // its stdout lines; closed at EOF
	exited     chan struct{} // closed once it has exited
}

// startBenchCoordinator starts this binary's `floe coordinator` on dir's
// job and committee, listening on loopback TCP with its metrics served on
// a loopback port, and waits up to startTimeout for it to listen (it first
// stores the job's initial model).
func startBenchCoordinator(dir string, startTimeout time.Duration, extraArgs []string) (*benchCoordinator, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	co := &benchCoordinator{logPath: filepath.Join(dir, "coordinator.log"), lines: make(chan string, 16), exited: make(chan struct{})}
	logf, err := os.Create(co.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	addrFile := filepath.Join(dir, "coordinator.addrs")
	co.cmd = exec.Command(self, "coordinator", "--key", filepath.Join(dir, "coordinator.key"), "--data", filepath.Join(dir, "coordinator"),
		"--committee", filepath.Join(dir, "committee"), "--job", filepath.Join(dir, "job.yaml"),
		"--listen", "/ip4/127.0.0.1/tcp/0", "--addr-file", addrFile, "--metrics-addr", "127.0.0.1:0")
	co.cmd.Args = append(co.cmd.Args, extraArgs...)
	co.cmd.Stderr = logf
	stdout, err := co.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := co.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			co.lines <- sc.Text()
		}
		close(co.lines)
		co.cmd.Wait()
		close(co.exited)
	}()
	deadline := time.Now().Add(startTimeout)
	for co.addr.ID == "" || co.metricsURL == "" {
		select {
		case <-co.exited:
			return nil, fmt.Errorf("bench round: the coordinator exited: %s", co.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			co.stop()
			return nil, fmt.Errorf("bench round: the coordinator did not start in %v: %s", startTimeout, co.logTail())
		}
		if log, err := os.ReadFile(co.logPath); err == nil && co.metricsURL == "" {
			if _, rest, ok := strings.Cut(string(log), "url=http://"); ok {
				if u, _, ok := strings.Cut(rest, "\n"); ok {
					co.metricsURL = "http://" + strings.Fields(u)[0]
				}
			}
		}
		if b, err := os.ReadFile(addrFile); err == nil && co.addr.ID == "" {
			first, _, _ := strings.Cut(string(b), "\n")
			ai, err := peer.AddrInfoFromString(first)
			if err != nil {
				co.stop()
				return nil, err
			}
			co.addr = *ai
		}
	}
	return co, nil
}

func (co *benchCoordinator) pid() int { return co.cmd.Process.Pid }

// stop interrupts the coordinator (it would linger, answering "done") and
// kills it if it has not exited 20 s later.
func (co *benchCoordinator) stop() {
	co.cmd.Process.Signal(os.Interrupt)
	go func() {
		for range co.lines { // drain, so that the reader reaches EOF
		}
	}()
	select {
	case <-co.exited:
	case <-time.After(20 * time.Second):
		co.cmd.Process.Kill()
		<-co.exited
	}
}

// logTail is the end of the coordinator's log, for errors.
func (co *benchCoordinator) logTail() string {
	b, _ := os.ReadFile(co.logPath)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// scrapeMetrics reads a Prometheus text page into series (name with its
// labels, as written) and values.
func scrapeMetrics(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, fmt.Errorf("bench round: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench round: metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if _, ok := m["process_cpu_seconds_total"]; !ok {
		return nil, errors.New("bench round: the coordinator's metrics have no process_cpu_seconds_total")
	}
	return m, nil
}
