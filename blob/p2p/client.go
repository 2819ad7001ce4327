package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floe-fl/floe/blob"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

type clientConfig struct {
	hedgeDelay  time.Duration
	readAll     bool
	baseTimeout time.Duration
	minRate     float64 // bytes per second assumed for per-node deadlines
	log         *slog.Logger
	metrics     *clientMetrics // nil: none (WithClientMetrics)
}

// ClientOption configures NewClient.
type ClientOption func(*clientConfig) error

// WithNodeTimeout sets the per-node deadline of one sliver transfer to
// base + sliverBytes/minBytesPerSec (defaults: 20 s and 1 MiB/s).
func WithNodeTimeout(base time.Duration, minBytesPerSec float64) ClientOption {
	return func(o *clientConfig) error {
		if base <= 0 || minBytesPerSec <= 0 {
			return fmt.Errorf("blob: node timeout %v at %v B/s must be positive", base, minBytesPerSec)
		}
		o.baseTimeout, o.minRate = base, minBytesPerSec
		return nil
	}
}

// WithHedgeDelay sets how long a read's sliver fetch may make no progress
// before the read starts a fetch from one more member (default 1 s).
func WithHedgeDelay(d time.Duration) ClientOption {
	return func(o *clientConfig) error {
		if d <= 0 {
			return fmt.Errorf("blob: hedge delay %v must be positive", d)
		}
		o.hedgeDelay = d
		return nil
	}
}

// WithReadAll makes reads ask every member at once instead of k first
// (more traffic; lowest latency when members are unreliable).
func WithReadAll() ClientOption {
	return func(o *clientConfig) error { o.readAll = true; return nil }
}

// WithClientLogger sets the client's logger (default: discard). Faulty
// slivers found by reads are logged at warning level.
func WithClientLogger(l *slog.Logger) ClientOption {
	return func(o *clientConfig) error {
		if l == nil {
			return errors.New("blob: nil logger")
		}
		o.log = l
		return nil
	}
}

// Client writes and reads blobs on one committee through a libp2p host.
type Client struct {
	h   host.Host
	com blob.Committee
	cfg clientConfig

	ctx    context.Context // cancelled by Close; parent of background writes
	cancel context.CancelFunc
	wg     sync.WaitGroup // background writes and certificate pushes
}

