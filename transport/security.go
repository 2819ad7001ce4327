package transport

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

// Security transports of a TCP connection (QUIC always runs TLS 1.3 of its
// own). A connection uses the first one of the dialer's list that the
// listener also offers.
const (
	// SecurityNoise is Noise XX with ChaCha20-Poly1305 (the only cipher
	// libp2p's Noise offers).
	SecurityNoise = protocol.ID(noise.ID)
	// SecurityTLS is TLS 1.3; Go picks AES-128-GCM when both ends have AES
	// instructions (see TLSCipherSuite).
	SecurityTLS = protocol.ID(libp2ptls.ID)
)

// DefaultSecurity is the order of preference of HostConfig.Security when it
// is empty: TLS 1.3 first, by measurement (`floe bench blob`, on a machine
// with AES instructions: a GB over one stream took 0.62-0.77 times the CPU
// with TLS's AES-128-GCM that it took with Noise's ChaCha20-Poly1305, a
// committee get 0.77-0.89 times, a put 0.75-0.85 times), and Noise still
// offered, so peers that prefer either still connect.
var DefaultSecurity = []protocol.ID{SecurityTLS, SecurityNoise}

// NoiseFrame is the largest yamux frame (its 12-byte header included) that
// one Noise transport message carries: Noise's maximum plaintext, 65535
// bytes less its 16-byte tag. yamux's default, 64 KiB, costs two Noise
// messages (two encryptions, two writes) a frame.
const NoiseFrame = noise.MaxPlaintextLength

// DefaultMaxFrame is the largest yamux frame a host sends when
// HostConfig.MaxFrame is 0: yamux's default, 64 KiB. Frames of NoiseFrame
// bytes did not measurably help: `floe bench blob` puts their effect on a
// Noise stream's CPU within the spread between runs (TLS, which frames of
// either size cut into four records, moved as much).
const DefaultMaxFrame = 64 << 10

// securityOptions returns the libp2p options that offer the security
// transports of ids in that order, or an error for an unknown or repeated one.
func securityOptions(ids []protocol.ID) ([]libp2p.Option, error) {
	if len(ids) == 0 {
		ids = DefaultSecurity
	}
	var opts []libp2p.Option
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return nil, fmt.Errorf("transport: security %q listed twice", id)
		}
		switch id {
		case SecurityNoise:
			opts = append(opts, libp2p.Security(noise.ID, noise.New))
		case SecurityTLS:
			opts = append(opts, libp2p.Security(libp2ptls.ID, libp2ptls.New))
		default:
			return nil, fmt.Errorf("transport: unknown security %q (want %s or %s)", id, SecurityNoise, SecurityTLS)
		}
	}
	return opts, nil
}

// muxerOption returns yamux as libp2p configures it, sending frames of at
// most maxFrame bytes (0: DefaultMaxFrame).
func muxerOption(maxFrame int) (libp2p.Option, error) {
	if maxFrame == 0 {
		maxFrame = DefaultMaxFrame
	}
	if maxFrame < 1024 || maxFrame > 1<<20 {
		return nil, fmt.Errorf("transport: yamux frame of %d bytes outside [1 KiB, 1 MiB]", maxFrame)
	}
	t := *yamux.DefaultTransport
	t.MaxMessageSize = uint32(maxFrame)
	return libp2p.Muxer(yamux.ID, &t), nil
}

// TLSCipherSuite runs libp2p's TLS handshake, as NewHost's hosts do, between
// two fresh identities over loopback TCP and returns the TLS version and
// cipher suite they agreed, such as "TLS 1.3" and "TLS_AES_128_GCM_SHA256".
// (A host's connections do not expose their TLS state.)
func TLSCipherSuite(ctx context.Context) (version, suite string, err error) {
	var ts [2]*libp2ptls.Transport
	for i := range ts {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return "", "", err
		}
		if ts[i], err = libp2ptls.New(libp2ptls.ID, k, nil); err != nil {
			return "", "", err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	defer ln.Close()
	type result struct {
		c   sec.SecureConn
		err error
	}
	srv := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srv <- result{err: err}
			return
		}
		sc, err := ts[1].SecureInbound(ctx, c, "")
		srv <- result{sc, err}
	}()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return "", "", err
	}
	cc, err := ts[0].SecureOutbound(ctx, c, "")
	if err != nil {
		c.Close()
		return "", "", err
	}
	defer cc.Close()
	r := <-srv
	if r.err != nil {
		return "", "", r.err
	}
	defer r.c.Close()
	st, ok := cc.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		return "", "", errors.New("transport: libp2p's TLS connection does not expose its state")
	}
	cs := st.ConnectionState()
	return tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), nil
}
