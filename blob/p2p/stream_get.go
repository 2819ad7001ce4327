package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floe-fl/floe/blob"
)

// ReadWriterAt is where GetTo writes a blob (an *os.File, say): it reads
// back what it wrote for the consistency check. Reads and writes of
// disjoint ranges may run concurrently.
type ReadWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

// GetTo reads blob id into bytes [0, length) of w and returns the length,
// holding O(k * blob.StreamStripe) bytes whatever the size. It fetches the
// slivers as Get does (k data slivers first, hedged), verifies each against
// the ID while it streams, and writes data slivers at their offsets in w as
// they arrive. Meanwhile it re-encodes the parity stripe by stripe from what
// was written and hashes it, so that the consistency check (root and zero
// padding) mostly overlaps the transfer. When a data sliver is missing or
// bad, the parity slivers fetched instead go to a temporary file, and the
// missing data is rebuilt into w stripe by stripe and checked likewise.
// An error (ErrInconsistentEncoding, *NotEnoughSliversError, ...) leaves
// arbitrary bytes in w: GetTo never reports success for data that is not
// the blob's.
func (c *Client) GetTo(ctx context.Context, id blob.ID, w ReadWriterAt) (int64, error) {
	start := time.Now()
	g := &streamGet{c: c, w: w, n: c.com.N(), k: c.com.K(), skip: -1}
	length, err := g.run(ctx, id)
	c.cfg.metrics.get(start, int(length), err)
	return int64(length), err
}

// getToRepair is GetTo for member skip's repair: it does not ask skip, and
// returns the checked blob's stripe encoder (over w) and the leaf hash of
// every sliver, from which skip's sliver and proof are rebuilt.
func (c *Client) getToRepair(ctx context.Context, id blob.ID, w ReadWriterAt, skip int) (*blob.StripeEncoder, []blob.Hash, error) {
	g := &streamGet{c: c, w: w, n: c.com.N(), k: c.com.K(), skip: skip}
	if _, err := g.run(ctx, id); err != nil {
		return nil, nil, err
	}
	return g.se, g.leaves, nil
}

// streamGet is one GetTo.
type streamGet struct {
	c     *Client
	w     ReadWriterAt
	n, k  int
	width int // stripe width; 0: blob.StreamStripe
	skip  int // a member not to ask (a repairing node itself), or -1

	leaves []blob.Hash // every sliver's leaf, once checked against the root

	initOnce sync.Once
	length   uint64
	ss       int
	se       *blob.StripeEncoder // reads data slivers back from w
	coder    blob.StripeCoder
	initErr  error

	padBad []atomic.Bool  // data sliver i had nonzero bytes past the blob's end
	recvd  []atomic.Int64 // bytes of data sliver i written to w
	wake   chan struct{}  // capacity 1: progress was made
	stop   chan struct{}  // ends the concurrent check
	check  chan checkResult

	newSpill  func() (ReadWriterAt, func(), error) // nil: a temporary file
	spillMu   sync.Mutex
	spill     ReadWriterAt // parity slivers, sliver i at (i-k)*ss
	dropSpill func()
	spillErr  error
}

type checkResult struct {
	leaves []blob.Hash
	err    error
}

// errStopped ends a check whose slivers were not all received.
var errStopped = errors.New("blob: check stopped")

func (g *streamGet) run(ctx context.Context, id blob.ID) (uint64, error) {
	g.wake, g.stop = make(chan struct{}, 1), make(chan struct{})
	defer func() {
		close(g.stop)
		if g.check != nil {
			<-g.check
		}
		if g.dropSpill != nil {
			g.dropSpill()
		}
	}()
	gt, err := g.c.gather(ctx, id, g.skip, g.body)
	if err != nil {
		return 0, err
	}
	if g.initErr != nil {
		return 0, g.initErr
	}
	if err := g.finish(&gt); err != nil {
		return 0, err
	}
	return g.length, nil
}

