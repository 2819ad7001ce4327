package p2p

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/floe-fl/floe/atomicfile"
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/clock"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
)

// sliverMagic starts every sliver file written from an opStore request;
// its header is followed by the sliver bytes.
const sliverMagic = "FLOESLV1"

// sliverMagic2 starts a sliver file written from an opStoreTrailed request,
// whose header is only known after the sliver bytes: the header is written
// at the start and the sliver bytes at trailedBodyOffset.
const sliverMagic2 = "FLOESLV2"

// trailedBodyOffset is where the sliver bytes of a sliverMagic2 file start:
// the magic and header (at most about 1 KiB for a committee of 256) fit
// before it, zero-padded.
const trailedBodyOffset = 4096

// sliverMeta is the CBOR header of a sliver file.
type sliverMeta struct {
	ID          blob.ID       `cbor:"1,keyasint"`
	Index       uint32        `cbor:"2,keyasint"`
	Enc         blob.Encoding `cbor:"3,keyasint"`
	Length      uint64        `cbor:"4,keyasint"`
	Root        blob.Hash     `cbor:"5,keyasint"`
	Proof       []blob.Hash   `cbor:"6,keyasint"`
	ExpiresAtMs int64         `cbor:"7,keyasint"` // Unix milliseconds; 0: never
}

// certRecord is the CBOR content of a certificate file.
type certRecord struct {
	Cert        blob.Certificate `cbor:"1,keyasint"`
	ExpiresAtMs int64            `cbor:"2,keyasint"`
}

type nodeConfig struct {
	clock       clock.Clock // for blob expiry only, so simulations can inject a fake one
	log         *slog.Logger
	gcInterval  time.Duration
	maxSliver   uint64
	nodeTimeout time.Duration
	metrics     *nodeMetrics // nil: none (WithNodeMetrics)
}

// NodeOption configures NewNode.
type NodeOption func(*nodeConfig) error

// WithClock sets the clock used for expiry (default: the wall clock).
func WithClock(c clock.Clock) NodeOption {
	return func(o *nodeConfig) error {
		if c == nil {
			return errors.New("blob: nil clock")
		}
		o.clock = c
		return nil
	}
}

