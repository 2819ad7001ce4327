package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/zeebo/blake3"
)

type blobBench struct {
	SizeMiB    int     `json:"size_mib"`
	N          int     `json:"committee_n"`
	K          int     `json:"committee_k"`
	Expansion  float64 `json:"expansion_n_over_k"`
	Runs       int     `json:"runs_per_figure"`
	TCPMBps    float64 `json:"raw_tcp_mbps"`
	StreamMBps float64 `json:"libp2p_stream_mbps"`
	QUICMBps   float64 `json:"libp2p_quic_stream_mbps"`
	PutMBps    float64 `json:"put_mbps"`
	PutAllMBps float64 `json:"put_wait_all_mbps"`
	GetMBps    float64 `json:"get_mbps"`
	// Get into a buffer the caller reuses (blob.WithBuffer), as the
	// coordinator's fold reads updates: no fresh memory per blob.
	GetBufMBps  float64 `json:"get_into_buffer_mbps"`
	GetBufCPUMs float64 `json:"get_into_buffer_cpu_ms,omitempty"`
	// BLAKE3-256 (the sliver hash) on one core, and the goodput that
	// hashing alone allows with every core hashing: a put hashes 2n/k bytes per blob byte (the
	// client commits to n slivers, each node verifies its own), a get n/k
	// (k received slivers, n-k re-encoded ones for the consistency check).
	Blake3MBps      float64 `json:"blake3_mbps_per_core"`
	Cores           int     `json:"cores"`
	PutHashBoundMBp float64 `json:"put_hash_bound_mbps"`
	GetHashBoundMBp float64 `json:"get_hash_bound_mbps"`
	// CPU time of this whole process (client and nodes) per operation on
	// the blob, from /proc/self/stat (Linux; 0 elsewhere), mean of the
	// runs. Unlike the MB/s figures it hardly depends on what else the
	// machine runs: its ratios say what fraction of the stream's
	// throughput a put or get would reach if all were CPU-bound.
	StreamCPUMs float64 `json:"libp2p_stream_cpu_ms,omitempty"`
	PutAllCPUMs float64 `json:"put_wait_all_cpu_ms,omitempty"`
	GetCPUMs    float64 `json:"get_cpu_ms,omitempty"`
	// The streaming paths, measured in the same run as the in-memory ones
	// above: PutFrom of a file holding the blob (WithWaitAll, as
	// put_wait_all) and GetTo into a file, with their CPU time.
	PutFromMBps  float64 `json:"put_from_file_wait_all_mbps"`
	PutFromCPUMs float64 `json:"put_from_file_wait_all_cpu_ms,omitempty"`
	GetToMBps    float64 `json:"get_to_file_mbps"`
	GetToCPUMs   float64 `json:"get_to_file_cpu_ms,omitempty"`
	// Peak growth of the heap (bytes of heap objects, sampled every 2 ms)
	// of this whole process (client and nodes) during the runs of each
	// figure, above its level after two collections (which empty the
	// buffer pools) before them.
	PutAllHeapMiB  float64 `json:"put_wait_all_heap_growth_mib"`
	PutFromHeapMiB float64 `json:"put_from_file_heap_growth_mib"`
	GetHeapMiB     float64 `json:"get_heap_growth_mib"`
	GetToHeapMiB   float64 `json:"get_to_file_heap_growth_mib"`
	// Peak resident memory of a storage-node process receiving one sliver.
	NodeSliverMiB  int     `json:"node_sliver_mib,omitempty"`
	NodePeakRSSMiB float64 `json:"node_peak_rss_mib,omitempty"`
	NodeIdleRSSMiB float64 `json:"node_idle_rss_mib,omitempty"`
	// The security transports compared (--security): the TLS version and
	// cipher suite libp2p's TLS negotiates here, and one libp2p stream, the
	// put (wait all) and the get over TCP with each security transport and
	// yamux frame size, all in turn within each run.
	TLSVersion     string                `json:"tls_version,omitempty"`
	TLSCipherSuite string                `json:"tls_cipher_suite,omitempty"`
	Security       []blobSecurityFigures `json:"security,omitempty"`
	Ratios         map[string]float64    `json:"ratios"`
	Notes          string                `json:"notes"`
}

