package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/participant"
	"github.com/libp2p/go-libp2p/core/peer"
)

func runParticipant(args []string) error {
	fs := newFlagSet("participant", "--key FILE --coordinator MULTIADDR (--committee FILE | "+walrusFlags+" [--epochs N]) --dataset NAME [flags]", `  floe participant --key p3.key --coordinator /ip4/127.0.0.1/tcp/4100/p2p/12D3Koo... --committee committee \
      --dataset synthetic --clients 10 --index 3
  floe participant --key p.key --coordinator $(head -1 coord.addrs) --committee committee \
      --dataset mnist --data ../shared/datasets/mnist --partition shards --clients 100 --index 7
  floe participant --key p.key --coordinator ADDR --committee committee --dataset csv --data mine.csv \
      --trainer "python3 examples/trainer/train.py"
  floe participant --key p.key --coordinator ADDR --dataset csv --data mine.csv --store walrus \
      --publisher https://publisher.walrus-testnet.walrus.space --aggregator https://aggregator.walrus-testnet.walrus.space
  (the trainer gets FLOE_MODEL_IN, FLOE_MODEL_OUT, FLOE_RESULT_OUT, FLOE_DATA, ... in its
   environment, or {model_in}, {model_out}, {result_out}, {data} placeholders in its arguments)`)
	keyPath := fs.String("key", "", "identity key file (created 0600 if missing)")
	coordAddr := fs.String("coordinator", "", "coordinator multiaddr with /p2p/ID")
	sf := addStoreFlags(fs, "committee file of the blob store (floe's storage nodes)", true)
	trainer := fs.String("trainer", "", "external trainer command line, split like a shell's words, no shell (see README: External trainers); default: built-in")
	trainerMode := fs.String("trainer-mode", "per-round", "how --trainer runs: per-round (a process a round) or resident (one process for the job, model/doc.go's resident protocol)")
	trainerTimeout := fs.Duration("trainer-timeout", 0, "with --trainer-mode resident: bound on each train call (0: none)")
	lifetime := fs.Duration("update-lifetime", 0, "how long storage nodes keep this participant's update blobs (0: as the job says)")
	var listen multiFlag
	fs.Var(&listen, "listen", "multiaddr to listen on (repeatable; default loopback, port 0)")
	var data dataFlags
	data.register(fs, "")
	metricsAddr := metricsFlag(fs)
	verbose := fs.Bool("v", false, "debug logging")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyPath == "" || *coordAddr == "" {
		return usagef("--key and --coordinator are required")
	}
	if err := sf.check(); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *lifetime < 0 {
		return usagef("--update-lifetime must not be negative, got %v", *lifetime)
	}
	newTrainer, err := trainerFlags(*trainer, *trainerMode, *trainerTimeout)
	if err != nil {
		return err
	}
	coord, err := peer.AddrInfoFromString(*coordAddr)
	if err != nil {
		return usagef("--coordinator %q: %v", *coordAddr, err)
	}
	log := newLogger(*verbose)
	com, ws, err := sf.open()
	if err != nil {
		return err
	}
	local, err := data.local()
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
	var tr model.Trainer
	if newTrainer != nil {
		tr = newTrainer()
		if c, ok := tr.(io.Closer); ok {
			defer c.Close()
		}
	}
	p, err := participant.New(participant.Config{
		Host: h, Key: key, Coordinator: *coord, Store: storeOn(ep, ws), StoreKind: storeKind(ws), Trainer: tr, Data: local,
		Logger: log, UpdateLifetime: *lifetime, Metrics: reg,
		OnSubmit: func(round uint64, status, reason string) {
			fmt.Printf("round %d submitted: %s %s\n", round, status, reason)
		},
		OnDone: func(round uint64, head ledger.BlobID) {
			fmt.Printf("job finished after round %d, chain head %s\n", round, ledger.Hash(head))
		},
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("participant started", "peer", h.ID(), "examples", local.N, "coordinator", coord.ID)
	start := time.Now()
	if err := p.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	log.Info("participant finished", "seconds", time.Since(start).Seconds())
	return nil
}

// trainerFlags checks the --trainer flags and returns what makes a trainer
// from them (nil without --trainer: the built-in one). The command line is
// split into words like a shell's (model.SplitCommand), with no shell.
func trainerFlags(command, mode string, timeout time.Duration) (func() model.Trainer, error) {
	if mode != "per-round" && mode != "resident" {
		return nil, usagef("--trainer-mode must be per-round or resident, not %q", mode)
	}
	if timeout < 0 {
		return nil, usagef("--trainer-timeout must not be negative, got %v", timeout)
	}
	if command == "" {
		return nil, nil
	}
	argv, err := model.SplitCommand(command)
	if err != nil {
		return nil, usagef("--trainer: %v", err)
	}
	if mode == "per-round" {
		return func() model.Trainer {
			return model.NewExternalTrainer(argv, model.WithOutput(os.Stderr, os.Stderr))
		}, nil
	}
	return func() model.Trainer {
		t := model.NewResidentTrainer(argv, model.WithOutput(nil, os.Stderr))
		t.CallTimeout = timeout
		return t
	}, nil
}
