package transport

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/floe-fl/floe/atomicfile"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// Protocol IDs of floe. Each is versioned; a new wire format gets a new ID.
const (
	// ProtoBlob carries sliver stores, fetches, certificates and repair listings.
	ProtoBlob protocol.ID = "/floe/blob/2.0.0"
	// ProtoRound carries jobs, tasks, submissions and secure-aggregation steps.
	ProtoRound protocol.ID = "/floe/round/1.0.0"
	// ProtoChain carries chain heads and commitment records.
	ProtoChain protocol.ID = "/floe/chain/1.0.0"
	// ProtoStatus carries the coordinator's read-only status: one request,
	// one response per stream, no key needed, nothing the chain will not
	// reveal.
	ProtoStatus protocol.ID = "/floe/status/1.0.0"
)

// DefaultListenAddrs are used when HostConfig.ListenAddrs is empty: loopback
// TCP and QUIC on ports picked by the kernel.
var DefaultListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// HostConfig configures NewHost. The zero value (plus a Key) is valid.
type HostConfig struct {
	// Key is the host's identity. Required; use LoadOrCreateKey.
	Key crypto.PrivKey
	// ListenAddrs are multiaddrs to listen on; empty means DefaultListenAddrs.
	ListenAddrs []string
	// MemoryLimit is the resource manager's total memory budget in bytes;
	// 0 means 1 GiB. Bulk protocols (ProtoBlob) get most of it.
	MemoryLimit int64
	// MaxFDs is the resource manager's file-descriptor budget; 0 means 4096.
	MaxFDs int
	// DialOnly starts a host that listens nowhere (a command-line client).
	DialOnly bool
	// ConnLow and ConnHigh are the connection manager's watermarks; 0 means
	// 256 and 1024.
	ConnLow, ConnHigh int
	// Logger receives the warnings of resource limits reached (default
	// slog.Default()).
	Logger *slog.Logger
	// Metrics, if set, receives libp2p's own metrics (resource manager,
	// swarm, identify, event bus); nil disables them (libp2p would otherwise
	// register them on Prometheus's global default registry).
	Metrics prometheus.Registerer
	// Security lists the security transports TCP connections may use, most
	// preferred first: SecurityNoise and SecurityTLS, each at most once.
	// Empty means DefaultSecurity. A connection uses the dialer's first
	// choice that the listener offers.
	Security []protocol.ID
	// MaxFrame is the largest yamux frame the host sends, in bytes, its
	// 12-byte header included (NoiseFrame fits one Noise message); 0 means
	// DefaultMaxFrame. Peers accept frames of any size.
	MaxFrame int
}

