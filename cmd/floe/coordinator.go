package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/job"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round"
	"github.com/floe-fl/floe/seal"
	"github.com/floe-fl/floe/transport"
)

func runCoordinator(args []string) error {
	fs := newFlagSet("coordinator", "--key FILE --data DIR --committee FILE --job FILE [--listen MULTIADDR ...] [flags]", `  floe coordinator --key coord.key --data coord/ --committee committee --job examples/job.yaml \
      --listen /ip4/127.0.0.1/tcp/4100 --addr-file coord.addrs --head-file head \
      --eval-dataset synthetic
  Restarted with the same flags, it resumes the job from its journal in --data.`)
	keyPath := fs.String("key", "", "identity key file (created 0600 if missing)")
	dataDir := fs.String("data", "", "data directory: journal, job record, HPKE key")
	comPath := fs.String("committee", "", "committee file of the blob store")
	jobPath := fs.String("job", "", "job file (YAML); read only when --data holds no job yet")
	var listen multiFlag
	fs.Var(&listen, "listen", "multiaddr to listen on (repeatable; default loopback TCP and QUIC, port 0)")
	addrFile := fs.String("addr-file", "", "write the full multiaddrs (with /p2p/ID), one a line, once listening")
	headFile := fs.String("head-file", "", "write the chain head ID here after each round")
	var eval dataFlags
	eval.register(fs, "eval-")
	metricsAddr := metricsFlag(fs)
	verbose := fs.Bool("v", false, "debug logging")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyPath == "" || *dataDir == "" || *comPath == "" || *jobPath == "" {
		return usagef("--key, --data, --committee and --job are required")
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	log := newLogger(*verbose)
	com, err := blob.ReadCommitteeFile(*comPath)
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
		Host: h, Key: key, HPKE: hkey, Store: p2p.Store{Client: ep.client}, DataDir: *dataDir, HeadFile: *headFile, Eval: heldOut, Logger: log,
		Metrics: reg,
		OnCommit: func(c *ledger.SignedCommitment, head ledger.BlobID) {
			fmt.Println(commitLine(&c.C, head))
		},
	}, func() (ledger.JobSpec, []byte, error) {
		created = true
		arch, initial, err := jobModel(jobCfg, heldOut)
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