// WithNodeLogger sets the node's logger (default: discard).
func WithNodeLogger(l *slog.Logger) NodeOption {
	return func(o *nodeConfig) error {
		if l == nil {
			return errors.New("blob: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithGCInterval runs CollectGarbage every d in a background goroutine; 0
// (the default) runs none, and callers call CollectGarbage themselves.
func WithGCInterval(d time.Duration) NodeOption {
	return func(o *nodeConfig) error {
		if d < 0 {
			return fmt.Errorf("blob: negative GC interval %v", d)
		}
		o.gcInterval = d
		return nil
	}
}

// WithMaxSliverSize caps the sliver size a node accepts (default 1 GiB).
func WithMaxSliverSize(n uint64) NodeOption {
	return func(o *nodeConfig) error {
		if n == 0 {
			return errors.New("blob: zero max sliver size")
		}
		o.maxSliver = n
		return nil
	}
}

// Node is a storage node: it serves transport.ProtoBlob on a host, storing
// verified slivers and certificates under a data directory.
type Node struct {
	h    host.Host
	key  crypto.PrivKey
	dir  string
	cfg  nodeConfig
	stop context.CancelFunc
	wg   sync.WaitGroup

	// Stream handlers in flight and their streams: Close resets the
	// streams and waits for the handlers, so after Close a node writes
	// nothing more to its data directory.
	mu       sync.Mutex
	closed   bool
	handlers sync.WaitGroup
	streams  map[network.Stream]struct{}
}

// NewNode opens (creating if needed) the data directory, removes leftover
// temporary files, and starts serving transport.ProtoBlob on h.
func NewNode(h host.Host, dataDir string, opts ...NodeOption) (*Node, error) {
	cfg := nodeConfig{clock: clock.Real{}, log: slog.New(slog.DiscardHandler), maxSliver: 1 << 30}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	key := h.Peerstore().PrivKey(h.ID())
	if key == nil {
		return nil, errors.New("blob: host has no private key in its peerstore")
	}
	n := &Node{h: h, key: key, dir: dataDir, cfg: cfg}
	for _, d := range []string{n.sliverDir(), n.certDir(), n.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob: data dir: %w", err)
		}
	}
	if err := os.RemoveAll(n.tmpDir()); err != nil {
		return nil, fmt.Errorf("blob: clear tmp: %w", err)
	}
	if err := os.MkdirAll(n.tmpDir(), 0o700); err != nil {
		return nil, fmt.Errorf("blob: data dir: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	h.SetStreamHandler(transport.ProtoBlob, n.handle)
	if cfg.gcInterval > 0 {
		n.wg.Add(1)
		go n.gcLoop(ctx)
	}
	return n, nil
}

// Close stops serving and waits for the background collector. It does not
// close the host.
func (n *Node) Close() error {
	n.h.RemoveStreamHandler(transport.ProtoBlob)
	n.mu.Lock()
	n.closed = true
	for st := range n.streams {
		_ = st.Reset()
	}
	n.mu.Unlock()
	n.stop()
	n.wg.Wait()
	n.handlers.Wait()
	return nil
}

func (n *Node) gcLoop(ctx context.Context) {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.gcInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := n.CollectGarbage(); err != nil {
				n.cfg.log.Warn("blob: garbage collection", "err", err)
			}
		}
	}
}

func (n *Node) sliverDir() string { return filepath.Join(n.dir, "slivers") }
func (n *Node) certDir() string   { return filepath.Join(n.dir, "certs") }
func (n *Node) tmpDir() string    { return filepath.Join(n.dir, "tmp") }

func (n *Node) sliverPath(id blob.ID, index uint32) string {
	return filepath.Join(n.sliverDir(), id.String()+"."+strconv.FormatUint(uint64(index), 10))
}

func (n *Node) certPath(id blob.ID) string { return filepath.Join(n.certDir(), id.String()+".cert") }

func (n *Node) nowMs() int64 { return n.cfg.clock.Now().UnixMilli() }

func expired(expiresAtMs, nowMs int64) bool { return expiresAtMs != 0 && nowMs >= expiresAtMs }

// longerExpiry returns the later of two expiries, 0 (never) being latest.
func longerExpiry(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	return max(a, b)
}

func (n *Node) handle(s network.Stream) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		_ = s.Reset()
		return
	}
	n.handlers.Add(1)
	if n.streams == nil {
		n.streams = map[network.Stream]struct{}{}
	}
	n.streams[s] = struct{}{}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.streams, s)
		n.mu.Unlock()
		n.handlers.Done()
	}()
	defer s.Close()
	_ = s.SetReadDeadline(time.Now().Add(headerTimeout))
	var req request
	if err := codec.ReadMsg(s, requestLimit, &req); err != nil {
		n.cfg.log.Debug("blob: bad request", "peer", s.Conn().RemotePeer(), "err", err)
		_ = s.Reset()
		return
	}
	var err error
	switch req.Op {
	case opStore:
		err = n.handleStore(s, &req)
	case opStoreTrailed:
		err = n.handleStoreTrailed(s, &req)
	case opFetch:
		err = n.handleFetch(s, &req)
	case opCert:
		err = n.handleCert(s, &req)
	case opList:
		err = n.handleList(s, &req)
	default:
		err = fmt.Errorf("blob: unknown op %d", req.Op)
	}
	if err != nil {
		n.cfg.log.Debug("blob: request failed", "op", req.Op, "peer", s.Conn().RemotePeer(), "err", err)
		_ = s.Reset()
	}
}

func (n *Node) reply(s network.Stream, v any) error {
	_ = s.SetWriteDeadline(time.Now().Add(headerTimeout))
	return writeMsg(s, v)
}