// NewClient returns a client for com that dials from h. It records the
// members' addresses in h's peerstore.
func NewClient(h host.Host, com blob.Committee, opts ...ClientOption) (*Client, error) {
	cfg := clientConfig{hedgeDelay: time.Second, baseTimeout: 20 * time.Second, minRate: 1 << 20, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := com.Validate(); err != nil {
		return nil, err
	}
	for _, m := range com.Members {
		if len(m.Addrs) > 0 && m.ID != h.ID() {
			h.Peerstore().AddAddrs(m.ID, m.Addrs, peerstore.PermanentAddrTTL)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{h: h, com: com, cfg: cfg, ctx: ctx, cancel: cancel}, nil
}

// Committee returns the client's committee.
func (c *Client) Committee() blob.Committee { return c.com }

// Wait blocks until the background work of earlier Puts (writes still
// running after Put returned at n - f acks, and certificate pushes) has
// finished; each part is bounded by its per-node deadline.
func (c *Client) Wait() { c.wg.Wait() }

// Close cancels background writes (those still running after Put returned
// at n - f acks) and waits for them.
func (c *Client) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

func (c *Client) nodeTimeout(sliverSize uint64) time.Duration {
	return c.cfg.baseTimeout + time.Duration(float64(sliverSize)/c.cfg.minRate*float64(time.Second))
}

type putConfig struct {
	lifetimeMs uint64
	waitAll    bool
	onNode     func(NodeError)
}

// PutOption configures one Put.
type PutOption func(*putConfig) error

// WithLifetime asks the nodes to keep the blob for d after they store it
// (by their own clocks), then delete it. Without it blobs never expire.
// The lifetime is signed into every ack, in milliseconds.
func WithLifetime(d time.Duration) PutOption {
	return func(o *putConfig) error {
		if d < time.Millisecond {
			return fmt.Errorf("blob: lifetime %v below 1ms", d)
		}
		o.lifetimeMs = uint64(d / time.Millisecond)
		return nil
	}
}

// WithWaitAll makes Put wait for every node's reply (each bounded by its
// per-node deadline) instead of returning at n - f acks, and push the
// certificate to all nodes before returning. The certificate then holds
// every ack, sorted by index, so a seeded simulation gets identical bytes.
func WithWaitAll() PutOption {
	return func(o *putConfig) error { o.waitAll = true; return nil }
}

// WithNodeResults calls fn once per committee member with the outcome of its
// write (Err nil: it acknowledged), from the writer's goroutine, also for the
// writes that finish in the background after Put returned (Client.Wait waits
// for them). floe blob put uses it to say which nodes failed and why.
func WithNodeResults(fn func(NodeError)) PutOption {
	return func(o *putConfig) error { o.onNode = fn; return nil }
}

// NodeError is one member's failure in a Put, Get or Stat.
type NodeError struct {
	Index int
	Peer  peer.ID
	Err   error
}

func (e NodeError) Error() string {
	return fmt.Sprintf("node %d (%s): %s", e.Index, shortID(e.Peer), flatten(e.Err))
}

// flatten turns a multi-line error (libp2p dial errors list every address)
// into one line.
func flatten(err error) string {
	if err == nil {
		return ""
	}
	f := strings.Fields(err.Error())
	return strings.Join(f, " ")
}

func shortID(p peer.ID) string {
	s := p.String()
	if len(s) > 12 {
		return "…" + s[len(s)-8:]
	}
	return s
}

// PutError reports a Put that gathered fewer than n - f acks.
type PutError struct {
	Acks, Need int
	Nodes      []NodeError // by index
}

func (e *PutError) Error() string {
	return fmt.Sprintf("blob: put got %d acknowledgements, need %d: %s", e.Acks, e.Need, joinNodeErrors(e.Nodes))
}

func joinNodeErrors(es []NodeError) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

type ackResult struct {
	index int
	ack   blob.Ack
	err   error
}

// Put encodes data, sends sliver i to member i in parallel, and returns the
// blob ID and a certificate once n - f distinct members acknowledged (or,
// with WithWaitAll, once every member answered or timed out). Without
// WithWaitAll the remaining writes and the certificate push continue in the
// background until their deadlines or Close. It holds the n slivers whole;
// PutFrom streams them.
func (c *Client) Put(ctx context.Context, data []byte, opts ...PutOption) (blob.ID, *blob.Certificate, error) {
	pc, err := putOptions(opts)
	if err != nil {
		return blob.ID{}, nil, err
	}
	start := time.Now()
	// The slivers are hashed while they are sent (opStoreTrailed): each
	// writer hashes its own, those held back by quorumFirst are hashed at
	// once beside the first writes, and the commitment follows the bytes.
	x, err := blob.EncodeUncommitted(data, c.com.N())
	if err != nil {
		return blob.ID{}, nil, err
	}
	b := newLeafBarrier(x)
	later := c.quorumFirst(pc, len(x.Data[0]))
	for i, l := range later {
		if l {
			b.hashLater(i, x.Data[i])
		}
	}
	send := func(ctx context.Context, i int) (blob.Ack, error) {
		hash := later == nil || !later[i]
		ack, err := c.storeSliverTrailed(ctx, b, i, pc.lifetimeMs, hash, func(w io.Writer) error { return writeChunked(w, x.Data[i]) })
		if err != nil && hash && !b.has(i) {
			b.set(i, leafOf(x.Data[i])) // the other writers need every leaf
		}
		return ack, err
	}
	release := func() {
		b.hashers.Wait()
		x.Release()
	}
	return c.put(ctx, pc, x, start, len(data), later, send, release)
}

// writeChunked writes p to w in pieces of copyBuf bytes, so that a writer
// that hashes what it writes does so while the piece is in cache.
func writeChunked(w io.Writer, p []byte) error {
	for off := 0; off < len(p); off += copyBuf {
		if _, err := w.Write(p[off:min(off+copyBuf, len(p))]); err != nil {
			return err
		}
	}
	return nil
}

// QuorumFirstMin is the sliver size from which a put (without WithWaitAll)
// sends n - f slivers first and the last f once those start finishing.
const QuorumFirstMin = 1 << 20

// quorumFirst returns the members whose writes a put starts only as others
// finish (nil: none): for slivers of QuorumFirstMin bytes or more, without
// WithWaitAll, the last f members (parity slivers, so that readers right
// after the put find the data slivers). The n - f writes the put returns on
// then share the client's bandwidth, and its cores, among themselves
// instead of with all n: the put returns after about (n-f)/n of the time
// of sending every sliver at once, and the last f follow in the
// background as before.
func (c *Client) quorumFirst(pc putConfig, sliverSize int) []bool {
	n, f := c.com.N(), c.com.F()
	if pc.waitAll || f == 0 || sliverSize < QuorumFirstMin {
		return nil
	}
	later := make([]bool, n)
	for i := n - f; i < n; i++ {
		later[i] = true
	}
	return later
}

func putOptions(opts []PutOption) (putConfig, error) {
	var pc putConfig
	for _, o := range opts {
		if err := o(&pc); err != nil {
			return pc, err
		}
	}
	return pc, nil
}

// put runs send(i) for every member i in parallel and gathers the acks for
// x: see Put. release runs once every send returned (in the background when
// put returns at n - f acks).
func (c *Client) put(ctx context.Context, pc putConfig, x *blob.Slivers, start time.Time, size int, later []bool, send func(context.Context, int) (blob.Ack, error), release func()) (blob.ID, *blob.Certificate, error) {
	n, need := c.com.N(), c.com.N()-c.com.F()

	// Writes run under wctx: tied to ctx until Put returns, then (without
	// WithWaitAll) left to finish under the client's context.
	wctx, wcancel := context.WithCancel(c.ctx)
	unlink := context.AfterFunc(ctx, wcancel)
	results := make(chan ackResult, n)
	// A write marked in later starts when another write has returned:
	// each returning write frees one start (quorumFirst).
	starts := make(chan struct{}, n)
	var writers sync.WaitGroup
	for i := range n {
		writers.Add(1)
		go func() {
			defer writers.Done()
			if later != nil && later[i] {
				select {
				case <-starts:
				case <-wctx.Done():
				}
			}
			ack, err := send(wctx, i)
			if pc.onNode != nil {
				pc.onNode(NodeError{Index: i, Peer: c.com.Members[i].ID, Err: err})
			}
			starts <- struct{}{}
			results <- ackResult{index: i, ack: ack, err: err}
		}()
	}
	acks := make([]blob.Ack, 0, n)
	var nodeErrs []NodeError
	got := 0
	for got < n && (pc.waitAll || len(acks) < need) {
		r := <-results
		got++
		if r.err != nil {
			nodeErrs = append(nodeErrs, NodeError{Index: r.index, Peer: c.com.Members[r.index].ID, Err: r.err})
			continue
		}
		acks = append(acks, r.ack)
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i].Index < acks[j].Index })
	sort.Slice(nodeErrs, func(i, j int) bool { return nodeErrs[i].Index < nodeErrs[j].Index })
	if len(acks) < need {
		unlink()
		wcancel()
		writers.Wait()
		release()
		perr := error(&PutError{Acks: len(acks), Need: need, Nodes: nodeErrs})
		if err := ctx.Err(); err != nil {
			perr = fmt.Errorf("blob: put: %w", err)
		}
		c.cfg.metrics.put(start, size, perr)
		return blob.ID{}, nil, perr
	}
	cert := &blob.Certificate{ID: x.ID, LifetimeMs: pc.lifetimeMs, Acks: acks}
	if pc.waitAll {
		unlink()
		wcancel()
		writers.Wait() // every writer answered; none reads the slivers now
		release()
		c.pushCert(ctx, cert)
		c.cfg.metrics.put(start, size, nil)
		return x.ID, cert, nil
	}
	// Return now; finish the remaining writes and push the certificate in
	// the background, detached from ctx.
	unlink()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer wcancel()
		writers.Wait()
		release()
		c.pushCert(wctx, cert)
	}()
	c.cfg.metrics.put(start, size, nil)
	return x.ID, cert, nil
}

