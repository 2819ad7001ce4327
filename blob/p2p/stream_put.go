package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/floe-fl/floe/blob"
)

// feedDepth is how many stripes of its sliver each member's writer may have
// queued before the encoder stops waiting for it.
const feedDepth = 4

// PutFrom is Put for the size bytes of r, read once and never held whole:
// one goroutine encodes r stripe by stripe, hashes every stripe of every
// sliver as it is produced, and queues stripe j of sliver i to member i's
// writer; once every stripe is hashed the blob's commitment is known and
// each writer sends its trailer (opStoreTrailed). The ID is Put's for the
// same bytes. Memory is O(n * blob.StreamStripe) whatever the size: each
// member has feedDepth stripes in flight; a member that falls that far
// behind for the hedge delay (WithHedgeDelay) is cut loose and reads and
// encodes its own stripes from r (one more encoding pass for a parity
// sliver), so that the others go on at their pace; so do the members
// quorumFirst holds back. r must not change until PutFrom returned and,
// without WithWaitAll, Wait: nodes refuse slivers that do not match the
// commitment.
func (c *Client) PutFrom(ctx context.Context, r io.ReaderAt, size int64, opts ...PutOption) (blob.ID, *blob.Certificate, error) {
	pc, err := putOptions(opts)
	if err != nil {
		return blob.ID{}, nil, err
	}
	if size < 0 {
		return blob.ID{}, nil, fmt.Errorf("blob: put: negative size %d", size)
	}
	start := time.Now()
	n := c.com.N()
	se, err := blob.NewStripeEncoder(r, uint64(size), n, blob.StreamStripe)
	if err != nil {
		return blob.ID{}, nil, err
	}
	// One pass: the encoder hashes every stripe it produces, and the
	// commitment follows each sliver's bytes (opStoreTrailed).
	x := &blob.Slivers{Encoding: se.Encoding, Length: uint64(size)}
	b := newLeafBarrier(x)
	later := c.quorumFirst(pc, se.SliverSize)
	f := newStripeFeed(se, c.cfg.hedgeDelay, later, b)
	send := func(ctx context.Context, i int) (blob.Ack, error) {
		defer f.leave(i)
		return c.storeSliverTrailed(ctx, b, i, pc.lifetimeMs, false, func(w io.Writer) error { return f.send(w, i) })
	}
	id, cert, err := c.put(ctx, pc, x, start, int(size), later, send, f.close)
	if err != nil && f.err != nil {
		// The source failed (f.close waited for the encoder): that, not
		// the writes it starved, is the put's error.
		return blob.ID{}, nil, fmt.Errorf("blob: put: %w", f.err)
	}
	return id, cert, err
}

// stripeFeed is PutFrom's second pass: one goroutine encodes stripe after
// stripe straight into buffers of each member's writer (feedDepth of them
// a member, recycled) and queues them; member i's writer sends its queue to
// its stream. A member whose writer has no free buffer for the lag limit is
// detached: its queue is closed and its writer encodes the rest itself.
type stripeFeed struct {
	se    *blob.StripeEncoder
	b     *leafBarrier      // gets every sliver's leaf once all stripes are hashed
	hs    []blob.LeafHasher // one a sliver, fed by the encoder
	stop  chan struct{}     // closed by close: nobody needs the commitment any more
	n     int
	lag   time.Duration
	bufs  []byte        // n * feedDepth stripe buffers, then n of scratch
	free  []chan []byte // member i's free buffers
	queue []chan []byte // member i's encoded stripes, in order
	gone  []chan struct{}
	// from[i] is the first stripe member i's writer encodes itself, or -1;
	// set before queue[i] is closed.
	from    []int
	err     error // the encoder's, set before the queues are closed
	leaveMu sync.Mutex
	left    []bool
	done    chan struct{} // closed when the encoder returned
}

// Members marked in later are detached from the start: their writers,
// started after the others (quorumFirst), encode their own stripes.
func newStripeFeed(se *blob.StripeEncoder, lag time.Duration, later []bool, b *leafBarrier) *stripeFeed {
	n, w := int(se.Encoding.N), se.Width
	f := &stripeFeed{se: se, b: b, hs: make([]blob.LeafHasher, n), stop: make(chan struct{}), n: n, lag: lag, bufs: blob.GetStripeBuf((feedDepth + 1) * n * w),
		free: make([]chan []byte, n), queue: make([]chan []byte, n), gone: make([]chan struct{}, n),
		from: make([]int, n), left: make([]bool, n), done: make(chan struct{})}
	pieces := blob.SplitBuf(f.bufs, (feedDepth+1)*n, w)
	for i := range n {
		f.free[i] = make(chan []byte, feedDepth)
		f.queue[i] = make(chan []byte, feedDepth)
		f.gone[i] = make(chan struct{})
		f.from[i] = -1
		for d := range feedDepth {
			f.free[i] <- pieces[i*feedDepth+d]
		}
	}
	attached := make([]bool, n)
	for i := range n {
		f.hs[i] = blob.NewLeafHasher()
		attached[i] = later == nil || !later[i]
		if !attached[i] {
			f.from[i] = 0
			close(f.queue[i])
		}
	}
	go f.run(pieces[n*feedDepth:], attached)
	return f
}

