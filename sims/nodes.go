package sims

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

// storeFor is a blob store client of the committee on host h, or in
// walrus mode a Walrus client. On the committee it reports a read or write
// that fails because more than f storage nodes are down as a
// *NodesLostError (guardStore). The coordinator's (h is its host) also
// sees each commitment it stores (commitStore): the faults of the next
// round strike there, and with crash faults but no seeded crashes it is
// the crashing store (a seeded plan makes openCoordinator wrap it in one).
func (s *sim) storeFor(h host.Host) (blob.Store, error) {
	var st blob.Store
	if s.o.Store == ledger.StoreWalrus {
		w, err := s.walrusStore()
		if err != nil {
			return nil, err
		}
		st = w
	} else {
		c, err := p2p.NewClient(h, s.com)
		if err != nil {
			return nil, err
		}
		st = guardStore{Store: p2p.Store{Client: c, WaitAll: s.o.Net == "memory"}, s: s}
	}
	if h.ID() != s.coordID() {
		return st, nil
	}
	st = &commitStore{Store: st, s: s}
	if plan := crashPlan(*s.o); s.o.Crashes == 0 && len(plan) > 0 {
		s.crashStore = newCrashStore(st, plan)
		st = s.crashStore
	}
	return st, nil
}

// coordID is the coordinator's peer ID.
func (s *sim) coordID() peer.ID {
	id, err := peer.IDFromPrivateKey(keyFor(s.o.Seed, "coordinator"))
	if err != nil {
		panic(err) // an Ed25519 key always has an ID
	}
	return id
}

// nodeState is what the node faults did so far. Only the goroutine that
// runs applyFaults (the coordinator's, or Run's before it starts) changes
// it; nodesLost reads it under s.mu.
type nodeState struct {
	dead      map[int]bool
	parted    map[int]bool
	corrupt   map[int]bool // from its round on
	wiped     map[int]bool // wiped and not repaired: missing older slivers
	corrupted map[string]bool
	cut       map[int][][2]peer.ID // partition (fault index) -> links removed
}

// applyFaults runs the faults that strike as round r opens (r = rounds+1:
// after the last round): storage nodes killed, wiped (and repaired),
// corrupted, partitions made and healed; and the corrupt nodes' new
// slivers corrupted. model is the model round r starts from. When more
// than f nodes are then down it reads model, and a failure ends the run
// (NodesLostError) before anyone waits on it. It runs while no round is
// open: before the participants start, or while the coordinator stores
// the commitment of round r-1.
func (s *sim) applyFaults(ctx context.Context, r uint64, model ledger.BlobID) {
	killed := false
	for _, a := range s.plan.nodes[int(r)] {
		switch a.kind {
		case FaultKillNodes:
			for _, i := range a.killed {
				s.nodes[i].Close()
				s.nodeHosts[i].Close()
				s.mu.Lock()
				s.nst.dead[i] = true
				s.mu.Unlock()
				s.dead = append(s.dead, i)
			}
			killed = true
			s.event(r, "killed storage nodes %v", a.killed)
		case FaultWipeNode:
			s.wipeNode(ctx, r, a.node, a.repair)
		case FaultCorruptNode:
			s.mu.Lock()
			s.nst.corrupt[a.node] = true
			s.mu.Unlock()
			s.event(r, "storage node %d serves corrupted slivers from now on", a.node)
		case FaultPartition:
			if a.healing {
				s.heal(a.fault)
				s.event(r, "partition of %v healed", a.peers)
			} else {
				s.partition(a.fault, a.peers)
				s.event(r, "partition: %v cut off", a.peers)
			}
		}
	}
	s.corruptSlivers()
	if killed {
		if _, err := s.cstoreInner().Get(ctx, model); err != nil {
			if e := s.nodesLost("read", r, model, err); e != nil {
				e.What = fmt.Sprintf("the model round %d starts from", r)
				s.fail(e)
			}
		}
	}
}

// cstoreInner is the coordinator's store client without its crashes,
// commitment hook and guard: what the sim itself reads with.
func (s *sim) cstoreInner() blob.Store {
	st := s.cstore
	if c, ok := st.(*crashStore); ok {
		st = c.inner
	}
	if c, ok := st.(*commitStore); ok {
		st = c.Store
	}
	if g, ok := st.(guardStore); ok {
		st = g.Store
	}
	return st
}

// event records a fault that struck as round r opened (Result.Faults).
func (s *sim) event(r uint64, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r > uint64(s.o.Rounds) {
		msg = "after the last round: " + msg
	} else {
		msg = fmt.Sprintf("round %d: %s", r, msg)
	}
	s.o.Logger.Info("fault", "what", msg)
	s.mu.Lock()
	s.faultLog = append(s.faultLog, msg)
	s.mu.Unlock()
}

