package transport

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floe-fl/floe/codec"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestLoadOrCreateKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "id.key")
	k1, err := LoadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if k1.Type() != crypto.Ed25519 {
		t.Fatalf("key type %v", k1.Type())
	}
	k2, err := LoadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equals(k2) {
		t.Fatal("second load returned another key")
	}
	if err := WriteKeyFile(p, k1); err == nil {
		t.Fatal("WriteKeyFile overwrote an existing key")
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := LoadOrCreateKey(bad); err == nil || !strings.HasPrefix(err.Error(), "transport: ") {
		t.Fatalf("garbage key file: err %v", err)
	}
}

func TestHostsExchangeMessages(t *testing.T) {
	k1, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	k2, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	a, err := NewHost(HostConfig{Key: k1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewHost(HostConfig{Key: k2, ListenAddrs: []string{"/ip4/127.0.0.1/udp/0/quic-v1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	full := FullAddrs(b)
	if len(full) != 1 || !strings.Contains(full[0], "/quic-v1/p2p/"+b.ID().String()) {
		t.Fatalf("FullAddrs = %v", full)
	}
	type msg struct {
		N    int    `cbor:"1,keyasint"`
		Text string `cbor:"2,keyasint"`
	}
	b.SetStreamHandler(ProtoRound, func(s network.Stream) {
		defer s.Close()
		SetDeadline(s, 5*time.Second)
		var m msg
		if err := codec.ReadMsg(s, 1024, &m); err != nil {
			s.Reset()
			return
		}
		payload, _ := io.ReadAll(io.LimitReader(s, 1<<20))
		m.N = len(payload)
		codec.WriteMsg(s, m)
	})
	ai, _ := peer.AddrInfoFromString(full[0])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	s, err := a.NewStream(ctx, b.ID(), ProtoRound)
	if err != nil {
		t.Fatal(err)
	}
	defer ResetOnDone(ctx, s)()
	SetDeadline(s, 5*time.Second)
	if err := codec.WriteMsg(s, msg{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(make([]byte, 300_000)); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	var got msg
	if err := codec.ReadMsg(s, 1024, &got); err != nil {
		t.Fatal(err)
	}
	if got.N != 300_000 || got.Text != "hi" {
		t.Fatalf("reply %+v", got)
	}
	s.Close()
}

func TestNewHostErrors(t *testing.T) {
	if _, err := NewHost(HostConfig{}); err == nil {
		t.Fatal("no key accepted")
	}
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	if _, err := NewHost(HostConfig{Key: k, ListenAddrs: []string{"nonsense"}}); err == nil || !strings.HasPrefix(err.Error(), "transport: ") {
		t.Fatalf("bad listen address: %v", err)
	}
}

func TestLimitsGiveBulkProtocolMemory(t *testing.T) {
	p := Limits(1<<30, 4096).ToPartialLimitConfig()
	blob, ok := p.Protocol[ProtoBlob]
	if !ok {
		t.Fatal("no protocol limit for ProtoBlob")
	}
	if blob.Memory != 1<<30 {
		t.Fatalf("ProtoBlob memory limit %v, want 1 GiB", blob.Memory)
	}
	if pp := p.ProtocolPeer[ProtoBlob]; pp.Memory != 512<<20 {
		t.Fatalf("ProtoBlob per-peer memory %v, want 512 MiB", pp.Memory)
	}
	if p.PeerDefault.Memory != 512<<20 {
		t.Fatalf("peer memory %v, want 512 MiB so yamux windows can grow", p.PeerDefault.Memory)
	}
}

func TestDocStatesContract(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"LoadOrCreateKey", "NewHost", "FullAddrs", "WriteMsg", "ReadMsg", "ResetOnDone", "On-disk format"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("doc.go does not mention %s", s)
		}
	}
}