// finish checks the k valid slivers of gt, written out, against the root:
// it takes the concurrent check's parity leaves when they are the data
// slivers, and otherwise rebuilds the missing data into w and re-encodes.
func (g *streamGet) finish(gt *gathered) error {
	for i := range g.k {
		if gt.valid[i] && g.padBad[i].Load() {
			return blob.ErrInconsistentEncoding
		}
	}
	leaves := gt.leaves
	if gt.dataOnly(g.k) && g.check != nil {
		r := <-g.check // every data sliver was written whole: it finishes
		g.check = nil
		if r.err != nil {
			return r.err
		}
		copy(leaves[g.k:], r.leaves[g.k:])
	} else if err := g.verify(gt.valid, leaves, nil); err != nil {
		return err
	}
	if blob.MerkleRoot(leaves) != gt.first.Root {
		return blob.ErrInconsistentEncoding
	}
	g.leaves = leaves
	return nil
}

// init learns the blob's size from the first verified header (all valid
// headers agree: they hash to the ID) and starts the concurrent check of
// the data slivers.
func (g *streamGet) init(hdr *fetchHeader, size uint64) {
	g.initOnce.Do(func() {
		if g.initErr = g.setup(hdr.Length, size); g.initErr != nil {
			return
		}
		g.check = make(chan checkResult, 1)
		go func() {
			recv := make([]bool, g.n)
			for i := range g.k {
				recv[i] = true
			}
			leaves := make([]blob.Hash, g.n)
			err := g.verify(recv, leaves, g.ready)
			g.check <- checkResult{leaves, err}
		}()
	})
}

// setup sizes g for a blob of length bytes in slivers of size bytes.
func (g *streamGet) setup(length, size uint64) error {
	g.length, g.ss = length, int(size)
	g.padBad = make([]atomic.Bool, g.k)
	g.recvd = make([]atomic.Int64, g.k)
	var err error
	width := g.width
	if width == 0 {
		width = blob.StreamStripe
	}
	if g.se, err = blob.NewStripeEncoder(g.w, length, g.n, width); err != nil {
		return err
	}
	g.coder, err = blob.NewStripeCoder(g.se.Encoding)
	return err
}

// body is fetch i's sliverBody: it hashes the sliver as it streams and
// writes it out (data to w, parity to the spill file).
func (g *streamGet) body(i int) sliverBody {
	return func(hdr *fetchHeader, r io.Reader, size uint64) ([]byte, blob.Hash, error) {
		g.init(hdr, size)
		if g.initErr != nil {
			return nil, blob.Hash{}, &localError{g.initErr}
		}
		buf := blob.GetStripeBuf(readChunk)
		defer blob.PutStripeBuf(buf)
		leaf, err := copyHashed(&sliverWriter{g: g, i: i}, r, size, buf)
		return nil, leaf, err
	}
}

// sliverWriter writes sliver i's bytes in order where GetTo keeps them.
type sliverWriter struct {
	g   *streamGet
	i   int
	off int
}

