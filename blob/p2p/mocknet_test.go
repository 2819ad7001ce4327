package p2p

import (
	"bytes"
	"testing"

	"github.com/floe-fl/floe/blob"

	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// TestMocknetPutGet runs the real node and client over go-libp2p's
// in-memory mocknet, as simulations do, and checks that a WithWaitAll put is
// bit-identical across two runs with the same keys.
func TestMocknetPutGet(t *testing.T) {
	run := func() ([]byte, []byte) {
		mn := mocknet.New()
		defer mn.Close()
		var com blob.Committee
		var nodes []*Node
		for i := range 7 {
			a, _ := ma.NewMultiaddr("/ip4/10.0.0." + string(rune('1'+i)) + "/tcp/4001")
			h, err := mn.AddPeer(seededKey(t, uint64(i+1)), a)
			if err != nil {
				t.Fatal(err)
			}
			nd, err := NewNode(h, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, nd)
			com.Members = append(com.Members, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
		}
		a, _ := ma.NewMultiaddr("/ip4/10.0.1.1/tcp/4001")
		ch, err := mn.AddPeer(seededKey(t, 99), a)
		if err != nil {
			t.Fatal(err)
		}
		if err := mn.LinkAll(); err != nil {
			t.Fatal(err)
		}
		cl, err := NewClient(ch, com)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		data := randBytes(7, 300_001)
		ctx := ctxT(t)
		id, cert, err := cl.Put(ctx, data, WithWaitAll())
		if err != nil {
			t.Fatal(err)
		}
		if len(cert.Acks) != 7 {
			t.Fatalf("WithWaitAll certificate has %d acks, want 7", len(cert.Acks))
		}
		if err := cert.Verify(com); err != nil {
			t.Fatal(err)
		}
		got, err := cl.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("mocknet get returned other bytes")
		}
		for _, nd := range nodes {
			nd.Close()
		}
		cb, err := cert.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return id[:], cb
	}
	id1, c1 := run()
	id2, c2 := run()
	if !bytes.Equal(id1, id2) || !bytes.Equal(c1, c2) {
		t.Fatal("two seeded runs gave different IDs or certificate bytes")
	}
}