// openStream opens a ProtoBlob stream to member i with a deadline of d
// (also enforced by resetting the stream when ctx ends).
func (c *Client) openStream(ctx context.Context, i int) (network.Stream, func() bool, error) {
	m := c.com.Members[i]
	if m.ID == c.h.ID() {
		return nil, nil, errors.New("blob: member is this host itself")
	}
	s, err := c.h.NewStream(ctx, m.ID, transport.ProtoBlob)
	if err != nil {
		return nil, nil, fmt.Errorf("open stream: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	return s, transport.ResetOnDone(ctx, s), nil
}

// pushCert sends cert to every member in parallel (best effort, bounded by
// the per-node base deadline), so that nodes can later repair the blob.
func (c *Client) pushCert(ctx context.Context, cert *blob.Certificate) {
	var wg sync.WaitGroup
	for i := range c.com.N() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.sendCert(ctx, i, cert); err != nil {
				c.cfg.log.Debug("blob: certificate push failed", "node", i, "err", err)
			}
		}()
	}
	wg.Wait()
}

func (c *Client) sendCert(ctx context.Context, i int, cert *blob.Certificate) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.baseTimeout)
	defer cancel()
	s, stop, err := c.openStream(ctx, i)
	if err != nil {
		return err
	}
	defer stop()
	var rep errReply
	if err := writeMsg(s, request{Op: opCert, ID: cert.ID, Cert: cert}); err == nil {
		_ = s.CloseWrite()
		err = codec.ReadMsg(s, replyLimit, &rep)
	}
	if err != nil {
		_ = s.Reset()
		return err
	}
	_ = s.Close()
	if rep.Err != "" {
		return errors.New(rep.Err)
	}
	return nil
}

