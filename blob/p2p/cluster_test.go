package p2p

import (
	"context"
	"crypto/ed25519"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/clock"

	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// cluster is a committee of real libp2p storage nodes on loopback.
type cluster struct {
	t      testing.TB
	keys   []crypto.PrivKey
	dirs   []string
	hosts  []host.Host
	nodes  []*Node
	com    blob.Committee
	client *Client
	ch     host.Host
	clock  *clock.Fake
}

// seededKey returns a deterministic Ed25519 key.
func seededKey(t testing.TB, seed uint64) crypto.PrivKey {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var s [32]byte
	for i := range s {
		s[i] = byte(r.Uint32())
	}
	k, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(s[:]))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func tcpHost(t testing.TB, k crypto.PrivKey) host.Host {
	h, err := transport.NewHost(transport.HostConfig{Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newCluster(t *testing.T, n int, copts ...ClientOption) *cluster {
	return newClusterTB(t, n, copts...)
}

func newClusterTB(t testing.TB, n int, copts ...ClientOption) *cluster {
	t.Helper()
	c := &cluster{t: t, clock: clock.NewFake(time.Unix(1_700_000_000, 0))}
	for i := range n {
		c.keys = append(c.keys, seededKey(t, uint64(i+1)))
		c.dirs = append(c.dirs, t.TempDir())
		c.hosts = append(c.hosts, nil)
		c.nodes = append(c.nodes, nil)
		c.start(i)
		c.com.Members = append(c.com.Members, peer.AddrInfo{ID: c.hosts[i].ID(), Addrs: c.hosts[i].Addrs()})
	}
	c.ch = tcpHost(t, seededKey(t, 1000))
	copts = append([]ClientOption{WithNodeTimeout(5*time.Second, 1<<20)}, copts...)
	cl, err := NewClient(c.ch, c.com, copts...)
	if err != nil {
		t.Fatal(err)
	}
	c.client = cl
	t.Cleanup(func() {
		cl.Close()
		c.ch.Close()
		for i := range c.hosts {
			c.stop(i)
		}
	})
	return c
}

// start (re)starts node i on a fresh port with its key and data directory,
// and updates its committee address.
func (c *cluster) start(i int) {
	c.t.Helper()
	h := tcpHost(c.t, c.keys[i])
	nd, err := NewNode(h, c.dirs[i], WithClock(c.clock))
	if err != nil {
		c.t.Fatal(err)
	}
	c.hosts[i], c.nodes[i] = h, nd
	if i < len(c.com.Members) {
		c.com.Members[i].Addrs = h.Addrs()
		if c.ch != nil {
			c.ch.Peerstore().ClearAddrs(h.ID())
			c.ch.Peerstore().AddAddrs(h.ID(), h.Addrs(), time.Hour)
		}
	}
}

// stop shuts node i down (host closed: it is unreachable).
func (c *cluster) stop(i int) {
	if c.nodes[i] != nil {
		c.nodes[i].Close()
		c.nodes[i] = nil
	}
	if c.hosts[i] != nil {
		c.hosts[i].Close()
		c.hosts[i] = nil
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}