func (n *Node) handleStore(s network.Stream, req *request) error {
	h := req.Store
	if h == nil {
		return n.reply(s, storeReply{Err: "blob: store request without header"})
	}
	size, err := checkHeader(req.ID, req.Index, h.Enc, h.Length, h.Root, h.Proof)
	if err == nil && size > n.cfg.maxSliver {
		err = fmt.Errorf("blob: sliver of %d bytes above this node's limit %d", size, n.cfg.maxSliver)
	}
	if err != nil {
		return n.reply(s, storeReply{Err: err.Error()})
	}
	var exp int64
	if h.LifetimeMs > 0 {
		exp = n.nowMs() + int64(h.LifetimeMs)
	}
	// A second store of a sliver never shortens its retention: otherwise
	// anyone could expire a certified blob by storing it again briefly.
	if f, old, err := n.openSliver(req.ID, req.Index); err == nil {
		f.Close()
		exp = longerExpiry(exp, old.ExpiresAtMs)
	}
	meta := sliverMeta{ID: req.ID, Index: req.Index, Enc: h.Enc, Length: h.Length, Root: h.Root, Proof: h.Proof, ExpiresAtMs: exp}
	body := &countingReader{r: idleReader{s, idleTimeout}}
	err = n.writeSliver(meta, size, body)
	return n.answerStore(s, req, req.ID, h.LifetimeMs, size, body.n, err)
}

// answerStore answers a store request once the sliver was written (err
// nil: acknowledge it) or not: a sliver that does not match its
// commitment is refused with the reason; one the node could not keep (a
// full disk, an I/O error) is refused with the node's error, logged, after
// reading the unread rest of the body so that the client reads the answer
// instead of "stream reset"; a body that could not be read ends the stream.
func (n *Node) answerStore(s network.Stream, req *request, id blob.ID, lifetimeMs, size, read uint64, err error) error {
	if err != nil {
		if errors.Is(err, errSliverInvalid) || errors.Is(err, errBadTrailer) {
			n.cfg.metrics.sliverInvalid()
			return n.reply(s, storeReply{Err: err.Error()})
		}
		if !errors.Is(err, errBodyRead) {
			return n.refuseStore(s, req, size-min(size, read), err)
		}
		return err
	}
	ack, err := blob.SignAck(n.key, id, req.Index, n.h.ID(), lifetimeMs)
	if err != nil {
		return n.refuseStore(s, req, 0, err)
	}
	n.cfg.metrics.sliverStored()
	return n.reply(s, storeReply{Ack: &ack})
}

// handleStoreTrailed is handleStore for a sliver whose root and proof
// follow its bytes (opStoreTrailed): the node writes the bytes while it
// hashes them, then reads the trailer, derives the blob ID and checks the
// proof before it makes the sliver durable and acknowledges it.
func (n *Node) handleStoreTrailed(s network.Stream, req *request) error {
	h := req.Store
	var size uint64
	var err error
	switch {
	case h == nil:
		err = errors.New("blob: store request without header")
	case req.ID != (blob.ID{}) || h.Root != (blob.Hash{}) || len(h.Proof) != 0:
		err = errors.New("blob: trailed store request with a blob ID, root or proof before the sliver")
	default:
		if err = h.Enc.Validate(); err == nil && req.Index >= uint32(h.Enc.N) {
			err = fmt.Errorf("blob: sliver index %d outside n=%d", req.Index, h.Enc.N)
		}
		if err == nil {
			if size = h.Enc.SliverSize(h.Length); size > n.cfg.maxSliver {
				err = fmt.Errorf("blob: sliver of %d bytes above this node's limit %d", size, n.cfg.maxSliver)
			}
		}
	}
	if err != nil {
		return n.reply(s, storeReply{Err: err.Error()})
	}
	body := &countingReader{r: idleReader{s, idleTimeout}}
	meta, err := n.writeSliverTrailed(s, req.Index, h, size, body)
	return n.answerStore(s, req, meta.ID, h.LifetimeMs, size, body.n, err)
}

