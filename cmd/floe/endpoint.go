package main

import (
	"crypto/rand"
	"log/slog"
	"os"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/prometheus/client_golang/prometheus"
)

// newLogger returns the commands' stderr logger.
func newLogger(verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// endpoint is a libp2p host with a blob client on a committee (none for a
// job on Walrus, whose committee is empty).
type endpoint struct {
	key    crypto.PrivKey
	host   host.Host
	client *p2p.Client // nil without a committee
}

// openEndpoint starts a host and a blob client. keyPath "" means a fresh
// identity; no listen addresses with dialOnly means a host that listens nowhere.
func openEndpoint(keyPath string, listen []string, dialOnly bool, com blob.Committee) (*endpoint, error) {
	return openMeteredEndpoint(keyPath, listen, dialOnly, com, nil)
}

// openMeteredEndpoint is openEndpoint with the host's and the client's
// metrics registered on reg (nil: none).
func openMeteredEndpoint(keyPath string, listen []string, dialOnly bool, com blob.Committee, reg prometheus.Registerer) (*endpoint, error) {
	var (
		e   endpoint
		err error
	)
	if keyPath != "" {
		e.key, err = transport.LoadOrCreateKey(keyPath)
	} else {
		e.key, _, err = crypto.GenerateEd25519Key(rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	if e.host, err = transport.NewHost(transport.HostConfig{Key: e.key, ListenAddrs: listen, DialOnly: dialOnly && len(listen) == 0, Metrics: reg}); err != nil {
		return nil, err
	}
	if len(com.Members) == 0 {
		return &e, nil
	}
	var opts []p2p.ClientOption
	if reg != nil {
		opts = append(opts, p2p.WithClientMetrics(reg))
	}
	if e.client, err = p2p.NewClient(e.host, com, opts...); err != nil {
		e.host.Close()
		return nil, err
	}
	return &e, nil
}

// Close stops the client, if any, and the host.
func (e *endpoint) Close() {
	if e.client != nil {
		e.client.Close()
	}
	e.host.Close()
}
