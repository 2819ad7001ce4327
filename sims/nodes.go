package sims

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/clock"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// keyFor derives a deterministic Ed25519 key for a role.
func keyFor(seed uint64, role string) crypto.PrivKey {
	h := sha256.Sum256([]byte("floe/sim-key/v1\x00" + strconv.FormatUint(seed, 10) + "\x00" + role))
	k, _, err := crypto.GenerateEd25519Key(bytes.NewReader(append(h[:], h[:]...)))
	if err != nil {
		panic(err)
	}
	return k
}

// network creates hosts on loopback TCP or on a mocknet.
type network struct {
	mn    mocknet.Mocknet
	hosts []host.Host
	hubs  []host.Host // storage nodes and the coordinator: linked to every host
}

// newHost adds a host. On the mocknet, a hub (a storage node, the
// coordinator) is linked to every host and any other host (a participant)
// to the hubs only: participants never talk to each other, and linking
// every pair after every new host (mocknet.LinkAll) grew memory as N^3.
func (n *network) newHost(key crypto.PrivKey, i int, hub bool) (host.Host, error) {
	var (
		h   host.Host
		err error
	)
	if n.mn != nil {
		addr, _ := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4001", i/62500, i/250%250, i%250+1))
		h, err = n.mn.AddPeer(key, addr)
	} else {
		h, err = transport.NewHost(transport.HostConfig{Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	}
	if err != nil {
		return nil, err
	}
	if n.mn != nil {
		others := n.hubs
		if hub {
			others = n.hosts
		}
		for _, o := range others {
			if _, err := n.mn.LinkPeers(h.ID(), o.ID()); err != nil {
				return nil, err
			}
		}
	}
	n.hosts = append(n.hosts, h)
	if hub {
		n.hubs = append(n.hubs, h)
	}
	return h, nil
}

// close closes every host, then the mocknet.
func (n *network) close() {
	for _, h := range n.hosts {
		h.Close()
	}
	if n.mn != nil {
		n.mn.Close()
	}
}

// startNetwork makes the run's network and its simulated clock.
//
// Round deadlines run on a simulated clock in both modes: once every cohort
// member has submitted or dropped out, time jumps to the deadline (see
// loop), so dropouts never make a simulation wait. The memory network starts
// it at a fixed instant, so that commitments are reproducible.
func (s *sim) startNetwork() {
	start := time.Now().Truncate(time.Second)
	s.net = &network{}
	if s.o.Net == "memory" {
		s.net.mn = mocknet.New()
		start = time.Unix(1_700_000_000, 0).UTC()
	}
	s.clock = clock.NewFake(start)
}

// startNodes starts the storage nodes, with keys and data where a user can
// restart them (Out/nodes/I), and writes the committee file. stopNodes
// stops those started, also after an error.
func (s *sim) startNodes() error {
	if s.o.Store == ledger.StoreWalrus {
		return nil // the job's blobs are on Walrus: no storage nodes, no committee
	}
	for i := 0; i < s.o.Nodes; i++ {
		dir := filepath.Join(s.o.Out, "nodes", strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("sims: %w", err)
		}
		key := keyFor(s.o.Seed, "node-"+strconv.Itoa(i))
		if err := transport.WriteKeyFile(filepath.Join(dir, "key"), key); err != nil {
			return err
		}
		h, err := s.net.newHost(key, i, true)
		if err != nil {
			return err
		}
		node, err := p2p.NewNode(h, filepath.Join(dir, "data"), p2p.WithClock(s.clock))
		if err != nil {
			return err
		}
		s.nodes, s.nodeHosts = append(s.nodes, node), append(s.nodeHosts, h)
		s.com.Members = append(s.com.Members, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	}
	return blob.WriteCommitteeFile(filepath.Join(s.o.Out, "committee"), s.com)
}

// stopNodes stops every storage node started (their hosts close with the
// network).
func (s *sim) stopNodes() {
	for _, n := range s.nodes {
		n.Close()
	}
}

// killNodes kills the last o.DeadNodes storage nodes for good, hosts and all.
func (s *sim) killNodes() {
	for i := s.o.Nodes - 1; i >= s.o.Nodes-s.o.DeadNodes; i-- {
		s.nodes[i].Close()
		s.nodeHosts[i].Close()
		s.dead = append(s.dead, i)
	}
}

// storeFor is a blob store client of the committee on host h, or in
// walrus mode a Walrus client.
func (s *sim) storeFor(h host.Host) (blob.Store, error) {
	if s.o.Store == ledger.StoreWalrus {
		return s.walrusStore()
	}
	c, err := p2p.NewClient(h, s.com)
	if err != nil {
		return nil, err
	}
	return p2p.Store{Client: c, WaitAll: s.o.Net == "memory"}, nil
}
