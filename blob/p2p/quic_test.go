package p2p

import (
	"bytes"
	"testing"

	"github.com/floe-fl/floe/blob"

	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestQUICPutGet(t *testing.T) {
	var com blob.Committee
	for i := range 4 {
		h, err := transport.NewHost(transport.HostConfig{Key: seededKey(t, uint64(i+1)), ListenAddrs: []string{"/ip4/127.0.0.1/udp/0/quic-v1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		nd, err := NewNode(h, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer nd.Close()
		com.Members = append(com.Members, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	}
	ch, err := transport.NewHost(transport.HostConfig{Key: seededKey(t, 50), DialOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	cl, err := NewClient(ch, com)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	data := randBytes(3, 5<<20)
	id, _, err := cl.Put(ctxT(t), data, WithWaitAll())
	if err != nil {
		t.Fatal(err)
	}
	got, err := cl.Get(ctxT(t), id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("quic get: %v", err)
	}
}