// errBadTrailer marks a trailer that cannot be read or does not fit its
// header.
var errBadTrailer = errors.New("blob: bad store trailer")

// writeSliverTrailed writes a trailed sliver's bytes from r to a temporary
// file at trailedBodyOffset while it hashes them, reads the trailer from s,
// checks the proof, writes the header at the file's start and moves the
// file into place, durably. It returns the sliver's header.
func (n *Node) writeSliverTrailed(s network.Stream, index uint32, h *storeHeader, size uint64, r io.Reader) (sliverMeta, error) {
	f, err := os.CreateTemp(n.tmpDir(), "sliver-*")
	if err != nil {
		return sliverMeta{}, fmt.Errorf("blob: temp file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	defer f.Close()
	if _, err := f.Seek(trailedBodyOffset, io.SeekStart); err != nil {
		return sliverMeta{}, fmt.Errorf("blob: write sliver: %w", err)
	}
	buf, release := getCopyBuf(size)
	defer release()
	leaf, err := copyHashed(&writebackWriter{f: f, off: trailedBodyOffset}, r, size, buf)
	if err != nil {
		return sliverMeta{}, err
	}
	_ = s.SetReadDeadline(time.Now().Add(headerTimeout))
	var tr storeTrailer
	if err := codec.ReadMsg(s, requestLimit, &tr); err != nil {
		return sliverMeta{}, fmt.Errorf("%w: %v", errBadTrailer, err)
	}
	meta := sliverMeta{ID: blob.IDFor(h.Enc, h.Length, tr.Root), Index: index, Enc: h.Enc, Length: h.Length, Root: tr.Root, Proof: tr.Proof}
	if _, err := checkHeader(meta.ID, index, h.Enc, h.Length, tr.Root, tr.Proof); err != nil {
		return sliverMeta{}, fmt.Errorf("%w: %v", errBadTrailer, err)
	}
	if !blob.VerifyProof(leaf, int(index), int(h.Enc.N), tr.Proof, tr.Root) {
		return sliverMeta{}, errSliverInvalid
	}
	if h.LifetimeMs > 0 {
		meta.ExpiresAtMs = n.nowMs() + int64(h.LifetimeMs)
	}
	// A second store of a sliver never shortens its retention: otherwise
	// anyone could expire a certified blob by storing it again briefly.
	if old, om, err := n.openSliver(meta.ID, index); err == nil {
		old.Close()
		meta.ExpiresAtMs = longerExpiry(meta.ExpiresAtMs, om.ExpiresAtMs)
	}
	var head bytes.Buffer
	head.WriteString(sliverMagic2)
	if err := writeMsg(&head, meta); err != nil {
		return sliverMeta{}, err
	}
	if head.Len() > trailedBodyOffset {
		return sliverMeta{}, fmt.Errorf("%w: header of %d bytes", errBadTrailer, head.Len())
	}
	if _, err := f.WriteAt(head.Bytes(), 0); err != nil {
		return sliverMeta{}, fmt.Errorf("blob: write sliver: %w", err)
	}
	if err := f.Sync(); err != nil {
		return sliverMeta{}, fmt.Errorf("blob: sync sliver: %w", err)
	}
	if err := f.Close(); err != nil {
		return sliverMeta{}, fmt.Errorf("blob: close sliver: %w", err)
	}
	if err := os.Rename(tmp, n.sliverPath(meta.ID, index)); err != nil {
		return sliverMeta{}, fmt.Errorf("blob: rename sliver: %w", err)
	}
	return meta, atomicfile.SyncDir(n.sliverDir())
}

var errSliverInvalid = errors.New("blob: sliver does not match its proof")

// errBodyRead marks a failure to read a sliver's body from the client (a
// reset or stalled stream): nobody is left to answer.
var errBodyRead = errors.New("blob: read sliver body")

// countingReader counts the bytes read through it and marks its read errors
// (io.EOF included) with errBodyRead.
type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += uint64(k)
	if err != nil {
		err = fmt.Errorf("%w: %w", errBodyRead, err) // a short body too: the client's fault
	}
	return k, err
}

// refuseStore logs why this node could not store a sliver, answers the client
// with that error, and reads (at most) the unread rest of the sliver so the
// client's write completes and it reads the answer instead of a reset.
func (n *Node) refuseStore(s network.Stream, req *request, unread uint64, cause error) error {
	n.cfg.log.Error("blob: cannot store sliver", "blob", req.ID.String(), "index", req.Index, "peer", s.Conn().RemotePeer(), "err", cause)
	if err := n.reply(s, storeReply{Err: "node cannot store the sliver: " + cause.Error()}); err != nil {
		return err
	}
	_ = s.CloseWrite()
	_, _ = io.Copy(io.Discard, io.LimitReader(idleReader{s, idleTimeout}, int64(unread)))
	return nil
}

// writeSliver streams size bytes from r into a temporary file while hashing
// them, checks the hash against meta's proof, then makes the file durable
// under its final name (fsync file, rename, fsync directory).
func (n *Node) writeSliver(meta sliverMeta, size uint64, r io.Reader) error {
	f, err := os.CreateTemp(n.tmpDir(), "sliver-*")
	if err != nil {
		return fmt.Errorf("blob: temp file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	defer f.Close()
	bw := bufio.NewWriterSize(f, 4<<10)
	if _, err := bw.WriteString(sliverMagic); err != nil {
		return fmt.Errorf("blob: write sliver: %w", err)
	}
	if err := writeMsg(bw, meta); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("blob: write sliver: %w", err)
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("blob: write sliver: %w", err)
	}
	buf, release := getCopyBuf(size)
	defer release()
	leaf, err := copyHashed(&writebackWriter{f: f, off: off}, r, size, buf)
	if err != nil {
		return err
	}
	if !blob.VerifyProof(leaf, int(meta.Index), int(meta.Enc.N), meta.Proof, meta.Root) {
		return errSliverInvalid
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blob: sync sliver: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("blob: close sliver: %w", err)
	}
	if err := os.Rename(tmp, n.sliverPath(meta.ID, meta.Index)); err != nil {
		return fmt.Errorf("blob: rename sliver: %w", err)
	}
	return atomicfile.SyncDir(n.sliverDir())
}

// writebackWriter writes to f and starts the kernel's writeback of every
// writebackEvery bytes written (startWriteback), so that a sliver is mostly
// on disk by the time writeSliver fsyncs it: measured on floe bench blob
// (64 MiB, n=7), the final fsyncs otherwise cost a put about 12% of its
// wall time.
type writebackWriter struct {
	f            *os.File
	off, pending int64 // start and length of the range not yet handed to writeback
}

const writebackEvery = 4 << 20

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.pending += int64(n)
	if w.pending >= writebackEvery {
		startWriteback(w.f, w.off, w.pending)
		w.off += w.pending
		w.pending = 0
	}
	return n, err
}

// openSliver opens a stored sliver and reads its header. The returned file
// is positioned at the sliver bytes. Expired slivers are reported missing.
func (n *Node) openSliver(id blob.ID, index uint32) (*os.File, sliverMeta, error) {
	f, err := os.Open(n.sliverPath(id, index))
	if err != nil {
		return nil, sliverMeta{}, err
	}
	meta, err := readSliverHeader(f)
	if err != nil {
		f.Close()
		return nil, sliverMeta{}, err
	}
	if meta.ID != id || meta.Index != index {
		f.Close()
		return nil, sliverMeta{}, fmt.Errorf("blob: sliver file for %s/%d names %s/%d", id, index, meta.ID, meta.Index)
	}
	if expired(meta.ExpiresAtMs, n.nowMs()) {
		f.Close()
		return nil, sliverMeta{}, os.ErrNotExist
	}
	off, err := f.Seek(0, io.SeekCurrent)
	st, serr := f.Stat()
	if err != nil || serr != nil || st.Size()-off != int64(meta.Enc.SliverSize(meta.Length)) {
		f.Close()
		return nil, sliverMeta{}, fmt.Errorf("blob: sliver file %s/%d has the wrong size", id, index)
	}
	return f, meta, nil
}

// readSliverHeader reads the magic and CBOR header of a sliver file and
// leaves r at the sliver bytes. It reads no further than the header (and,
// in a sliverMagic2 file, its padding).
func readSliverHeader(r io.Reader) (sliverMeta, error) {
	var magic [len(sliverMagic)]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil || (string(magic[:]) != sliverMagic && string(magic[:]) != sliverMagic2) {
		return sliverMeta{}, errors.New("blob: sliver file: bad magic")
	}
	cr := &byteCounter{r: r, n: len(magic)}
	var meta sliverMeta
	if err := codec.ReadMsg(cr, requestLimit, &meta); err != nil {
		return sliverMeta{}, fmt.Errorf("blob: sliver file header: %w", err)
	}
	if string(magic[:]) == sliverMagic2 {
		// The sliver bytes start at trailedBodyOffset, after padding.
		if cr.n > trailedBodyOffset {
			return sliverMeta{}, errors.New("blob: sliver file header: longer than its space")
		}
		if _, err := io.CopyN(io.Discard, r, int64(trailedBodyOffset-cr.n)); err != nil {
			return sliverMeta{}, fmt.Errorf("blob: sliver file header: %w", err)
		}
	}
	if _, err := checkHeader(meta.ID, meta.Index, meta.Enc, meta.Length, meta.Root, meta.Proof); err != nil {
		return sliverMeta{}, fmt.Errorf("blob: sliver file header: %w", err)
	}
	return meta, nil
}

func (n *Node) handleFetch(s network.Stream, req *request) error {
	f, meta, err := n.openSliver(req.ID, req.Index)
	if err != nil {
		msg := ""
		if !errors.Is(err, os.ErrNotExist) {
			msg = err.Error()
		}
		return n.reply(s, fetchHeader{Err: msg})
	}
	defer f.Close()
	hdr := fetchHeader{Found: true, Enc: meta.Enc, Length: meta.Length, Root: meta.Root, Proof: meta.Proof}
	if err := n.reply(s, hdr); err != nil {
		return err
	}
	size := int64(meta.Enc.SliverSize(meta.Length))
	w := idleWriter{s, idleTimeout}
	buf, release := getCopyBuf(uint64(size))
	defer release()
	m, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{io.LimitReader(f, size)}, buf)
	if err != nil {
		return fmt.Errorf("blob: serve sliver: %w", err)
	}
	if m != size {
		return fmt.Errorf("blob: serve sliver: file holds %d of %d bytes", m, size)
	}
	n.cfg.metrics.sliverServed()
	return s.CloseWrite()
}

