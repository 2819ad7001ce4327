package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/internal/prefetch"
	"github.com/floe-fl/floe/job"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/seal"
	"github.com/floe-fl/floe/transport"
)

// coordinatorGCPercent is the coordinator's GOGC unless the environment
// sets one. Its heap is a few large buffers without pointers (the
// accumulator, the model, the update being folded), which a collection
// marks at almost no cost, while Go's default (100) lets garbage grow to
// the live heap's size: with 25 the coordinator's memory stays within a
// quarter above what it holds (floe bench round, README).
const coordinatorGCPercent = 25

// defaultEarlyFetchMiB is floe coordinator's --early-fetch-mib: a cohort of
// 20 updates of 100M float32 parameters.
const defaultEarlyFetchMiB = 8 << 10

func runCoordinator(args []string) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(coordinatorGCPercent)
	}
	fs := newFlagSet("coordinator", "--key FILE --data DIR (--committee FILE | "+walrusFlags+" [--epochs N]) --job FILE [--listen MULTIADDR ...] [flags]", `  floe coordinator --key coord.key --data coord/ --committee committee --job examples/job.yaml \
      --listen /ip4/127.0.0.1/tcp/4100 --addr-file coord.addrs --head-file head \
      --eval-dataset synthetic
  Restarted with the same flags, it resumes the job from its journal in --data.
  floe coordinator --key coord.key --data coord/ --job job.yaml --store walrus \
      --publisher https://publisher.walrus-testnet.walrus.space --aggregator https://aggregator.walrus-testnet.walrus.space
  (a job on Walrus: its job file says store: walrus; no storage nodes, no committee)`)
	keyPath := fs.String("key", "", "identity key file (created 0600 if missing)")
	dataDir := fs.String("data", "", "data directory: journal, job record, HPKE key")
	sf := addStoreFlags(fs, "committee file of the blob store (floe's storage nodes)", true)
	jobPath := fs.String("job", "", "job file (YAML); read only when --data holds no job yet")
	var listen multiFlag
	fs.Var(&listen, "listen", "multiaddr to listen on (repeatable; default loopback TCP and QUIC, port 0)")
	addrFile := fs.String("addr-file", "", "write the full multiaddrs (with /p2p/ID), one a line, once listening")
	headFile := fs.String("head-file", "", "write the chain head ID here after each round")
	var eval dataFlags
	eval.register(fs, "eval-")
	metricsAddr := metricsFlag(fs)
	prefetchMiB := fs.Uint64("prefetch-mib", prefetch.Budget>>20, "MiB of updates a fold may fetch and open ahead of the one it folds (overlap for memory: updates larger than this are fetched one at a time)")
	earlyMiB := fs.Uint64("early-fetch-mib", defaultEarlyFetchMiB, "MiB of a round's updates (as stored: sealed stays sealed) the coordinator fetches as they arrive into --data/early, for the fold to read from disk; 0: the fold fetches them all")
	evalCmd := fs.String("eval", "", "evaluator program (a command line, quoted as in a shell) that evaluates each new model over the resident-trainer protocol, for any model; on the --eval-dataset set when given")
	verbose := fs.Bool("v", false, "debug logging")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the coordinator's whole run to this file (written when it exits)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyPath == "" || *dataDir == "" || *jobPath == "" {
		return usagef("--key, --data and --job are required")
	}
	var evaluator coordinator.Evaluator
	if *evalCmd != "" {
		argv, err := model.SplitCommand(*evalCmd)
		if err != nil || len(argv) == 0 {
			return usagef("--eval %q: %v", *evalCmd, err)
		}
		rt := model.NewResidentTrainer(argv)
		defer rt.Close()
		evaluator = rt
	}
	if err := sf.check(); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	log := newLogger(*verbose)
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	com, ws, err := sf.open()
	if err != nil {
		return err
	}
	jobCfg, err := job.Load(*jobPath)
	if err != nil {
		return err
	}
	heldOut, err := eval.heldOut()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	hkey, err := seal.LoadOrCreateKey(filepath.Join(*dataDir, "hpke.key"))
	if err != nil {
		return err
	}
	reg, stopMetrics, err := startMetrics(*metricsAddr, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	ep, err := openMeteredEndpoint(*keyPath, listen, false, com, reg)
	if err != nil {
		return err
	}
	defer ep.Close()
	h, key := ep.host, ep.key
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	committee := com.Addrs()
	created := false // a new job was made from the job file (not resumed from --data)
	srv, err := coordinator.Open(ctx, coordinator.Config{
		Host: h, Key: key, HPKE: hkey, Store: storeOn(ep, ws), DataDir: *dataDir, HeadFile: *headFile, Eval: heldOut, Logger: log,
		Metrics: reg, Evaluator: evaluator, PrefetchBytes: max(*prefetchMiB, 1) << 20, EarlyFetchBytes: *earlyMiB << 20,
		OnCommit: func(c *ledger.SignedCommitment, head ledger.BlobID) {
			fmt.Println(commitLine(&c.C, head))
		},
	}, func() (ledger.JobSpec, []byte, error) {
		created = true
		// The job file says where the job's blobs are (it is signed into
		// the job); the flags say how to reach them, and must agree before
		// anything is stored.
		if err := storeAgrees(jobCfg.Store, sf, "job file "+*jobPath); err != nil {
			return ledger.JobSpec{}, nil, err
		}
		forModel := heldOut
		if evaluator != nil && jobCfg.InitialModel != "" {
			forModel = nil // the evaluator program evaluates the file's model on the held-out set
		}
		arch, initial, err := jobModel(jobCfg, forModel)
		if err != nil {
			return ledger.JobSpec{}, nil, err
		}
		spec, err := jobCfg.Spec(h.ID().String(), hkey, arch, committee)
		if err != nil {
			return ledger.JobSpec{}, nil, fmt.Errorf("job file %s: %w", *jobPath, err)
		}
		if heldOut != nil {
			spec.Eval = fmt.Sprintf("%s %s (%d examples)", eval.dataset, eval.path, heldOut.N)
			if eval.dataset == "synthetic" {
				spec.Eval = fmt.Sprintf("synthetic(%g,%g) clients=%d seed=%d held-out 20%% (%d examples)", eval.alpha, eval.beta, eval.clients, eval.seed, heldOut.N)
			}
		}
		return spec, initial, nil
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	// Creating or resuming the job read, checked and stored the model,
	// through buffers of several times its size that are free now: give
	// their memory back before the rounds, which need about the model's.
	debug.FreeOSMemory()
	// A resumed job's store rules (its job file is read only to warn).
	if err := storeAgrees(srv.Job().Job.Store, sf, "the job in "+*dataDir); err != nil {
		return err
	}
	addrs := transport.FullAddrs(h)
	if *addrFile != "" {
		if err := writeAddrFile(*addrFile, addrs); err != nil {
			return err
		}
	}
	cur, phase, head := srv.Status()
	if stored := srv.Job().Job; !created {
		// Resuming: the job in --data rules; say so if the job file changed since.
		want, err := jobCfg.Spec(stored.Coordinator, hkey, stored.Arch, stored.Committee)
		want.Recipients, want.Eval = stored.Recipients, stored.Eval
		want.InitialModel, want.InitialModelHash = stored.InitialModel, stored.InitialModelHash
		if err != nil || want.ID() != stored.ID() {
			log.Warn("the job file differs from the job being resumed; continuing the stored job", "data", *dataDir, "job", stored.ID().String())
		}
	}
	log.Info("coordinator listening", "peer", h.ID(), "addrs", strings.Join(addrs, " "), "job", srv.Job().Job.ID().String(),
		"round", cur, "phase", phase.String(), "head", ledger.Hash(head).String())
	if err := srv.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	if _, phase, head := srv.Status(); phase == round.PhaseDone {
		fmt.Printf("job done, chain head %s\n", ledger.Hash(head))
		lingerDone(ctx, log)
	}
	return nil
}

// storeAgrees reports, as a usage error, a job (named by what) whose store
// is not the one the flags reach.
func storeAgrees(jobStore string, sf *storeFlags, what string) error {
	switch {
	case jobStore == sf.jobStore():
		return nil
	case jobStore == ledger.StoreWalrus:
		return usagef("%s keeps its blobs on Walrus (store: walrus): run with %s, not --committee", what, walrusFlags)
	case sf.walrus():
		return usagef("%s keeps its blobs on floe's storage nodes (no store: walrus): run with --committee FILE, or make a job with store: walrus", what)
	}
	return usagef("%s has store %q, which floe does not know", what, jobStore)
}