func benchBlob(args []string) (any, error) {
	fs := newFlagSet("bench blob", "[--size-mib N] [--n N] [--runs R] [--sliver-mib M] [--security noise|tls|both|none]",
		"  floe bench blob\n  floe bench blob --size-mib 16 --runs 1 --sliver-mib 0\n  floe bench blob --security both --only get --sliver-mib 0")
	sizeMiB := fs.Int("size-mib", 64, "blob size in MiB")
	n := fs.Int("n", 7, "committee size")
	runs := fs.Int("runs", 3, "runs per figure (the median is reported)")
	sliverMiB := fs.Int("sliver-mib", 256, "sliver size for the storage-node memory figure (0: skip)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the put and get runs here")
	only := fs.String("only", "", "measure only these figures: put or get (in memory and streamed, with the baselines)")
	security := fs.String("security", "both", "security transports to compare over TCP: noise, tls, both or none")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	variants, ok := blobSecurityVariants[*security]
	if !ok && *security != "none" {
		return nil, usagef("--security is noise, tls, both or none, not %q", *security)
	}
	if *only != "" && *only != "put" && *only != "get" {
		return nil, usagef("--only is put or get, not %q", *only)
	}
	if *sizeMiB <= 0 || *runs <= 0 || *n < 1 || *sliverMiB < 0 {
		return nil, usagef("--size-mib, --runs and --n must be positive")
	}
	size := *sizeMiB << 20
	data := make([]byte, size)
	r := mrand.New(mrand.NewPCG(3, 4))
	for i := 0; i+8 <= size; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	enc, err := blob.EncodingFor(*n)
	if err != nil {
		return nil, err
	}
	out := blobBench{SizeMiB: *sizeMiB, N: *n, K: int(enc.K), Runs: *runs, Ratios: map[string]float64{},
		Notes: "MB/s = 1e6 bytes of blob data per second, median of runs; client and all nodes in this process on loopback TCP (TLS 1.3 preferred to Noise, yamux); " +
			"nodes write to a temp dir with fsync; put returns at n-f acks, put_wait_all after every node; " +
			"put_from_file/get_to_file: the streaming PutFrom/GetTo with a file in a temp dir (page cache) as source/destination; " +
			"*_cpu_ms: CPU time of this whole process (client and nodes) per operation, mean of runs; " +
			"*_heap_growth_mib: peak heap growth of this whole process during the runs; " +
			"security (--security): each variant's stream, put_wait_all and get in turn within each run, " +
			"*_cpu_s_per_gb: CPU seconds of this whole process per 1e9 bytes of blob, mean of runs; " +
			"ratios <a>_over_<b>_<figure>[_cpu]: of MB/s, or of CPU per GB"}
	out.Expansion = float64(*n) / float64(enc.K)

	out.Cores = runtime.GOMAXPROCS(0)
	if out.Blake3MBps, err = median(*runs, func() (float64, error) {
		prev := runtime.GOMAXPROCS(1)
		defer runtime.GOMAXPROCS(prev)
		start := time.Now()
		blake3.Sum256(data)
		return float64(size) / time.Since(start).Seconds() / 1e6, nil
	}); err != nil {
		return nil, err
	}
	out.PutHashBoundMBp = float64(out.Cores) * out.Blake3MBps / (2 * out.Expansion)
	out.GetHashBoundMBp = float64(out.Cores) * out.Blake3MBps / out.Expansion
	if out.TCPMBps, err = median(*runs, func() (float64, error) { return rawTCP(data) }); err != nil {
		return nil, fmt.Errorf("bench blob: raw tcp: %w", err)
	}
	cpu0 := processCPU()
	if out.StreamMBps, err = median(*runs, func() (float64, error) { return libp2pStream(data, "/ip4/127.0.0.1/tcp/0") }); err != nil {
		return nil, fmt.Errorf("bench blob: libp2p stream: %w", err)
	}
	out.StreamCPUMs = cpuMsPerRun(cpu0, *runs)
	if out.QUICMBps, err = median(*runs, func() (float64, error) { return libp2pStream(data, "/ip4/127.0.0.1/udp/0/quic-v1") }); err != nil {
		return nil, fmt.Errorf("bench blob: libp2p quic stream: %w", err)
	}
	cl, cleanup, err := benchCommittee(*n)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	ctx := context.Background()
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return nil, err
	}
	defer stopProfile()
	id, _, err := cl.Put(ctx, data, p2p.WithWaitAll()) // the blob Get reads
	if err != nil {
		return nil, fmt.Errorf("bench blob: put: %w", err)
	}
	file, err := blobBenchFile(data)
	if err != nil {
		return nil, err
	}
	defer func() { file.Close(); os.Remove(file.Name()) }()
	if *only != "get" {
		if out.PutMBps, err = median(*runs, func() (float64, error) {
			start := time.Now()
			_, _, err := cl.Put(ctx, data)
			el := time.Since(start)
			cl.Wait() // background writes finish before the next figure
			return float64(size) / el.Seconds() / 1e6, err
		}); err != nil {
			return nil, fmt.Errorf("bench blob: put: %w", err)
		}
		if out.PutAllMBps, out.PutAllCPUMs, out.PutAllHeapMiB, err = blobFigure(*runs, size, func() error {
			got, _, err := cl.Put(ctx, data, p2p.WithWaitAll())
			return checkID(got, id, err)
		}); err != nil {
			return nil, fmt.Errorf("bench blob: put: %w", err)
		}
		if out.PutFromMBps, out.PutFromCPUMs, out.PutFromHeapMiB, err = blobFigure(*runs, size, func() error {
			got, _, err := cl.PutFrom(ctx, file, int64(size), p2p.WithWaitAll())
			return checkID(got, id, err)
		}); err != nil {
			return nil, fmt.Errorf("bench blob: put from file: %w", err)
		}
	}
	if *only != "put" {
		var got []byte
		out.GetMBps, out.GetCPUMs, out.GetHeapMiB, err = blobFigure(*runs, size, func() error {
			b, err := cl.Get(ctx, id)
			got = b
			return err
		})
		if err == nil && !bytes.Equal(got, data) { // once, outside the runs
			err = errors.New("get returned other bytes")
		}
		got = nil
		if err != nil {
			return nil, fmt.Errorf("bench blob: get: %w", err)
		}
		buf := make([]byte, size+(1<<20)) // room for the sliver padding
		out.GetBufMBps, out.GetBufCPUMs, _, err = blobFigure(*runs, size, func() error {
			b, err := cl.Get(blob.WithBuffer(ctx, buf), id)
			got = b
			return err
		})
		if err == nil && (!bytes.Equal(got, data) || &got[0] != &buf[0]) {
			err = errors.New("get into a buffer returned other bytes, or not in the buffer")
		}
		got = nil
		if err != nil {
			return nil, fmt.Errorf("bench blob: get into a buffer: %w", err)
		}
		out.GetToMBps, out.GetToCPUMs, out.GetToHeapMiB, err = blobFigure(*runs, size, func() error {
			_, err := cl.GetTo(ctx, id, file)
			return err
		})
		if err == nil {
			err = sameBytes(file, data) // once, outside the runs: the file holds the last one
		}
		if err != nil {
			return nil, fmt.Errorf("bench blob: get to file: %w", err)
		}
	}
	if len(variants) > 0 {
		if out.TLSVersion, out.TLSCipherSuite, err = transport.TLSCipherSuite(ctx); err != nil {
			return nil, fmt.Errorf("bench blob: tls cipher suite: %w", err)
		}
		if out.Security, err = benchSecurity(data, *n, *runs, *only, variants); err != nil {
			return nil, fmt.Errorf("bench blob: security: %w", err)
		}
		securityRatios(out.Security, out.Ratios)
	}
	if *sliverMiB > 0 {
		out.NodeSliverMiB = *sliverMiB
		if out.NodeIdleRSSMiB, out.NodePeakRSSMiB, err = nodeMemory(*sliverMiB << 20); err != nil {
			return nil, fmt.Errorf("bench blob: node memory: %w", err)
		}
		out.Ratios["node_peak_rss_vs_64mib"] = round3(out.NodePeakRSSMiB / 64)
	}
	out.Ratios["stream_vs_tcp"] = round3(out.StreamMBps / out.TCPMBps)
	out.Ratios["quic_stream_vs_tcp"] = round3(out.QUICMBps / out.TCPMBps)
	out.Ratios["get_vs_stream"] = round3(out.GetMBps / out.StreamMBps)
	if out.GetBufMBps > 0 {
		out.Ratios["get_into_buffer_vs_stream"] = round3(out.GetBufMBps / out.StreamMBps)
		if out.GetBufCPUMs > 0 && out.StreamCPUMs > 0 {
			out.Ratios["stream_cpu_over_get_into_buffer_cpu"] = round3(out.StreamCPUMs / out.GetBufCPUMs)
		}
	}
	out.Ratios["get_vs_tcp"] = round3(out.GetMBps / out.TCPMBps)
	out.Ratios["put_vs_stream_over_expansion"] = round3(out.PutMBps / (out.StreamMBps / out.Expansion))
	out.Ratios["put_wait_all_vs_stream_over_expansion"] = round3(out.PutAllMBps / (out.StreamMBps / out.Expansion))
	out.Ratios["put_vs_tcp"] = round3(out.PutMBps / out.TCPMBps)
	out.Ratios["put_vs_hash_bound"] = round3(out.PutMBps / out.PutHashBoundMBp)
	out.Ratios["get_vs_hash_bound"] = round3(out.GetMBps / out.GetHashBoundMBp)
	if out.StreamCPUMs > 0 && out.GetCPUMs > 0 {
		out.Ratios["stream_cpu_over_get_cpu"] = round3(out.StreamCPUMs / out.GetCPUMs)
	}
	if out.StreamCPUMs > 0 && out.PutAllCPUMs > 0 {
		out.Ratios["stream_cpu_x_expansion_over_put_wait_all_cpu"] = round3(out.StreamCPUMs * out.Expansion / out.PutAllCPUMs)
	}
	if out.PutFromMBps > 0 {
		out.Ratios["put_from_file_vs_put_wait_all"] = round3(out.PutFromMBps / out.PutAllMBps)
	}
	if out.PutFromCPUMs > 0 && out.PutAllCPUMs > 0 {
		out.Ratios["put_from_file_cpu_over_put_wait_all_cpu"] = round3(out.PutFromCPUMs / out.PutAllCPUMs)
	}
	if out.GetToMBps > 0 {
		out.Ratios["get_to_file_vs_get"] = round3(out.GetToMBps / out.GetMBps)
	}
	if out.GetToCPUMs > 0 && out.GetCPUMs > 0 {
		out.Ratios["get_to_file_cpu_over_get_cpu"] = round3(out.GetToCPUMs / out.GetCPUMs)
	}
	for _, p := range []*float64{&out.PutFromMBps, &out.PutFromCPUMs, &out.GetToMBps, &out.GetToCPUMs, &out.PutAllHeapMiB, &out.PutFromHeapMiB, &out.GetHeapMiB, &out.GetToHeapMiB, &out.TCPMBps, &out.StreamMBps, &out.QUICMBps, &out.PutMBps, &out.PutAllMBps, &out.GetMBps, &out.GetBufMBps, &out.GetBufCPUMs, &out.NodePeakRSSMiB, &out.NodeIdleRSSMiB, &out.Blake3MBps, &out.PutHashBoundMBp, &out.GetHashBoundMBp, &out.Expansion, &out.StreamCPUMs, &out.PutAllCPUMs, &out.GetCPUMs} {
		*p = round3(*p)
	}
	return out, nil
}