func (n *Node) handleCert(s network.Stream, req *request) error {
	c := req.Cert
	if c == nil {
		return n.reply(s, errReply{Err: "blob: certificate request without certificate"})
	}
	if err := n.acceptCert(c); err != nil {
		return n.reply(s, errReply{Err: err.Error()})
	}
	return n.reply(s, errReply{})
}

// acceptCert stores a pushed certificate if this node holds a sliver of the
// blob and the certificate carries this node's valid ack for it.
func (n *Node) acceptCert(c *blob.Certificate) error {
	if len(c.Acks) > blob.MaxCommittee {
		return fmt.Errorf("blob: certificate with %d acks", len(c.Acks))
	}
	for _, a := range c.Acks {
		f, meta, err := n.openSliver(c.ID, a.Index)
		if err != nil {
			continue
		}
		f.Close()
		if blob.VerifyAck(a, c.ID, c.LifetimeMs, n.h.ID()) == nil {
			if r, err := n.readCert(c.ID); err == nil && r.ExpiresAtMs == meta.ExpiresAtMs {
				return nil // already certified; the first certificate stays
			}
			return n.storeCert(c, meta.ExpiresAtMs)
		}
	}
	return fmt.Errorf("blob: certificate for %s carries no valid ack of a sliver held here", c.ID)
}