// SliverState is what a read found at one member.
type SliverState int

// Sliver states, as Stat and read reports give them.
const (
	SliverValid       SliverState = iota // served and verified against the ID
	SliverMissing                        // the node does not hold it
	SliverInvalid                        // served, but fails verification
	SliverUnreachable                    // no answer (dial, timeout, reset)
	SliverSkipped                        // not needed: the read had k slivers
)

func (s SliverState) String() string {
	switch s {
	case SliverValid:
		return "valid"
	case SliverMissing:
		return "missing"
	case SliverInvalid:
		return "invalid"
	case SliverUnreachable:
		return "unreachable"
	case SliverSkipped:
		return "skipped"
	}
	return fmt.Sprintf("SliverState(%d)", int(s))
}

// SliverStatus is one member's answer to a read or Stat.
type SliverStatus struct {
	Index int
	Peer  peer.ID
	State SliverState
	Err   string // why it is not valid
}

// ReadReport lists each member's sliver state as a read saw it.
type ReadReport struct {
	Nodes []SliverStatus // by index
}

// Bad returns the indices of members that served invalid slivers.
func (r ReadReport) Bad() []int {
	var out []int
	for _, s := range r.Nodes {
		if s.State == SliverInvalid {
			out = append(out, s.Index)
		}
	}
	return out
}

// NotEnoughSliversError reports a read that found fewer than k valid slivers.
type NotEnoughSliversError struct {
	ID          blob.ID
	Valid, Need int
	Nodes       []SliverStatus
}

func (e *NotEnoughSliversError) Error() string {
	var parts []string
	for _, s := range e.Nodes {
		if s.State != SliverValid {
			parts = append(parts, fmt.Sprintf("node %d %s: %s", s.Index, s.State, s.Err))
		}
	}
	return fmt.Sprintf("blob: found %d valid slivers of %d needed for %s (%s)", e.Valid, e.Need, e.ID, strings.Join(parts, "; "))
}

// Unwrap returns blob.ErrNotEnoughSlivers.
func (e *NotEnoughSliversError) Unwrap() error { return blob.ErrNotEnoughSlivers }

// fetched is one sliver as a node served it.
type fetched struct {
	hdr    fetchHeader
	sliver []byte // nil when only hashed (Stat)
	leaf   blob.Hash
}