// blobFigure runs op runs times on a blob of size bytes and returns the
// median MB/s, the CPU milliseconds of this process per run, and the peak
// heap growth in MiB during the runs above the level after two collections
// (the second empties sync.Pool's victim cache of recycled buffers).
func blobFigure(runs, size int, op func() error) (mbps, cpuMs, heapMiB float64, err error) {
	runtime.GC()
	runtime.GC()
	base := heapBytes()
	var running atomic.Bool
	running.Store(true)
	peak := base
	sampled := make(chan struct{})
	go func() { // the only writer of peak until sampled is closed
		defer close(sampled)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for running.Load() {
			peak = max(peak, heapBytes())
			<-t.C
		}
	}()
	cpu0 := processCPU()
	mbps, err = median(runs, func() (float64, error) {
		start := time.Now()
		err := op()
		return float64(size) / time.Since(start).Seconds() / 1e6, err
	})
	cpuMs = cpuMsPerRun(cpu0, runs)
	running.Store(false)
	<-sampled
	heapMiB = float64(max(peak, heapBytes())-base) / (1 << 20)
	return mbps, cpuMs, heapMiB, err
}

// checkID passes on err, or says when a put gave another ID than want.
func checkID(got, want blob.ID, err error) error {
	if err == nil && got != want {
		err = fmt.Errorf("put gave ID %s, want %s", got, want)
	}
	return err
}