func (n *Node) storeCert(c *blob.Certificate, expiresAtMs int64) error {
	b, err := codec.Marshal(certRecord{Cert: *c, ExpiresAtMs: expiresAtMs})
	if err != nil {
		return fmt.Errorf("blob: encode certificate: %w", err)
	}
	if err := atomicfile.WriteFile(n.certPath(c.ID), b, 0o600); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

func (n *Node) readCert(id blob.ID) (certRecord, error) {
	b, err := os.ReadFile(n.certPath(id))
	if err != nil {
		return certRecord{}, err
	}
	return parseCertRecord(b)
}

func parseCertRecord(b []byte) (certRecord, error) {
	var r certRecord
	if err := codec.Unmarshal(b, &r); err != nil {
		return certRecord{}, fmt.Errorf("blob: certificate file: %w", err)
	}
	if len(r.Cert.Acks) > blob.MaxCommittee {
		return certRecord{}, fmt.Errorf("blob: certificate file: %d acks", len(r.Cert.Acks))
	}
	return r, nil
}

// certIDs lists the IDs of stored certificates in ascending byte order.
func (n *Node) certIDs() ([]blob.ID, error) {
	entries, err := os.ReadDir(n.certDir())
	if err != nil {
		return nil, fmt.Errorf("blob: list certificates: %w", err)
	}
	var ids []blob.ID
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".cert")
		if !ok {
			continue
		}
		id, err := blob.ParseID(name)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	return ids, nil
}

