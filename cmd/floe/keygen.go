package main

import (
	"crypto/rand"
	"fmt"
	"os"

	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func runKeygen(args []string) error {
	fs := newFlagSet("keygen", "--out FILE", `  floe keygen --out node1.key
      creates an Ed25519 identity (mode 0600) and prints its peer ID`)
	out := fs.String("out", "", "key file to create (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out FILE is required")
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("keygen: %s already exists; not overwriting an identity", *out)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if err := transport.WriteKeyFile(*out, k); err != nil {
		return err
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Println(id)
	return nil
}
