package sims

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/audit"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// auditOptions is a short plain-privacy memory simulation whose chain
// exercises every part of a commitment: a server optimizer with state
// (fedavgm), DP noise (so the noise seed matters), a norm bound that rejects
// the attacker's updates during aggregation, and dropouts with a full quorum
// so that some rounds fail.
func auditOptions(dir string) Options {
	o := DefaultOptions()
	o.Net = "memory"
	o.Participants, o.Cohort, o.Quorum, o.Rounds = 5, 4, 3, 4
	o.Attackers = 1
	o.Dropout = 0.2
	o.NormBound = 5
	o.Privacy = "plain"
	o.Rule = aggregate.Spec{Rule: "fedavgm", Params: map[string]float64{"dp_clip": 10, "dp_noise_multiplier": 0.001}}
	o.Out = dir
	return o
}

// restarted is a sim's storage committee started again from its directory
// (keys and data) on a fresh mocknet, with a client to read it.
type restarted struct {
	com    blob.Committee
	client *blob.Client
	nodes  []*blob.Node
	dirs   []string
}

func restartNodes(t testing.TB, out string, n int) *restarted {
	t.Helper()
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	r := &restarted{}
	for i := 0; i < n; i++ {
		dir := filepath.Join(out, "nodes", strconv.Itoa(i))
		key, err := transport.LoadOrCreateKey(filepath.Join(dir, "key"))
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.9.0.%d/tcp/4001", i+1))
		h, err := mn.AddPeer(key, addr)
		if err != nil {
			t.Fatal(err)
		}
		node, err := blob.NewNode(h, filepath.Join(dir, "data"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		r.nodes = append(r.nodes, node)
		r.dirs = append(r.dirs, filepath.Join(dir, "data"))
		r.com.Members = append(r.com.Members, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	}
	ck, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := mn.AddPeer(ck, ma.StringCast("/ip4/10.9.1.1/tcp/4001"))
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	if r.client, err = blob.NewClient(ch, r.com); err != nil {
		t.Fatal(err)
	}
	return r
}

// chainFixture is one simulated chain, its blobs read back through a
// restarted committee and kept in memory for tampering.
type chainFixture struct {
	opts   Options
	res    *Result
	nodes  *restarted
	blobs  map[ledger.BlobID][]byte // every blob the honest audit read
	report *audit.Report
}

var (
	fixtureOnce sync.Once
	fixture     *chainFixture
	fixtureErr  error
)

// getFixture builds the chain once per test binary.
func getFixture(t *testing.T) *chainFixture {
	t.Helper()
	fixtureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "floe-audit-fixture-")
		if err != nil {
			fixtureErr = err
			return
		}
		fixture, fixtureErr = buildFixture(t, dir)
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

func buildFixture(t *testing.T, dir string) (*chainFixture, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := auditOptions(dir)
	res, err := Run(ctx, o, nil)
	if err != nil {
		return nil, err
	}
	f := &chainFixture{opts: o, res: res, blobs: map[ledger.BlobID][]byte{}}
	// The nodes are restarted on a fresh network; the test's cleanups stop
	// them when the first test using the fixture ends, after which the
	// in-memory blobs serve.
	f.nodes = restartNodes(t, dir, o.Nodes)
	var mu sync.Mutex
	get := func(ctx context.Context, id ledger.BlobID) ([]byte, error) {
		b, err := f.nodes.client.Get(ctx, blob.ID(id))
		if err == nil {
			mu.Lock()
			f.blobs[id] = b
			mu.Unlock()
		}
		return b, err
	}
	f.report, err = audit.Run(ctx, audit.Config{Get: get, Committee: f.nodes.com, Head: res.Head})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// mapStore is an in-memory, content-addressed blob store for tampering.
type mapStore struct {
	n     int
	blobs map[ledger.BlobID][]byte
}

func (f *chainFixture) store() *mapStore {
	m := &mapStore{n: f.opts.Nodes, blobs: make(map[ledger.BlobID][]byte, len(f.blobs))}
	for k, v := range f.blobs {
		m.blobs[k] = v
	}
	return m
}

func (m *mapStore) get(_ context.Context, id ledger.BlobID) ([]byte, error) {
	b, ok := m.blobs[id]
	if !ok {
		return nil, fmt.Errorf("test store: no blob %s", ledger.Hash(id))
	}
	return b, nil
}

func (m *mapStore) put(t *testing.T, b []byte) ledger.BlobID {
	t.Helper()
	id, err := blob.ComputeID(b, m.n)
	if err != nil {
		t.Fatal(err)
	}
	m.blobs[ledger.BlobID(id)] = b
	return ledger.BlobID(id)
}

func (m *mapStore) audit(t *testing.T, head ledger.BlobID) *audit.Report {
	t.Helper()
	rep, err := audit.Run(context.Background(), audit.Config{Get: m.get, Head: head})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func reportText(rep *audit.Report) string {
	var b strings.Builder
	rep.WriteText(&b)
	return b.String()
}

func TestAuditHonestChain(t *testing.T) {
	f := getFixture(t)
	t.Logf("\n%s", reportText(f.report))
	if f.report.Verdict != audit.VerdictVerified {
		t.Fatalf("honest chain: verdict %s: %v", f.report.Verdict, f.report.Err())
	}
	if err := f.report.Err(); err != nil {
		t.Fatal(err)
	}
	if len(f.report.Rounds) != f.opts.Rounds {
		t.Fatalf("%d rounds audited, want %d", len(f.report.Rounds), f.opts.Rounds)
	}
}
