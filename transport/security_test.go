package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// securityHost starts a TCP-only host offering security in that order.
func securityHost(t *testing.T, security []protocol.ID, maxFrame int) host.Host {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(HostConfig{Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Security: security, MaxFrame: maxFrame})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestSecurityPreferences: hosts preferring Noise and hosts preferring TLS
// connect to each other in both directions, over the dialer's first
// choice, and move a ProtoBlob stream larger than a yamux window in frames
// of both sizes; a host offering TLS only still reaches a default host.
func TestSecurityPreferences(t *testing.T) {
	noiseFirst := []protocol.ID{SecurityNoise, SecurityTLS}
	tlsFirst := []protocol.ID{SecurityTLS, SecurityNoise}
	payload := make([]byte, 20<<20) // beyond the initial 256 KiB window and many frames
	rand.Read(payload)
	for _, c := range []struct {
		name           string
		dialer, lister []protocol.ID
		frame          int
		want           protocol.ID
	}{
		{"noise to tls-first", noiseFirst, tlsFirst, NoiseFrame, SecurityNoise},
		{"tls to noise-first", tlsFirst, noiseFirst, 0, SecurityTLS},
		{"noise to noise", noiseFirst, noiseFirst, 0, SecurityNoise},
		{"tls to tls", tlsFirst, tlsFirst, NoiseFrame, SecurityTLS},
		{"tls only to default", []protocol.ID{SecurityTLS}, nil, 0, SecurityTLS},
		{"noise only to default", []protocol.ID{SecurityNoise}, nil, 0, SecurityNoise},
		{"default to noise only", nil, []protocol.ID{SecurityNoise}, 0, SecurityNoise},
		{"default to default", nil, nil, 0, DefaultSecurity[0]},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := securityHost(t, c.dialer, c.frame)
			b := securityHost(t, c.lister, 0)
			got := make(chan []byte, 1)
			b.SetStreamHandler(ProtoBlob, func(s network.Stream) {
				SetDeadline(s, 20*time.Second)
				d, err := io.ReadAll(s)
				if err != nil {
					s.Reset()
					got <- nil
					return
				}
				s.Write([]byte{1})
				s.Close()
				got <- d
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
				t.Fatal(err)
			}
			s, err := a.NewStream(ctx, b.ID(), ProtoBlob)
			if err != nil {
				t.Fatal(err)
			}
			defer ResetOnDone(ctx, s)()
			if sec := s.Conn().ConnState().Security; sec != c.want {
				t.Fatalf("negotiated %q, want %q", sec, c.want)
			}
			for _, conn := range b.Network().ConnsToPeer(a.ID()) {
				if sec := conn.ConnState().Security; sec != c.want {
					t.Fatalf("listener's side negotiated %q, want %q", sec, c.want)
				}
			}
			SetDeadline(s, 20*time.Second)
			if _, err := s.Write(payload); err != nil {
				t.Fatal(err)
			}
			s.CloseWrite()
			var ack [1]byte
			if _, err := io.ReadFull(s, ack[:]); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if d := <-got; !bytes.Equal(d, payload) {
				t.Fatalf("listener read %d bytes, not the %d sent", len(d), len(payload))
			}
		})
	}
}

// TestSecurityDisjoint: a host offering Noise only and one offering TLS
// only do not connect.
func TestSecurityDisjoint(t *testing.T) {
	a := securityHost(t, []protocol.ID{SecurityNoise}, 0)
	b := securityHost(t, []protocol.ID{SecurityTLS}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err == nil {
		t.Fatal("Noise-only host connected to a TLS-only host")
	}
}

func TestSecurityConfigErrors(t *testing.T) {
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	for _, cfg := range []HostConfig{
		{Key: k, Security: []protocol.ID{"/plaintext/2.0.0"}},
		{Key: k, Security: []protocol.ID{SecurityTLS, SecurityTLS}},
		{Key: k, MaxFrame: 100},
		{Key: k, MaxFrame: 2 << 20},
	} {
		if h, err := NewHost(cfg); err == nil || !strings.HasPrefix(err.Error(), "transport: ") {
			if h != nil {
				h.Close()
			}
			t.Errorf("security %v, frame %d: err %v", cfg.Security, cfg.MaxFrame, err)
		}
	}
}

// TestTLSCipherSuite: libp2p's TLS runs TLS 1.3 with an AEAD suite.
func TestTLSCipherSuite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, s, err := TLSCipherSuite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != "TLS 1.3" || (s != "TLS_AES_128_GCM_SHA256" && s != "TLS_CHACHA20_POLY1305_SHA256" && s != "TLS_AES_256_GCM_SHA384") {
		t.Fatalf("negotiated %s %s", v, s)
	}
	t.Logf("%s %s", v, s)
}

// TestNoiseFrame: a frame of NoiseFrame bytes is one Noise message.
func TestNoiseFrame(t *testing.T) {
	if NoiseFrame != 65535-16 {
		t.Fatalf("NoiseFrame = %d, want 65519", NoiseFrame)
	}
}