// run encodes every stripe and queues member i's piece to its writer while
// it is attached (attached: at the start). scratch holds the pieces of
// detached members.
func (f *stripeFeed) run(scratch [][]byte, attached []bool) {
	defer close(f.done)
	defer func() {
		for i, a := range attached {
			if a {
				close(f.queue[i])
			}
		}
	}()
	timer := time.NewTimer(f.lag)
	defer timer.Stop()
	shards := make([][]byte, f.n)
	for j := range f.se.Stripes() {
		for i := range f.n {
			shards[i] = scratch[i]
			if !attached[i] {
				continue
			}
			select {
			case b := <-f.free[i]:
				shards[i] = b
				continue
			case <-f.gone[i]:
				attached[i] = false
				close(f.queue[i])
				continue
			default:
			}
			timer.Reset(f.lag)
			select {
			case b := <-f.free[i]:
				shards[i] = b
			case <-f.gone[i]:
				attached[i] = false
				close(f.queue[i])
			case <-timer.C:
				attached[i] = false
				f.from[i] = j
				close(f.queue[i])
			}
		}
		// With every writer gone or detached the stripes are still
		// encoded and hashed: detached writers need the commitment.
		select {
		case <-f.stop:
			f.b.fail(errPutStopped)
			return
		default:
		}
		if err := f.se.EncodeStripe(j, shards); err != nil {
			f.err = err
			f.b.fail(err)
			return
		}
		blob.WriteParallel(f.hs, shards)
		for i := range f.n {
			if attached[i] {
				f.queue[i] <- shards[i]
			}
		}
	}
	for i, h := range f.hs {
		var leaf blob.Hash
		h.Sum(leaf[:0])
		f.b.set(i, leaf)
	}
}

// errPutStopped ends the encoder of a put whose writers all returned.
var errPutStopped = errors.New("blob: put stopped")

// send writes member i's sliver to w: the queued stripes, then, when
// detached, the rest encoded here.
func (f *stripeFeed) send(w io.Writer, i int) error {
	for b := range f.queue[i] {
		_, err := w.Write(b)
		f.free[i] <- b[:cap(b)]
		if err != nil {
			return err
		}
	}
	// The queue is closed: f.from[i] was set before, and so was f.err
	// when the encoder stopped.
	if j := f.from[i]; j >= 0 {
		return f.sendRest(w, i, j)
	}
	return f.err
}

// sendRest writes stripes from j on of member i's sliver to w, reading the
// data (and for a parity sliver encoding it) here.
func (f *stripeFeed) sendRest(w io.Writer, i, j int) error {
	return writeSliverFrom(w, f.se, i, j)
}

// writeSliverFrom writes stripes from j on of sliver i of se's blob to w,
// reading the data from se's reader (and for a parity sliver encoding it),
// in O(n * stripe) bytes.
func writeSliverFrom(w io.Writer, se *blob.StripeEncoder, i, j int) error {
	k, width, n := int(se.Encoding.K), se.Width, int(se.Encoding.N)
	count := 1
	if i >= k {
		count = n
	}
	buf := blob.GetStripeBuf(count * width)
	defer blob.PutStripeBuf(buf)
	shards := blob.SplitBuf(buf, count, width)
	for ; j < se.Stripes(); j++ {
		var piece []byte
		if i < k {
			off, end := se.Bounds(j)
			piece = shards[0][:end-off]
			if err := se.ReadData(i, off, piece); err != nil {
				return err
			}
		} else {
			if err := se.EncodeStripe(j, shards); err != nil {
				return err
			}
			piece = shards[i]
		}
		if _, err := w.Write(piece); err != nil {
			return err
		}
	}
	return nil
}

// leave records that member i's writer has returned (or never started).
func (f *stripeFeed) leave(i int) {
	f.leaveMu.Lock()
	defer f.leaveMu.Unlock()
	if !f.left[i] {
		f.left[i] = true
		close(f.gone[i])
	}
}

// close waits for the encoder, once every writer left, and recycles the
// buffers.
func (f *stripeFeed) close() {
	for i := range f.n {
		f.leave(i)
	}
	close(f.stop)
	<-f.done
	blob.PutStripeBuf(f.bufs)
}
