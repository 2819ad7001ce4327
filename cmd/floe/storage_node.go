package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/floe-fl/floe/atomicfile"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/transport"
)

func runStorageNode(args []string) error {
	fs := newFlagSet("storage-node", "--key FILE --data DIR [--listen MULTIADDR ...] [--addr-file FILE] [--committee FILE]", `  floe storage-node --key node1.key --data /var/lib/floe/node1 \
      --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/udp/4001/quic-v1
  floe storage-node --key n1.key --data d1 --addr-file n1.addrs
      (loopback, kernel-picked ports; n1.addrs gets the full multiaddrs)
  floe storage-node --key n1.key --data d1 --committee committee.txt --repair-interval 10m
      (also refills this node's missing slivers of certified blobs)`)
	keyPath := fs.String("key", "", "identity key file (created 0600 if missing)")
	dataDir := fs.String("data", "", "data directory for slivers and certificates")
	var listen multiFlag
	fs.Var(&listen, "listen", "multiaddr to listen on (repeatable; default loopback TCP and QUIC, port 0)")
	addrFile := fs.String("addr-file", "", "write the full multiaddrs (with /p2p/ID), one a line, here once listening")
	committee := fs.String("committee", "", "committee file; when set, repair this node's missing slivers at start and every --repair-interval")
	repairEvery := fs.Duration("repair-interval", 0, "repair period with --committee (0: only at start)")
	gcEvery := fs.Duration("gc-interval", time.Minute, "how often to delete expired blobs")
	memory := fs.Int64("memory-mib", 1024, "libp2p resource-manager memory budget in MiB")
	metricsAddr := metricsFlag(fs)
	verbose := fs.Bool("v", false, "log each request at debug level")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyPath == "" || *dataDir == "" {
		return usagef("--key FILE and --data DIR are required")
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *memory <= 0 {
		return usagef("--memory-mib must be positive, got %d", *memory)
	}
	if *gcEvery <= 0 {
		return usagef("--gc-interval must be positive")
	}
	if *repairEvery < 0 || (*repairEvery > 0 && *committee == "") {
		return usagef("--repair-interval needs --committee and a non-negative duration")
	}
	var com blob.Committee
	if *committee != "" {
		var err error
		if com, err = blob.ReadCommitteeFile(*committee); err != nil {
			return err
		}
	}
	log := newLogger(*verbose)
	key, err := transport.LoadOrCreateKey(*keyPath)
	if err != nil {
		return err
	}
	reg, stopMetrics, err := startMetrics(*metricsAddr, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	h, err := transport.NewHost(transport.HostConfig{Key: key, ListenAddrs: listen, MemoryLimit: *memory << 20, Metrics: reg})
	if err != nil {
		return err
	}
	defer h.Close()
	nodeOpts := []p2p.NodeOption{p2p.WithNodeLogger(log), p2p.WithGCInterval(*gcEvery)}
	if reg != nil {
		nodeOpts = append(nodeOpts, p2p.WithNodeMetrics(reg))
	}
	node, err := p2p.NewNode(h, *dataDir, nodeOpts...)
	if err != nil {
		return err
	}
	defer node.Close()
	addrs := transport.FullAddrs(h)
	if *addrFile != "" {
		if err := writeAddrFile(*addrFile, addrs); err != nil {
			return err
		}
	}
	log.Info("storage node listening", "peer", h.ID(), "addrs", strings.Join(addrs, " "), "data", *dataDir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *committee != "" {
		go repairLoop(ctx, node, com, *repairEvery, log)
	}
	<-ctx.Done()
	log.Info("storage node stopping")
	return nil
}

func repairLoop(ctx context.Context, node *p2p.Node, com blob.Committee, every time.Duration, log *slog.Logger) {
	for {
		rep, err := node.RepairWithReport(ctx, com)
		if err != nil {
			log.Warn("repair", "err", err)
		} else {
			log.Info("repair", "certified", rep.Certified, "held", rep.Held, "repaired", len(rep.Repaired), "failed", len(rep.Failed))
			for _, e := range rep.Failed {
				log.Warn("repair failed", "err", e)
			}
		}
		if every == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// writeAddrFile writes one address a line, atomically (atomicfile.WriteFile),
// so a reader polling for the file never sees it half written.
func writeAddrFile(path string, addrs []string) error {
	if err := atomicfile.WriteFile(path, []byte(strings.Join(addrs, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("addr file: %w", err)
	}
	return nil
}
