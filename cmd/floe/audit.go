package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/floe-fl/floe/audit"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/seal"
)

func runAudit(args []string) error {
	fs := newFlagSet("audit", "(--committee FILE | --store walrus --aggregator URL) --head ID|FILE [--key FILE] [--name NAME] [--json] [--from R]", `  floe audit --committee sim-out/committee --head sim-out/head
      (the head may be given as its ID or as a file holding it)
  floe audit --store walrus --aggregator https://aggregator.walrus-testnet.walrus.space --head Xq3b...Zk
      (a job on Walrus: the chain is read from any aggregator)
  floe audit --committee committee.txt --head Xq3b...Zk --key auditor.hpke --name auditor
      (a recipient of a sealed job replays every aggregation)
  floe audit --committee committee.txt --head Xq3b...Zk --json > report.json
  floe audit --committee committee.txt --head Xq3b...Zk --from 15
      (rounds 1-14: links and signatures only; replay from round 15)

Exit status: 0 when every check held; 1 when a check failed (the line names
the round, the check and the expected and found values) or when checks could
not be made (e.g. sealed updates without --key; accept that with --partial-ok).`)
	sf := addStoreFlags(fs, "committee file: one storage-node multiaddr with /p2p/ID a line, in sliver order", false)
	headArg := fs.String("head", "", "chain head: a blob ID (URL-safe base64), or a file holding one")
	keyPath := fs.String("key", "", "HPKE key file of a recipient of the job, to open sealed updates (must exist)")
	name := fs.String("name", audit.DefaultName, "the auditor's recipient name in the job")
	asJSON := fs.Bool("json", false, "print the report as one JSON document")
	from := fs.Uint64("from", 0, "replay from this round; earlier rounds get links and signatures only")
	identity := fs.String("identity", "", "libp2p identity key file for this client (default: a fresh key)")
	partialOK := fs.Bool("partial-ok", false, "exit 0 when no check failed even if some could not be made")
	timeout := fs.Duration("timeout", 30*time.Minute, "overall time limit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *headArg == "" {
		return usagef("--head ID is required")
	}
	if err := sf.check(); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	head, err := parseHead(*headArg)
	if err != nil {
		return err
	}
	com, ws, err := sf.open()
	if err != nil {
		return err
	}
	var key *seal.Key
	if *keyPath != "" {
		if _, err := os.Stat(*keyPath); err != nil {
			return usagef("--key %s: %v", *keyPath, err)
		}
		if key, err = seal.LoadOrCreateKey(*keyPath); err != nil {
			return err
		}
	}
	var get ledger.Getter
	if ws != nil {
		get = ws.Get // Walrus: plain HTTP, no libp2p host
	} else {
		ep, err := openEndpoint(*identity, nil, true, com)
		if err != nil {
			return err
		}
		defer ep.Close()
		client := ep.client
		get = func(ctx context.Context, id ledger.BlobID) ([]byte, error) { return client.Get(ctx, blob.ID(id)) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	rep, err := audit.Run(ctx, audit.Config{Get: get, Committee: com, Head: ledger.BlobID(head), Key: key, Name: *name, From: *from})
	if err != nil {
		return err
	}
	if *asJSON {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteText(os.Stdout)
	}
	if err != nil {
		return err
	}
	aerr := rep.Err()
	if aerr != nil && *partialOK && errors.Is(aerr, audit.ErrIncomplete) {
		return nil
	}
	return aerr
}
