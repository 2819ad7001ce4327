package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/floe-fl/floe/seal"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func runKeygen(args []string) error {
	fs := newFlagSet("keygen", "--out FILE [--hpke]", `  floe keygen --out node1.key
      creates an Ed25519 identity (mode 0600) and prints its peer ID
  floe keygen --hpke --out auditor.hpke
      creates an X25519 HPKE key (mode 0600) for opening sealed updates and prints its
      public key (base64) for a job file's auditors: [{name: auditor, public_key: ...}]`)
	out := fs.String("out", "", "key file to create (must not exist)")
	hpke := fs.Bool("hpke", false, "create an HPKE (X25519) recipient key instead of an identity")
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
		return fmt.Errorf("%s already exists; not overwriting a key", *out)
	}
	if *hpke {
		k, err := seal.LoadOrCreateKey(*out)
		if err != nil {
			return err
		}
		fmt.Println(base64.StdEncoding.EncodeToString(k.PublicKey()))
		return nil
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	if err := transport.WriteKeyFile(*out, k); err != nil {
		return err
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	fmt.Println(id)
	return nil
}
