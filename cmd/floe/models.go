package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/floe-fl/floe/atomicfile"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/ledger"
)

func runModels(args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "get") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(os.Stderr, "Usage: floe models list (--committee FILE | --store walrus --aggregator URL) --head ID\n       floe models get (--committee FILE | --store walrus --aggregator URL) --head ID --version R -o FILE")
			return nil
		}
		return usagef("usage: floe models list|get (--committee FILE | --store walrus --aggregator URL) --head ID [--version R -o FILE]")
	}
	sub := args[0]
	fs := newFlagSet("models "+sub, "(--committee FILE | --store walrus --aggregator URL) --head ID [--version R -o FILE]", `  floe models list --committee out/committee --head $(cat out/head)
  floe models get --committee out/committee --head $(cat out/head) --version 20 -o model.safetensors
  floe models list --store walrus --aggregator https://aggregator.walrus-testnet.walrus.space --head Xq3b...Zk`)
	sf := addStoreFlags(fs, "committee file", false)
	headID := fs.String("head", "", "chain head: a blob ID (URL-safe base64), or a file holding one")
	version := fs.Uint64("version", 0, "model version to get (0: initial model, R: output of round R)")
	out := fs.String("o", "", "output file for get ('-' for stdout)")
	timeout := fs.Duration("timeout", 2*time.Minute, "overall time limit")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *headID == "" || (sub == "get" && *out == "") {
		return usagef("--head is required (and -o for get)")
	}
	if err := sf.check(); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive, got %v", *timeout)
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	head, err := parseHead(*headID)
	if err != nil {
		return err
	}
	com, ws, err := sf.open()
	if err != nil {
		return err
	}
	var st blob.Store = ws // Walrus: plain HTTP, no libp2p host
	if ws == nil {
		ep, err := openEndpoint("", nil, true, com)
		if err != nil {
			return err
		}
		defer ep.Close()
		st = p2p.Store{Client: ep.client}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	chain, err := ledger.Walk(ctx, st.Get, ledger.BlobID(head))
	if err != nil {
		return err
	}
	if sub == "list" {
		fmt.Printf("%7s  %-43s  %-6s  %s\n", "version", "model blob", "status", "metrics")
		id, _, _ := chain.ModelVersion(0)
		fmt.Printf("%7d  %-43s  %-6s\n", 0, ledger.Hash(id), "init")
		for i, c := range chain.Commitments {
			ms := ""
			for _, m := range c.C.Metrics {
				ms += m.Name + "=" + m.Value + " "
			}
			// The participants' own figures, example-weighted.
			for _, m := range c.C.ParticipantMetrics {
				ms += "participants." + m.Name + "=" + m.Value + " "
			}
			fmt.Printf("%7d  %-43s  %-6s  %s\n", i+1, ledger.Hash(c.C.OutputModel), c.C.Status, ms)
		}
		return nil
	}
	id, hash, err := chain.ModelVersion(*version)
	if err != nil {
		return err
	}
	b, err := st.Get(ctx, id)
	if err != nil {
		return err
	}
	if ledger.Sum(b) != hash {
		return fmt.Errorf("models: version %d: model blob does not match the hash committed in the chain", *version)
	}
	if *out == "-" {
		_, err := os.Stdout.Write(b)
		return err
	}
	if err := atomicfile.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote version %d (%d bytes) to %s\n", *version, len(b), *out)
	return nil
}