// blobBenchFile writes data to a new temporary file and returns it, open
// for reading and writing.
func blobBenchFile(data []byte) (*os.File, error) {
	f, err := os.CreateTemp("", "floe-bench-blob-*")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// sameBytes reports an error unless f holds exactly data.
func sameBytes(f *os.File, data []byte) error {
	buf := make([]byte, 1<<20)
	for off := 0; off < len(data); off += len(buf) {
		m, err := f.ReadAt(buf[:min(len(buf), len(data)-off)], int64(off))
		if err != nil || !bytes.Equal(buf[:m], data[off:off+m]) {
			return fmt.Errorf("file differs from the blob at or after byte %d (%v)", off, err)
		}
	}
	if st, err := f.Stat(); err != nil || st.Size() != int64(len(data)) {
		return fmt.Errorf("file is not %d bytes long (%v)", len(data), err)
	}
	return nil
}

func median(runs int, fn func() (float64, error)) (float64, error) {
	var v []float64
	for range runs {
		x, err := fn()
		if err != nil {
			return 0, err
		}
		v = append(v, x)
	}
	sort.Float64s(v)
	return v[len(v)/2], nil
}

// rawTCP sends data over one loopback TCP connection with io.Copy and
// returns MB/s until the receiver has read it all.
func rawTCP(data []byte) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		m, err := io.Copy(io.Discard, c)
		if err == nil && m != int64(len(data)) {
			err = fmt.Errorf("received %d of %d bytes", m, len(data))
		}
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := io.Copy(c, bytes.NewReader(data)); err != nil {
		c.Close()
		return 0, err
	}
	c.Close()
	if err := <-done; err != nil {
		return 0, err
	}
	return float64(len(data)) / time.Since(start).Seconds() / 1e6, nil
}