// Limits returns the explicit resource-manager limits NewHost uses for a
// memory budget and file-descriptor count. ProtoBlob streams may use up to
// 256 MiB each and peers up to half the budget, so yamux windows (16 MiB per
// stream) can grow for bulk transfers instead of silently capping throughput.
// (go-libp2p's yamux reserves its receive windows from the peer scope: with
// the default 1 GiB budget a peer may hold 512 MiB of windows, 32 streams at
// the 16 MiB maximum, and the system 1.2 GB; a 7-member put or get uses 7
// or k streams, one per peer.)
func Limits(memory int64, fds int) rcmgr.ConcreteLimitConfig {
	cfg := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&cfg)
	cfg.PeerBaseLimit.Memory = memory / 2
	cfg.PeerLimitIncrease.Memory = 0
	cfg.StreamBaseLimit.Memory = 256 << 20
	cfg.AddProtocolLimit(ProtoBlob,
		rcmgr.BaseLimit{StreamsInbound: 2048, StreamsOutbound: 2048, Streams: 4096, Memory: memory},
		rcmgr.BaseLimitIncrease{})
	cfg.AddProtocolPeerLimit(ProtoBlob,
		rcmgr.BaseLimit{StreamsInbound: 256, StreamsOutbound: 256, Streams: 512, Memory: memory / 2},
		rcmgr.BaseLimitIncrease{})
	for _, p := range []protocol.ID{ProtoRound, ProtoChain, ProtoStatus} {
		cfg.AddProtocolLimit(p,
			rcmgr.BaseLimit{StreamsInbound: 2048, StreamsOutbound: 2048, Streams: 4096, Memory: memory / 4},
			rcmgr.BaseLimitIncrease{})
		cfg.AddProtocolPeerLimit(p,
			rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 64 << 20},
			rcmgr.BaseLimitIncrease{})
	}
	// Every new connection runs identify both ways, so a coordinator or a
	// storage node that a thousand participants reach at once needs as
	// many identify streams at once: go-libp2p's default (64, plus 64 per
	// GiB of budget) refused 512 and more, logged, when 1,000 simulated
	// participants joined over TCP.
	identifyLimit := rcmgr.BaseLimit{StreamsInbound: 2048, StreamsOutbound: 2048, Streams: 4096, Memory: 64 << 20}
	cfg.AddServiceLimit(identify.ServiceName, identifyLimit, rcmgr.BaseLimitIncrease{})
	for _, p := range []protocol.ID{identify.ID, identify.IDPush} {
		cfg.AddProtocolLimit(p, identifyLimit, rcmgr.BaseLimitIncrease{})
	}
	// A coordinator serves thousands of participants, a connection each,
	// and a storage node as many clients: go-libp2p's defaults admit about
	// 128 inbound connections per GiB of budget (and 64 connections in the
	// handshake), which made a simulation of 200 participants over TCP wait
	// for registrations forever. File descriptors (MaxFDs) still bound
	// them.
	cfg.SystemBaseLimit.ConnsInbound, cfg.SystemBaseLimit.ConnsOutbound, cfg.SystemBaseLimit.Conns = 8192, 8192, 16384
	cfg.SystemLimitIncrease.ConnsInbound, cfg.SystemLimitIncrease.ConnsOutbound, cfg.SystemLimitIncrease.Conns = 0, 0, 0
	cfg.SystemBaseLimit.StreamsInbound, cfg.SystemBaseLimit.StreamsOutbound, cfg.SystemBaseLimit.Streams = 16384, 16384, 32768
	cfg.TransientBaseLimit.ConnsInbound, cfg.TransientBaseLimit.ConnsOutbound, cfg.TransientBaseLimit.Conns = 1024, 1024, 2048
	cfg.TransientLimitIncrease.ConnsInbound, cfg.TransientLimitIncrease.ConnsOutbound, cfg.TransientLimitIncrease.Conns = 0, 0, 0
	cfg.TransientBaseLimit.StreamsInbound, cfg.TransientBaseLimit.StreamsOutbound, cfg.TransientBaseLimit.Streams = 4096, 4096, 8192
	return cfg.Scale(memory, fds)
}

// limitLog says, at warning level, when the resource manager refuses a
// connection, a stream or memory for a limit: at the 1st, 2nd, 4th, 8th...
// refusal, so that a flood cannot flood the log.
type limitLog struct {
	log *slog.Logger
	n   atomic.Uint64
}

func (l *limitLog) ConsumeEvent(e rcmgr.TraceEvt) {
	switch e.Type {
	case rcmgr.TraceBlockAddConnEvt, rcmgr.TraceBlockAddStreamEvt, rcmgr.TraceBlockReserveMemoryEvt:
		if n := l.n.Add(1); n&(n-1) == 0 {
			l.log.Warn("transport: resource limit reached; refused", "what", string(e.Type), "scope", e.Name, "refusals", n)
		}
	}
}