func (sw *sliverWriter) Write(p []byte) (int, error) {
	g, i := sw.g, sw.i
	var err error
	if i < g.k {
		start := uint64(i)*uint64(g.ss) + uint64(sw.off)
		inBlob := 0
		if start < g.length {
			inBlob = int(min(uint64(len(p)), g.length-start))
			_, err = g.w.WriteAt(p[:inBlob], int64(start))
		}
		if !allZero(p[inBlob:]) {
			g.padBad[i].Store(true)
		}
	} else {
		var f ReadWriterAt
		if f, err = g.spillFile(); err == nil {
			_, err = f.WriteAt(p, int64(i-g.k)*int64(g.ss)+int64(sw.off))
		}
	}
	if err != nil {
		return 0, &localError{fmt.Errorf("blob: get: write sliver %d: %w", i, err)}
	}
	sw.off += len(p)
	if i < g.k {
		g.recvd[i].Store(int64(sw.off))
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// spillFile returns the store of parity slivers, creating it.
func (g *streamGet) spillFile() (ReadWriterAt, error) {
	g.spillMu.Lock()
	defer g.spillMu.Unlock()
	if g.spill == nil && g.spillErr == nil {
		mk := g.newSpill
		if mk == nil {
			mk = tempSpill
		}
		g.spill, g.dropSpill, g.spillErr = mk()
	}
	return g.spill, g.spillErr
}

// tempSpill creates an unnamed temporary file (its name is removed at
// once where the system allows it).
func tempSpill() (ReadWriterAt, func(), error) {
	f, err := os.CreateTemp("", "floe-get-parity-*")
	if err != nil {
		return nil, nil, err
	}
	removed := os.Remove(f.Name()) == nil
	return f, func() {
		f.Close()
		if !removed {
			os.Remove(f.Name())
		}
	}, nil
}

// ready waits until every data sliver's first end bytes are in w; false
// when the check is stopped first.
func (g *streamGet) ready(end int) bool {
	for {
		all := true
		for i := range g.recvd {
			all = all && g.recvd[i].Load() >= int64(end)
		}
		if all {
			return true
		}
		select {
		case <-g.wake:
		case <-g.stop:
			return false
		}
	}
}

// verify re-encodes the blob stripe by stripe from the slivers marked in
// recv (at least k; data read back from w, zero past the blob's end, and
// parity from the spill file), waiting for each stripe with wait (when not
// nil). It writes the data slivers not received into w, checks that their
// bytes past the end are zero and that the received parity is what the data
// encodes to, and sets leaves[i] of every sliver not received.
func (g *streamGet) verify(recv []bool, leaves []blob.Hash, wait func(end int) bool) error {
	n, k, se := g.n, g.k, g.se
	width := se.Width
	buf := blob.GetStripeBuf((2*n - k) * width)
	defer blob.PutStripeBuf(buf)
	pieces := blob.SplitBuf(buf, 2*n-k, width)
	got, parity := pieces[:n], pieces[n:] // stripes received or rebuilt; re-encoded parity
	shards, enc := make([][]byte, n), make([][]byte, n)
	hs := make([]blob.LeafHasher, n)
	var todo []int
	missingData := false
	for i := range n {
		if !recv[i] {
			hs[i] = blob.NewLeafHasher()
			todo = append(todo, i)
			missingData = missingData || i < k
		}
	}
	for j := range se.Stripes() {
		off, end := se.Bounds(j)
		if wait != nil && !wait(end) {
			return errStopped
		}
		for i := range n {
			shards[i] = got[i][:end-off]
			if !recv[i] {
				shards[i] = shards[i][:0]
				continue
			}
			if err := g.readStripe(i, off, shards[i]); err != nil {
				return err
			}
		}
		if missingData {
			if err := g.coder.ReconstructData(shards); err != nil {
				return fmt.Errorf("blob: reconstruct: %w", err)
			}
			if err := g.writeRebuilt(recv, off, shards); err != nil {
				return err
			}
		}
		copy(enc, shards[:k])
		for i := k; i < n; i++ {
			enc[i] = parity[i-k][:end-off]
		}
		if err := g.coder.Encode(enc); err != nil {
			return fmt.Errorf("blob: re-encode: %w", err)
		}
		for i := k; i < n; i++ {
			if recv[i] && !bytes.Equal(enc[i], shards[i]) {
				return blob.ErrInconsistentEncoding
			}
		}
		blob.WriteLeaves(hs, enc, todo)
	}
	for _, i := range todo {
		hs[i].Sum(leaves[i][:0])
	}
	return nil
}

// readStripe reads bytes [off, off+len(dst)) of received sliver i.
func (g *streamGet) readStripe(i, off int, dst []byte) error {
	if i < g.k {
		return g.se.ReadData(i, off, dst)
	}
	if _, err := g.spill.ReadAt(dst, int64(i-g.k)*int64(g.ss)+int64(off)); err != nil {
		return fmt.Errorf("blob: get: read back parity sliver %d: %w", i, err)
	}
	return nil
}

// writeRebuilt writes the rebuilt data pieces (those not received) of the
// stripe at off into w; their bytes past the blob's end must be zero.
func (g *streamGet) writeRebuilt(recv []bool, off int, shards [][]byte) error {
	for i := range g.k {
		if recv[i] {
			continue
		}
		start := uint64(i)*uint64(g.ss) + uint64(off)
		p := shards[i]
		inBlob := 0
		if start < g.length {
			inBlob = int(min(uint64(len(p)), g.length-start))
			if _, err := g.w.WriteAt(p[:inBlob], int64(start)); err != nil {
				return fmt.Errorf("blob: get: write rebuilt sliver %d: %w", i, err)
			}
		}
		if !allZero(p[inBlob:]) {
			return blob.ErrInconsistentEncoding
		}
	}
	return nil
}