// wipeNode empties storage node i's data directory and restarts it on its
// host; with repair it then rebuilds its slivers from the others.
func (s *sim) wipeNode(ctx context.Context, r uint64, i int, repair bool) {
	dir := filepath.Join(s.o.Out, "nodes", strconv.Itoa(i), "data")
	s.nodes[i].Close()
	err := os.RemoveAll(dir)
	var node *p2p.Node
	if err == nil {
		node, err = p2p.NewNode(s.nodeHosts[i], dir, p2p.WithClock(s.clock))
	}
	if err != nil {
		s.fail(fmt.Errorf("sims: wipe storage node %d: %w", i, err))
		return
	}
	s.nodes[i] = node
	s.mu.Lock()
	s.nst.wiped[i] = !repair
	for k := range s.nst.corrupted {
		if strings.HasPrefix(k, dir+string(filepath.Separator)) {
			delete(s.nst.corrupted, k)
		}
	}
	s.mu.Unlock()
	if !repair {
		s.event(r, "storage node %d wiped", i)
		return
	}
	rep, err := node.RepairWithReport(ctx, s.com)
	switch {
	case err != nil:
		s.event(r, "storage node %d wiped; repair failed: %v", i, err)
	case len(rep.Failed) > 0:
		s.event(r, "storage node %d wiped; repaired %d of %d blobs, failed: %v", i, len(rep.Repaired), rep.Certified, errors.Join(rep.Failed...))
	default:
		s.event(r, "storage node %d wiped and repaired (%d blobs rebuilt)", i, len(rep.Repaired))
	}
	if err != nil || len(rep.Failed) > 0 {
		s.mu.Lock()
		s.nst.wiped[i] = true
		s.mu.Unlock()
	}
}