// NewHost starts a libp2p host with TCP and QUIC transports, TLS and Noise
// security (cfg.Security), yamux (cfg.MaxFrame), explicit resource-manager
// limits (see Limits) and a connection manager. It listens on
// cfg.ListenAddrs and fails if it cannot.
func NewHost(cfg HostConfig) (host.Host, error) {
	if cfg.Key == nil {
		return nil, errors.New("transport: HostConfig.Key is required")
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = 1 << 30
	}
	if cfg.MemoryLimit < 64<<20 {
		return nil, fmt.Errorf("transport: memory limit %d below 64 MiB", cfg.MemoryLimit)
	}
	if cfg.MaxFDs == 0 {
		cfg.MaxFDs = 4096
	}
	if cfg.ConnLow == 0 {
		cfg.ConnLow = 256
	}
	if cfg.ConnHigh == 0 {
		cfg.ConnHigh = 1024
	}
	if cfg.ConnLow > cfg.ConnHigh {
		return nil, fmt.Errorf("transport: connection low watermark %d above high %d", cfg.ConnLow, cfg.ConnHigh)
	}
	addrs := cfg.ListenAddrs
	if len(addrs) == 0 {
		addrs = DefaultListenAddrs
	}
	for _, a := range addrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return nil, fmt.Errorf("transport: bad listen address %q: %v", a, err)
		}
	}
	security, err := securityOptions(cfg.Security)
	if err != nil {
		return nil, err
	}
	muxer, err := muxerOption(cfg.MaxFrame)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	rmOpts := []rcmgr.Option{rcmgr.WithTraceReporter(&limitLog{log: logger})}
	metrics := libp2p.DisableMetrics()
	if cfg.Metrics != nil {
		metrics = libp2p.PrometheusRegisterer(cfg.Metrics)
	} else {
		rmOpts = append(rmOpts, rcmgr.WithMetricsDisabled())
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(Limits(cfg.MemoryLimit, cfg.MaxFDs)), rmOpts...)
	if err != nil {
		return nil, fmt.Errorf("transport: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("transport: connection manager: %w", err)
	}
	listen := libp2p.ListenAddrStrings(addrs...)
	if cfg.DialOnly {
		listen = libp2p.NoListenAddrs
	}
	h, err := libp2p.New(append(security,
		libp2p.Identity(cfg.Key),
		listen,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		muxer,
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		metrics,
	)...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("transport: start host: %w", err)
	}
	if len(h.Addrs()) == 0 && !cfg.DialOnly {
		h.Close()
		return nil, errors.New("transport: host listens on no address")
	}
	return h, nil
}

// FullAddrs returns h's listen multiaddrs with /p2p/<peer ID> appended, sorted
// as the host reports them.
func FullAddrs(h host.Host) []string {
	infos := peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
	mas, err := peer.AddrInfoToP2pAddrs(&infos)
	if err != nil {
		return nil
	}
	out := make([]string, len(mas))
	for i, a := range mas {
		out[i] = a.String()
	}
	return out
}

// SetDeadline sets the read and write deadline of s to d from now (d <= 0
// clears it). Transports that ignore deadlines (mocknet) are covered by
// ResetOnDone.
func SetDeadline(s network.Stream, d time.Duration) {
	if d <= 0 {
		_ = s.SetDeadline(time.Time{})
		return
	}
	_ = s.SetDeadline(time.Now().Add(d))
}

// ResetOnDone resets s when ctx is done, so blocked reads and writes return
// even on transports without deadlines. Call the returned stop function when
// the exchange finishes; it reports whether the reset was avoided.
func ResetOnDone(ctx context.Context, s network.Stream) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = s.Reset() })
}

// LoadOrCreateKey reads an Ed25519 identity key from path, or creates one
// (file mode 0600, parent directory created 0700) when path does not exist.
func LoadOrCreateKey(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		atomicfile.WarnIfShared(path, "identity key")
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("transport: key file %s: %v", path, err)
		}
		if k.Type() != crypto.Ed25519 {
			return nil, fmt.Errorf("transport: key file %s: key type %v, want Ed25519", path, k.Type())
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("transport: read key: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("transport: generate key: %w", err)
	}
	if err := WriteKeyFile(path, k); err != nil {
		return nil, err
	}
	return k, nil
}

// WriteKeyFile writes k to path in libp2p's protobuf key format with mode
// 0600, durably (fsync, rename, fsync of the directory). It refuses to
// overwrite an existing file.
func WriteKeyFile(path string, k crypto.PrivKey) error {
	b, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return fmt.Errorf("transport: encode key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("transport: key dir: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("transport: key file %s already exists", path)
	}
	tmp, err := os.CreateTemp(dir, ".key-*")
	if err != nil {
		return fmt.Errorf("transport: write key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("transport: write key: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("transport: write key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("transport: write key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("transport: write key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("transport: write key: %w", err)
	}
	return atomicfile.SyncDir(dir)
}

// CopyBuffer copies from src to dst with a buffer of size bytes, bypassing
// ReaderFrom/WriterTo fast paths so the buffer size is what governs the
// transfer (stream writes of one buffer each).
func CopyBuffer(dst io.Writer, src io.Reader, size int) (int64, error) {
	buf := make([]byte, size)
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf)
}