func (n *Node) handleList(s network.Stream, req *request) error {
	ids, err := n.certIDs()
	if err != nil {
		return err
	}
	now := n.nowMs()
	var rep listReply
	for _, id := range ids {
		if req.HasAfter && string(id[:]) <= string(req.ID[:]) {
			continue
		}
		if len(rep.Entries) == listPage {
			rep.More = true
			break
		}
		r, err := n.readCert(id)
		if err != nil || expired(r.ExpiresAtMs, now) {
			continue
		}
		rep.Entries = append(rep.Entries, listEntry(r))
	}
	_ = s.SetWriteDeadline(time.Now().Add(headerTimeout))
	return writeMsg(s, rep)
}

// Has reports whether the node holds an unexpired sliver index of blob id.
// It does not re-hash the sliver.
func (n *Node) Has(id blob.ID, index int) bool {
	if index < 0 {
		return false
	}
	f, _, err := n.openSliver(id, uint32(index))
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// CollectGarbage deletes expired slivers and certificates and returns how
// many files it removed.
func (n *Node) CollectGarbage() (int, error) {
	now := n.nowMs()
	removed := 0
	entries, err := os.ReadDir(n.sliverDir())
	if err != nil {
		return 0, fmt.Errorf("blob: list slivers: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(n.sliverDir(), e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		meta, err := readSliverHeader(f)
		f.Close()
		if err == nil && expired(meta.ExpiresAtMs, now) {
			if os.Remove(p) == nil {
				removed++
			}
		}
	}
	ids, err := n.certIDs()
	if err != nil {
		return removed, err
	}
	for _, id := range ids {
		r, err := n.readCert(id)
		if err == nil && expired(r.ExpiresAtMs, now) {
			if os.Remove(n.certPath(id)) == nil {
				removed++
			}
		}
	}
	if removed > 0 {
		if err := atomicfile.SyncDir(n.sliverDir()); err != nil {
			return removed, err
		}
		if err := atomicfile.SyncDir(n.certDir()); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// byteCounter counts the bytes read through it.
type byteCounter struct {
	r io.Reader
	n int
}

func (c *byteCounter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += k
	return k, err
}