func benchHost() (host.Host, error) { return benchHostOn("/ip4/127.0.0.1/tcp/0") }

func benchHostOn(listen string) (host.Host, error) { return benchHostWith(listen, benchTransport{}) }

// benchTransport is the security and yamux frame size of a benchmark's
// hosts; the zero value is transport.NewHost's defaults.
type benchTransport struct {
	Security []protocol.ID
	MaxFrame int
}

func benchHostWith(listen string, tc benchTransport) (host.Host, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	return transport.NewHost(transport.HostConfig{Key: k, ListenAddrs: []string{listen}, Security: tc.Security, MaxFrame: tc.MaxFrame})
}

// libp2pStream sends data over one libp2p stream (TCP with the default
// security, yamux) between two hosts of this process and returns MB/s until
// the receiver acknowledged the last byte.
func libp2pStream(data []byte, listen string) (float64, error) {
	mbps, _, err := libp2pStreamWith(data, listen, benchTransport{})
	return mbps, err
}

// libp2pStreamWith is libp2pStream between hosts configured by tc; it also
// returns the security protocol the connection negotiated.
func libp2pStreamWith(data []byte, listen string, tc benchTransport) (float64, protocol.ID, error) {
	a, err := benchHostWith(listen, tc)
	if err != nil {
		return 0, "", err
	}
	defer a.Close()
	b, err := benchHostWith(listen, tc)
	if err != nil {
		return 0, "", err
	}
	defer b.Close()
	const proto = "/floe/bench/1.0.0"
	b.SetStreamHandler(proto, func(s network.Stream) {
		m, err := transport.CopyBuffer(io.Discard, s, 1<<20)
		if err != nil || m != int64(len(data)) {
			s.Reset()
			return
		}
		s.Write([]byte{1})
		s.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		return 0, "", err
	}
	start := time.Now()
	s, err := a.NewStream(ctx, b.ID(), proto)
	if err != nil {
		return 0, "", err
	}
	defer s.Close()
	if _, err := s.Write(data); err != nil {
		return 0, "", err
	}
	s.CloseWrite()
	var ack [1]byte
	if _, err := io.ReadFull(s, ack[:]); err != nil {
		return 0, "", err
	}
	return float64(len(data)) / time.Since(start).Seconds() / 1e6, s.Conn().ConnState().Security, nil
}

// benchCommittee starts n storage nodes in this process on loopback TCP with
// data in a temp dir, and a client.
func benchCommittee(n int) (*p2p.Client, func(), error) {
	cl, _, cleanup, err := benchCommitteeWith(n, benchTransport{})
	return cl, cleanup, err
}

// benchCommitteeWith is benchCommittee with hosts configured by tc; it also
// returns the client's host.
func benchCommitteeWith(n int, tc benchTransport) (*p2p.Client, host.Host, func(), error) {
	dir, err := os.MkdirTemp("", "floe-bench-blob-")
	if err != nil {
		return nil, nil, nil, err
	}
	var hosts []host.Host
	var nodes []*p2p.Node
	cleanup := func() {
		for _, nd := range nodes {
			nd.Close()
		}
		for _, h := range hosts {
			h.Close()
		}
		os.RemoveAll(dir)
	}
	var com blob.Committee
	for i := range n {
		h, err := benchHostWith("/ip4/127.0.0.1/tcp/0", tc)
		if err != nil {
			cleanup()
			return nil, nil, nil, err
		}
		hosts = append(hosts, h)
		nd, err := p2p.NewNode(h, filepath.Join(dir, strconv.Itoa(i)))
		if err != nil {
			cleanup()
			return nil, nil, nil, err
		}
		nodes = append(nodes, nd)
		com.Members = append(com.Members, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	}
	ch, err := benchHostWith("/ip4/127.0.0.1/tcp/0", tc)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	hosts = append(hosts, ch)
	cl, err := p2p.NewClient(ch, com)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return cl, ch, func() { cl.Close(); cleanup() }, nil
}

// nodeMemory starts a storage-node process (this binary) as a committee of
// one, puts a blob of sliverBytes (k = 1, so its one sliver is that large)
// and returns the node's resident memory before and at its peak (VmHWM).
func nodeMemory(sliverBytes int) (idle, peak float64, err error) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	dir, err := os.MkdirTemp("", "floe-bench-node-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	addrFile := filepath.Join(dir, "addrs")
	cmd := exec.Command(self, "storage-node", "--key", filepath.Join(dir, "key"), "--data", filepath.Join(dir, "data"),
		"--listen", "/ip4/127.0.0.1/tcp/0", "--addr-file", addrFile)
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	var addr string
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			addr, _, _ = strings.Cut(string(b), "\n")
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, errors.New("storage node did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	com, err := blob.ParseCommittee([]byte(addr))
	if err != nil {
		return 0, 0, err
	}
	idle, _, err = procMemory(cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	h, err := benchHost()
	if err != nil {
		return 0, 0, err
	}
	defer h.Close()
	cl, err := p2p.NewClient(h, com)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	data := make([]byte, sliverBytes)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if _, _, err := cl.Put(context.Background(), data, p2p.WithWaitAll()); err != nil {
		return 0, 0, err
	}
	_, peak, err = procMemory(cmd.Process.Pid)
	return idle, peak, err
}

// procMemory reads VmRSS and VmHWM (peak RSS) of a process, in MiB.
func procMemory(pid int) (rss, hwm float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	if hwm == 0 {
		return 0, 0, errors.New("no VmHWM in /proc status")
	}
	return rss, hwm, nil
}

// processCPU returns the user and system CPU time of this process so far
// (all threads), from /proc/self/stat, or -1 where that is unavailable.
func processCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (USER_HZ = 100
	// on Linux).
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+st) * 10 * time.Millisecond
}

// cpuMsPerRun returns the process CPU milliseconds since start per run, or
// 0 when processCPU is unavailable.
func cpuMsPerRun(start time.Duration, runs int) float64 {
	end := processCPU()
	if start < 0 || end < 0 {
		return 0
	}
	return float64(end-start) / float64(time.Millisecond) / float64(runs)
}

// blobSecurityVariant is one security transport and yamux frame size that
// `floe bench blob --security` measures.
type blobSecurityVariant struct {
	Name string
	T    benchTransport
}

var (
	noiseVariants = []blobSecurityVariant{
		{"noise", benchTransport{Security: []protocol.ID{transport.SecurityNoise, transport.SecurityTLS}, MaxFrame: 64 << 10}},
		{"noise_fitted_frames", benchTransport{Security: []protocol.ID{transport.SecurityNoise, transport.SecurityTLS}, MaxFrame: transport.NoiseFrame}},
	}
	tlsVariants = []blobSecurityVariant{
		{"tls", benchTransport{Security: []protocol.ID{transport.SecurityTLS, transport.SecurityNoise}, MaxFrame: 64 << 10}},
		{"tls_fitted_frames", benchTransport{Security: []protocol.ID{transport.SecurityTLS, transport.SecurityNoise}, MaxFrame: transport.NoiseFrame}},
	}
	// blobSecurityVariants are the variants of each --security value.
	blobSecurityVariants = map[string][]blobSecurityVariant{
		"noise": noiseVariants,
		"tls":   tlsVariants,
		"both":  append(append([]blobSecurityVariant{}, noiseVariants...), tlsVariants...),
	}
)

// blobSecurityFigures are one variant's figures: MB/s (median of runs) and
// CPU seconds of this whole process (client and nodes, or both hosts) per
// GB (1e9 bytes) of blob data, mean of runs (0 where /proc is unavailable).
type blobSecurityFigures struct {
	Name string `json:"name"`
	// Security is the protocol the connections negotiated (checked).
	Security        string  `json:"security"`
	FrameBytes      int     `json:"yamux_frame_bytes"`
	StreamMBps      float64 `json:"libp2p_stream_mbps"`
	StreamCPUSPerGB float64 `json:"libp2p_stream_cpu_s_per_gb,omitempty"`
	PutAllMBps      float64 `json:"put_wait_all_mbps,omitempty"`
	PutAllCPUSPerGB float64 `json:"put_wait_all_cpu_s_per_gb,omitempty"`
	GetMBps         float64 `json:"get_mbps,omitempty"`
	GetCPUSPerGB    float64 `json:"get_cpu_s_per_gb,omitempty"`
}

// benchSecurity measures, for each variant, one libp2p stream of data over
// TCP and, on a committee of n nodes of that variant, the put (wait all)
// and the get of data (only one of them with only = put or get). Each run
// measures every variant in turn, starting with another one each run, so
// that a change of the machine's load touches them alike.
func benchSecurity(data []byte, n, runs int, only string, variants []blobSecurityVariant) ([]blobSecurityFigures, error) {
	ctx := context.Background()
	size := len(data)
	type samples struct {
		mbps []float64
		cpu  time.Duration
	}
	type state struct {
		cl               *p2p.Client
		id               blob.ID
		stream, put, get samples
		checked          bool
	}
	st := make([]state, len(variants))
	for i, v := range variants {
		cl, ch, cleanup, err := benchCommitteeWith(n, v.T)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		id, _, err := cl.Put(ctx, data, p2p.WithWaitAll()) // the blob the gets read
		if err != nil {
			return nil, fmt.Errorf("%s: put: %w", v.Name, err)
		}
		for _, c := range ch.Network().Conns() {
			if got := c.ConnState().Security; got != v.T.Security[0] {
				return nil, fmt.Errorf("%s: a connection negotiated %q, not %q", v.Name, got, v.T.Security[0])
			}
		}
		st[i] = state{cl: cl, id: id}
	}
	// measure runs op once, adding its MB/s and CPU time to s; the garbage
	// of the ops before is collected first, outside the figures.
	measure := func(s *samples, op func() error) error {
		runtime.GC()
		cpu0, start := processCPU(), time.Now()
		err := op()
		el, cpu1 := time.Since(start), processCPU()
		s.mbps = append(s.mbps, float64(size)/el.Seconds()/1e6)
		if cpu0 >= 0 && cpu1 >= 0 {
			s.cpu += cpu1 - cpu0
		}
		return err
	}
	for r := range runs {
		for j := range variants {
			i := (j + r) % len(variants)
			v, s := variants[i], &st[i]
			runtime.GC()
			cpu0 := processCPU()
			mbps, neg, err := libp2pStreamWith(data, "/ip4/127.0.0.1/tcp/0", v.T)
			if err != nil {
				return nil, fmt.Errorf("%s: stream: %w", v.Name, err)
			}
			if neg != v.T.Security[0] {
				return nil, fmt.Errorf("%s: the stream negotiated %q, not %q", v.Name, neg, v.T.Security[0])
			}
			s.stream.mbps = append(s.stream.mbps, mbps)
			if cpu1 := processCPU(); cpu0 >= 0 && cpu1 >= 0 {
				s.stream.cpu += cpu1 - cpu0
			}
			if only != "get" {
				if err := measure(&s.put, func() error {
					got, _, err := s.cl.Put(ctx, data, p2p.WithWaitAll())
					return checkID(got, s.id, err)
				}); err != nil {
					return nil, fmt.Errorf("%s: put: %w", v.Name, err)
				}
			}
			if only != "put" {
				var got []byte
				if err := measure(&s.get, func() (err error) {
					got, err = s.cl.Get(ctx, s.id)
					return err
				}); err != nil {
					return nil, fmt.Errorf("%s: get: %w", v.Name, err)
				}
				if !s.checked { // once, outside the timing
					if !bytes.Equal(got, data) {
						return nil, fmt.Errorf("%s: get returned other bytes", v.Name)
					}
					s.checked = true
				}
			}
		}
	}
	gb := float64(runs) * float64(size) / 1e9
	fig := func(s samples) (mbps, cpuSPerGB float64) {
		if len(s.mbps) == 0 {
			return 0, 0
		}
		sort.Float64s(s.mbps)
		return round3(s.mbps[len(s.mbps)/2]), round3(s.cpu.Seconds() / gb)
	}
	out := make([]blobSecurityFigures, len(variants))
	for i, v := range variants {
		f := blobSecurityFigures{Name: v.Name, Security: string(v.T.Security[0]), FrameBytes: v.T.MaxFrame}
		f.StreamMBps, f.StreamCPUSPerGB = fig(st[i].stream)
		f.PutAllMBps, f.PutAllCPUSPerGB = fig(st[i].put)
		f.GetMBps, f.GetCPUSPerGB = fig(st[i].get)
		out[i] = f
	}
	return out, nil
}

// securityRatios adds to ratios, for each pair of variants measured, the
// ratio of their MB/s (<a>_over_<b>_<figure>) and of their CPU per GB
// (..._cpu) for the stream, the put (wait all) and the get.
func securityRatios(figs []blobSecurityFigures, ratios map[string]float64) {
	by := map[string]blobSecurityFigures{}
	for _, f := range figs {
		by[f.Name] = f
	}
	for _, p := range []struct{ a, b, key string }{
		{"tls", "noise", "tls_over_noise"},
		{"tls_fitted_frames", "noise_fitted_frames", "tls_over_noise_fitted_frames"},
		{"noise_fitted_frames", "noise", "noise_fitted_over_64kib_frames"},
		{"tls_fitted_frames", "tls", "tls_fitted_over_64kib_frames"},
	} {
		a, okA := by[p.a]
		b, okB := by[p.b]
		if !okA || !okB {
			continue
		}
		for _, x := range []struct {
			name           string
			am, ac, bm, bc float64
		}{
			{"stream", a.StreamMBps, a.StreamCPUSPerGB, b.StreamMBps, b.StreamCPUSPerGB},
			{"put_wait_all", a.PutAllMBps, a.PutAllCPUSPerGB, b.PutAllMBps, b.PutAllCPUSPerGB},
			{"get", a.GetMBps, a.GetCPUSPerGB, b.GetMBps, b.GetCPUSPerGB},
		} {
			if x.bm > 0 {
				ratios[p.key+"_"+x.name] = round3(x.am / x.bm)
			}
			if x.bc > 0 {
				ratios[p.key+"_"+x.name+"_cpu"] = round3(x.ac / x.bc)
			}
		}
	}
}