// progressReader records the time of every successful read.
type progressReader struct {
	r    io.Reader
	last *atomic.Int64
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// fetchSliver asks member i for sliver i of id, verifies the header against
// id and the bytes against the proof. With keep false it hashes the bytes
// without keeping them. The per-node deadline is the base timeout until the
// header arrives, then nodeTimeout of the announced sliver size.
func (c *Client) fetchSliver(ctx context.Context, id blob.ID, i int, keep bool) (fetched, SliverState, error) {
	var last atomic.Int64
	body := func(_ *fetchHeader, r io.Reader, size uint64) ([]byte, blob.Hash, error) {
		buf, release := getCopyBuf(size)
		defer release()
		leaf, err := copyHashed(nil, r, size, buf)
		return nil, leaf, err
	}
	if keep {
		body = intoBuf(func(size uint64) []byte { return make([]byte, size) }, nil)
	}
	return c.fetchSliverInto(ctx, id, i, body, &last)
}

// sliverBody consumes the size bytes of a fetched sliver from r, once its
// header (hdr) verified, and returns them (nil when not kept) and their leaf
// hash. An error is the transfer's (the member's), unless it is a
// *localError.
type sliverBody func(hdr *fetchHeader, r io.Reader, size uint64) ([]byte, blob.Hash, error)

// localError is a sliverBody's failure on this side (writing the output),
// which ends the read instead of asking another member.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// intoBuf is the sliverBody reading the sliver into dst(size), calling
// onData (when not nil) with the count of bytes filled after each chunk.
func intoBuf(dst func(uint64) []byte, onData func(int)) sliverBody {
	return func(_ *fetchHeader, r io.Reader, size uint64) ([]byte, blob.Hash, error) {
		buf := dst(size)
		leaf, err := readHashed(buf, r, onData)
		return buf, leaf, err
	}
}

// fetchSliverInto is fetchSliver handing the sliver's bytes to body and
// recording read progress in last.
func (c *Client) fetchSliverInto(ctx context.Context, id blob.ID, i int, body sliverBody, last *atomic.Int64) (fetched, SliverState, error) {
	dctx, dcancel := context.WithTimeout(ctx, c.cfg.baseTimeout)
	s, stop, err := c.openStream(dctx, i)
	if err != nil {
		dcancel()
		return fetched{}, SliverUnreachable, err
	}
	stop() // before dcancel, which would reset s
	dcancel()
	stop = transport.ResetOnDone(ctx, s)
	defer stop()
	timedOut := false
	var mu sync.Mutex
	deadline := func(d time.Duration) *time.Timer {
		_ = s.SetDeadline(time.Now().Add(d))
		return time.AfterFunc(d, func() { mu.Lock(); timedOut = true; mu.Unlock(); _ = s.Reset() })
	}
	timer := deadline(c.cfg.baseTimeout)
	defer func() { timer.Stop() }()
	fail := func(st SliverState, err error) (fetched, SliverState, error) {
		_ = s.Reset()
		mu.Lock()
		to := timedOut
		mu.Unlock()
		if to && st == SliverUnreachable {
			err = fmt.Errorf("per-node deadline exceeded (%v)", err)
		} else if ctx.Err() != nil && st == SliverUnreachable {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return fetched{}, st, err
	}
	if err := writeMsg(s, request{Op: opFetch, ID: id, Index: uint32(i)}); err != nil {
		return fail(SliverUnreachable, err)
	}
	_ = s.CloseWrite()
	r := progressReader{s, last}
	var hdr fetchHeader
	if err := codec.ReadMsg(r, replyLimit, &hdr); err != nil {
		return fail(SliverUnreachable, err)
	}
	if !hdr.Found {
		msg := "not stored"
		if hdr.Err != "" {
			msg = hdr.Err
		}
		_ = s.Close()
		return fetched{}, SliverMissing, errors.New(msg)
	}
	size, err := checkHeader(id, uint32(i), hdr.Enc, hdr.Length, hdr.Root, hdr.Proof)
	if err != nil {
		return fail(SliverInvalid, err)
	}
	if max, ok := blob.MaxLength(ctx); ok && hdr.Length > max {
		// The length is the blob's own (the ID commits to it): no other
		// member will serve a shorter one.
		_ = s.Reset()
		return fetched{}, SliverSkipped, &blob.TooLargeError{ID: id, Length: hdr.Length, Max: max}
	}
	timer.Stop()
	timer = deadline(c.nodeTimeout(size))
	buf, leaf, err := body(&hdr, r, size)
	var local *localError
	if errors.As(err, &local) {
		return fail(SliverSkipped, err)
	}
	if err != nil {
		return fail(SliverUnreachable, err)
	}
	if !blob.VerifyProof(leaf, i, int(hdr.Enc.N), hdr.Proof, hdr.Root) {
		return fail(SliverInvalid, errors.New("sliver does not match its proof"))
	}
	_ = s.Close()
	return fetched{hdr: hdr, sliver: buf, leaf: leaf}, SliverValid, nil
}

// Get reads blob id: it fetches slivers from k members in parallel (more
// when some fail or stall; see readBlob), verifies slivers as they arrive,
// decodes from the first k valid ones (cancelling the rest), re-encodes and
// checks the root. An inconsistently encoded blob gives
// ErrInconsistentEncoding; fewer than k valid slivers a
// *NotEnoughSliversError.
func (c *Client) Get(ctx context.Context, id blob.ID) ([]byte, error) {
	data, _, err := c.GetWithReport(ctx, id)
	return data, err
}

// GetWithReport is Get that also reports what each member served. Members
// not asked, or cancelled after k valid slivers arrived, show as
// SliverSkipped.
func (c *Client) GetWithReport(ctx context.Context, id blob.ID) ([]byte, ReadReport, error) {
	start := time.Now()
	data, rep, err := readBlob(ctx, c, id)
	c.cfg.metrics.get(start, len(data), err)
	return data, rep, err
}

type fetchResult struct {
	index int
	f     fetched
	st    SliverState
	err   error
}

// readBlob is GetWithReport's read.
//
// Data slivers are read straight into one buffer (the caller's, offered
// with blob.WithBuffer, when it is large enough), which becomes the
// returned blob without a copy. Every valid header names the same sliver
// size (it hashes to the ID), and each index is fetched once.
//
// While they arrive, a StripeCheck re-encodes the data slivers' common
// prefix stripe by stripe and hashes the parity, so that the consistency
// check mostly overlaps the transfer; it is used only when the k valid
// slivers are the data slivers (else decode does it all).
func readBlob(ctx context.Context, c *Client, id blob.ID) ([]byte, ReadReport, error) {
	n, k := c.com.N(), c.com.K()
	var base []byte
	var baseOnce sync.Once
	var chk *blob.StripeCheck // set by the first fetch into base
	// gather returns once no fetch runs any more, so none sets chk after.
	defer func() {
		if chk != nil {
			chk.Finish(false)
		}
	}()
	// body(i) runs on fetch i's goroutine.
	body := func(i int) sliverBody {
		if i >= k {
			return intoBuf(func(size uint64) []byte { return make([]byte, size) }, nil)
		}
		var check *blob.StripeCheck // set when the sliver goes to base
		dst := func(size uint64) []byte {
			baseOnce.Do(func() {
				if b := blob.TakeBuffer(ctx); uint64(cap(b)) >= uint64(k)*size {
					base = b[:uint64(k)*size] // every byte is written by a fetch or rebuilt
				} else {
					base = make([]byte, uint64(k)*size)
				}
				chk = blob.StartStripeCheck(n, base, int(size))
			})
			if uint64(len(base)) != uint64(k)*size {
				return make([]byte, size)
			}
			check = chk
			return base[uint64(i)*size : uint64(i+1)*size : uint64(i+1)*size]
		}
		return intoBuf(dst, func(done int) {
			if check != nil {
				check.Progress(i, done)
			}
		})
	}
	g, err := c.gather(ctx, id, -1, body)
	if err != nil {
		return nil, g.rep, err
	}
	var parity []blob.Hash
	if chk != nil {
		parity = chk.Finish(g.dataOnly(k)) // nil unless every stripe was checked
	}
	if want, err := blob.EncodingFor(n); parity != nil && err == nil && g.first.Enc == want {
		ss := int(want.SliverSize(g.first.Length))
		copy(g.leaves[k:], parity)
		if len(base) != k*ss || !allZero(base[g.first.Length:]) || blob.MerkleRoot(g.leaves) != g.first.Root {
			return nil, g.rep, blob.ErrInconsistentEncoding
		}
		return base[:g.first.Length:g.first.Length], g.rep, nil
	}
	data, err := blob.DecodeVerified(g.first.Enc, g.first.Length, g.first.Root, g.slivers, g.leaves, base)
	if err != nil {
		return nil, g.rep, err
	}
	return data, g.rep, nil
}

// gathered is what gather found: the first k valid slivers (others nil in
// slivers and unset in valid) with their leaves, and a valid header.
type gathered struct {
	rep     ReadReport
	slivers [][]byte
	leaves  []blob.Hash
	valid   []bool
	first   *fetchHeader
}

// dataOnly reports whether the k valid slivers are the data slivers.
func (g *gathered) dataOnly(k int) bool {
	for i := range k {
		if !g.valid[i] {
			return false
		}
	}
	return true
}

// gather fetches slivers of id until k are valid, handing fetch i's bytes to
// body(i) (called on that fetch's goroutine); skip names a member not to ask.
//
// It starts k fetches (the data slivers first, so that a healthy committee
// needs no reconstruction), and starts one more fetch for each that fails
// and for each that makes no progress for the hedge delay. With WithReadAll
// it asks every member at once. Either way it keeps the first k valid
// slivers and cancels the rest, and it returns once no fetch runs. Fewer
// than k valid slivers give a *NotEnoughSliversError.
func (c *Client) gather(ctx context.Context, id blob.ID, skip int, body func(i int) sliverBody) (gathered, error) {
	n, k := c.com.N(), c.com.K()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan fetchResult, n)
	g := gathered{rep: ReadReport{Nodes: make([]SliverStatus, n)}, slivers: make([][]byte, n), leaves: make([]blob.Hash, n), valid: make([]bool, n)}
	rep := &g.rep
	var order []int
	for i := range n {
		rep.Nodes[i] = SliverStatus{Index: i, Peer: c.com.Members[i].ID, State: SliverSkipped}
		if i == skip {
			rep.Nodes[i].Err = "not asked"
			continue
		}
		order = append(order, i)
	}
	progress := make([]atomic.Int64, n) // unix nanos of each fetch's last read
	hedged := make([]bool, n)
	running := make([]bool, n)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait
	active := 0
	launch := func() bool {
		if len(order) == 0 {
			return false
		}
		i := order[0]
		order = order[1:]
		active++
		running[i] = true
		progress[i].Store(time.Now().UnixNano())
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, st, err := c.fetchSliverInto(rctx, id, i, body(i), &progress[i])
			results <- fetchResult{index: i, f: f, st: st, err: err}
		}()
		return true
	}
	initial := k
	if c.cfg.readAll {
		initial = n
	}
	for range initial {
		launch()
	}
	tick := time.NewTicker(max(c.cfg.hedgeDelay/4, time.Millisecond))
	defer tick.Stop()
	valid := 0
	for valid < k && active > 0 {
		select {
		case r := <-results:
			active--
			running[r.index] = false
			st := &rep.Nodes[r.index]
			st.State = r.st
			if r.err != nil {
				st.Err = flatten(r.err)
				var tl *blob.TooLargeError
				var local *localError
				if errors.As(r.err, &tl) || errors.As(r.err, &local) {
					return g, r.err
				}
				if r.st == SliverInvalid {
					c.cfg.log.Warn("blob: invalid sliver", "blob", id, "node", r.index, "peer", st.Peer, "err", st.Err)
				}
				if !hedged[r.index] {
					launch() // replace the failed fetch
				}
				continue
			}
			g.slivers[r.index], g.leaves[r.index], g.valid[r.index] = r.f.sliver, r.f.leaf, true
			if g.first == nil {
				g.first = &r.f.hdr
			}
			valid++
		case <-tick.C:
			now := time.Now().UnixNano()
			for i := range n {
				if running[i] && !hedged[i] && now-progress[i].Load() > int64(c.cfg.hedgeDelay) {
					hedged[i] = true // its replacement is started once
					launch()
				}
			}
		case <-ctx.Done():
			return g, fmt.Errorf("blob: get %s: %w", id, ctx.Err())
		}
	}
	cancel()
	wg.Wait() // no fetch runs any more
	if valid < k {
		return g, &NotEnoughSliversError{ID: id, Valid: valid, Need: k, Nodes: rep.Nodes}
	}
	return g, nil
}

// Stat asks every member for its sliver of id, verifies each fully (hashing
// it while it streams, without keeping it) and reports each member's state.
func (c *Client) Stat(ctx context.Context, id blob.ID) ([]SliverStatus, error) {
	n := c.com.N()
	out := make([]SliverStatus, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, st, err := c.fetchSliver(ctx, id, i, false)
			out[i] = SliverStatus{Index: i, Peer: c.com.Members[i].ID, State: st}
			if err != nil {
				out[i].Err = flatten(err)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("blob: stat: %w", err)
	}
	return out, nil
}

func allZero(b []byte) bool {
	return len(bytes.TrimLeft(b, "\x00")) == 0
}