// corruptSlivers flips the last byte (sliver data, past the header) of
// every sliver file a corrupt node holds that is not corrupted yet,
// through a temporary file and a rename, so the node never serves a torn
// file.
func (s *sim) corruptSlivers() {
	s.mu.Lock()
	var nodes []int
	for i := range s.nst.corrupt {
		nodes = append(nodes, i)
	}
	s.mu.Unlock()
	slices.Sort(nodes)
	for _, i := range nodes {
		data := filepath.Join(s.o.Out, "nodes", strconv.Itoa(i), "data")
		files, _ := filepath.Glob(filepath.Join(data, "slivers", "*"))
		for _, f := range files {
			s.mu.Lock()
			done := s.nst.corrupted[f]
			s.mu.Unlock()
			if done {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil || len(b) == 0 {
				continue
			}
			b[len(b)-1] ^= 0x5a
			tmp := filepath.Join(data, "tmp", "sim-corrupt-"+filepath.Base(f))
			if os.WriteFile(tmp, b, 0o600) != nil || os.Rename(tmp, f) != nil {
				continue
			}
			s.mu.Lock()
			s.nst.corrupted[f] = true
			s.mu.Unlock()
		}
	}
}

// partition cuts the named peers off from every other host (links and
// connections), remembering the links for heal.
func (s *sim) partition(fault int, peers []string) {
	in := map[peer.ID]bool{}
	var nodes []int
	for _, p := range peers {
		kind, i, _ := parsePeer(p)
		if kind == "node" {
			in[s.nodeHosts[i].ID()] = true
			nodes = append(nodes, i)
		} else {
			in[s.partHosts[i].ID()] = true
		}
	}
	var cut [][2]peer.ID
	for _, h := range s.net.hosts {
		a := h.ID()
		if !in[a] {
			continue
		}
		for _, o := range s.net.hosts {
			b := o.ID()
			if in[b] || len(s.net.mn.LinksBetweenPeers(a, b)) == 0 {
				continue
			}
			s.net.mn.UnlinkPeers(a, b)
			s.net.mn.DisconnectPeers(a, b)
			s.net.mn.DisconnectPeers(b, a)
			cut = append(cut, [2]peer.ID{a, b})
		}
	}
	s.mu.Lock()
	s.nst.cut[fault] = cut
	for _, i := range nodes {
		s.nst.parted[i] = true
	}
	s.mu.Unlock()
}

// heal links again what partition fault cut, with the links' latencies.
func (s *sim) heal(fault int) {
	s.mu.Lock()
	cut := s.nst.cut[fault]
	delete(s.nst.cut, fault)
	gone := map[peer.ID]bool{} // nodes killed while cut off stay dead
	for i := range s.nst.dead {
		gone[s.nodeHosts[i].ID()] = true
	}
	s.mu.Unlock()
	for _, l := range cut {
		if gone[l[0]] || gone[l[1]] {
			continue
		}
		if _, err := s.net.mn.LinkPeers(l[0], l[1]); err != nil {
			s.fail(fmt.Errorf("sims: heal partition: %w", err))
			return
		}
		for _, p := range l {
			if d := s.latency[p]; d > 0 {
				s.setLatency(p, d)
			}
		}
	}
	s.mu.Lock()
	for _, p := range s.o.Faults[fault].Peers {
		if kind, i, _ := parsePeer(p); kind == "node" {
			delete(s.nst.parted, i)
		}
	}
	s.mu.Unlock()
}

// setLatency makes every link of host p wait d (delay faults).
func (s *sim) setLatency(p peer.ID, d time.Duration) {
	if s.latency == nil {
		s.latency = map[peer.ID]time.Duration{}
	}
	s.latency[p] = d
	for _, h := range s.net.hubs {
		for _, l := range s.net.mn.LinksBetweenPeers(p, h.ID()) {
			l.SetOptions(mocknet.LinkOptions{Latency: d})
		}
	}
}

// NodesLostError is a run stopped because more storage nodes are down or
// faulty than the committee tolerates (f): a blob could not be read (Op
// "read") or stored ("store").
type NodesLostError struct {
	Op    string
	Round uint64 // the round that needed it
	Blob  blob.ID
	What  string // what the blob is, when known ("the model round 2 starts from")
	Down  string // which nodes, and how
	Count int    // nodes down or faulty
	N, F  int
	Err   error
}

func (e *NodesLostError) Error() string {
	what := "blob " + e.Blob.String() + " is unreadable"
	if e.What != "" {
		what = "blob " + e.Blob.String() + " (" + e.What + ") is unreadable"
	}
	if e.Op == "store" {
		what = "cannot store blob " + e.Blob.String()
	}
	return fmt.Sprintf("sims: round %d: %s: %d of %d storage nodes are down or faulty (%s), more than f = %d: %v", e.Round, what, e.Count, e.N, e.Down, e.F, e.Err)
}

// Unwrap gives the store's error and blob.ErrStopped: the coordinator
// stops instead of retrying.
func (e *NodesLostError) Unwrap() []error { return []error{e.Err, blob.ErrStopped} }

// nodesLost returns the NodesLostError of a failed read or store of id
// (err) when more than f nodes are down or faulty, else nil. round 0: the
// round in progress.
func (s *sim) nodesLost(op string, round uint64, id [32]byte, err error) *NodesLostError {
	s.mu.Lock()
	defer s.mu.Unlock()
	bad := map[int]bool{}
	var parts []string
	for _, c := range []struct {
		what string
		m    map[int]bool
	}{{"killed", s.nst.dead}, {"partitioned", s.nst.parted}, {"corrupt", s.nst.corrupt}, {"wiped", s.nst.wiped}} {
		var idx []int
		for i, on := range c.m {
			if on {
				idx = append(idx, i)
				bad[i] = true
			}
		}
		if len(idx) > 0 {
			slices.Sort(idx)
			parts = append(parts, fmt.Sprintf("%s %v", c.what, idx))
		}
	}
	if len(bad) <= s.com.F() {
		return nil
	}
	if round == 0 {
		round = s.round
	}
	return &NodesLostError{Op: op, Round: round, Blob: blob.ID(id), Down: strings.Join(parts, ", "), Count: len(bad), N: s.com.N(), F: s.com.F(), Err: err}
}

var _ blob.ReaderAtPutter = guardStore{}

// guardStore is a committee store client that turns a read or store
// failing because more than f nodes are down into a *NodesLostError, also
// handed to the loop (s.fail): the run stops with it instead of retrying
// forever.
type guardStore struct {
	blob.Store
	s *sim
}

func (g guardStore) Get(ctx context.Context, id [32]byte) ([]byte, error) {
	b, err := g.Store.Get(ctx, id)
	if err != nil && errors.Is(err, blob.ErrNotEnoughSlivers) {
		if e := g.s.nodesLost("read", 0, id, err); e != nil {
			g.s.fail(e)
			return nil, e
		}
	}
	return b, err
}

func (g guardStore) Put(ctx context.Context, data []byte, lifetime time.Duration) ([32]byte, []byte, error) {
	id, cert, err := g.Store.Put(ctx, data, lifetime)
	return id, cert, g.stored(err, func() []byte { return data })
}

// PutFrom is the inner store's (p2p.Store's): a participant streams its
// update to the committee.
func (g guardStore) PutFrom(ctx context.Context, r io.ReaderAt, size int64, lifetime time.Duration) ([32]byte, []byte, error) {
	id, cert, err := g.Store.(blob.ReaderAtPutter).PutFrom(ctx, r, size, lifetime)
	return id, cert, g.stored(err, func() []byte {
		b := make([]byte, size)
		n, _ := r.ReadAt(b, 0)
		return b[:n]
	})
}

// stored returns err, or the *NodesLostError it makes (also handed to the
// loop) when it is a store that more than f nodes down made fail; data
// gives the blob, to name it.
func (g guardStore) stored(err error, data func() []byte) error {
	var pe *p2p.PutError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	id, _ := blob.ComputeID(data(), g.s.com.N())
	if e := g.s.nodesLost("store", 0, id, err); e != nil {
		g.s.fail(e)
		return e
	}
	return err
}
