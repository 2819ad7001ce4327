package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/codec"
)

// leafBarrier collects the n leaf hashes of a put's slivers as they are
// computed (by the writers while they send, or by the encoder), and once
// all are in sets the blob's commitment (Slivers.SetLeaves) and releases
// the writers waiting to send their trailers (opStoreTrailed). The
// commitment is set before any trailer is sent, so before any ack is
// checked against the ID.
type leafBarrier struct {
	x       *blob.Slivers
	mu      sync.Mutex
	leaves  []blob.Hash
	have    []bool
	missing int
	err     error
	done    chan struct{}
	hashers sync.WaitGroup // goroutines hashing slivers for set
}

func newLeafBarrier(x *blob.Slivers) *leafBarrier {
	n := int(x.Encoding.N)
	return &leafBarrier{x: x, leaves: make([]blob.Hash, n), have: make([]bool, n), missing: n, done: make(chan struct{})}
}

// set records sliver i's leaf; the first record of each sliver counts.
func (b *leafBarrier) set(i int, h blob.Hash) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.have[i] || b.err != nil {
		return
	}
	b.have[i], b.leaves[i] = true, h
	if b.missing--; b.missing == 0 {
		b.x.SetLeaves(b.leaves)
		close(b.done)
	}
}

// has reports whether sliver i's leaf is recorded.
func (b *leafBarrier) has(i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.have[i]
}

// hashLater records sliver i's leaf, hashing it on a goroutine of its own
// (which wait for via b.hashers).
func (b *leafBarrier) hashLater(i int, sliver []byte) {
	b.hashers.Add(1)
	go func() {
		defer b.hashers.Done()
		b.set(i, leafOf(sliver))
	}()
}

// fail releases the waiting writers with err: the commitment will not be
// known (the encoder could not read the blob).
func (b *leafBarrier) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.missing > 0 && b.err == nil {
		b.err = err
		close(b.done)
	}
}

// wait waits until the commitment is set (nil) or cannot be (an error).
func (b *leafBarrier) wait(ctx context.Context) error {
	select {
	case <-b.done:
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leafOf returns a sliver's leaf hash.
func leafOf(sliver []byte) blob.Hash {
	h := blob.NewLeafHasher()
	h.Write(sliver)
	var out blob.Hash
	h.Sum(out[:0])
	return out
}

// hashingWriter writes to w and to h.
type hashingWriter struct {
	w io.Writer
	h blob.LeafHasher
}

func (hw hashingWriter) Write(p []byte) (int, error) {
	hw.h.Write(p)
	return hw.w.Write(p)
}

// storeSliverTrailed stores sliver i on member i with opStoreTrailed: the
// request, the sliver bytes (written by body), and, once b has the blob's
// commitment, the trailer with the root and the sliver's proof. With hash
// set it hashes the bytes body writes and records the leaf in b; else b
// gets it elsewhere.
func (c *Client) storeSliverTrailed(ctx context.Context, b *leafBarrier, i int, lifetimeMs uint64, hash bool, body func(io.Writer) error) (blob.Ack, error) {
	x := b.x
	req := request{Op: opStoreTrailed, Index: uint32(i), Store: &storeHeader{Enc: x.Encoding, Length: x.Length, LifetimeMs: lifetimeMs}}
	return c.storeExchange(ctx, x, i, lifetimeMs, func(s io.Writer) error {
		if err := writeMsg(s, req); err != nil {
			return err
		}
		w := s
		var h blob.LeafHasher
		if hash {
			h = blob.NewLeafHasher()
			w = hashingWriter{w: s, h: h}
		}
		if err := body(w); err != nil {
			return fmt.Errorf("send sliver: %w", err)
		}
		if hash {
			var leaf blob.Hash
			h.Sum(leaf[:0])
			b.set(i, leaf)
		}
		if err := b.wait(ctx); err != nil {
			return fmt.Errorf("blob commitment: %w", err)
		}
		if err := writeMsg(s, storeTrailer{Root: x.Root, Proof: x.Proofs[i]}); err != nil {
			return fmt.Errorf("send trailer: %w", err)
		}
		return nil
	})
}

// storeExchange opens a store stream to member i, lets send write the
// request and what follows it, reads the node's answer and checks its
// acknowledgement against x's ID (read once send returned: a trailed store
// learns it while sending).
func (c *Client) storeExchange(ctx context.Context, x *blob.Slivers, i int, lifetimeMs uint64, send func(io.Writer) error) (blob.Ack, error) {
	ctx, cancel := context.WithTimeout(ctx, c.nodeTimeout(x.Encoding.SliverSize(x.Length)))
	defer cancel()
	s, stop, err := c.openStream(ctx, i)
	if err != nil {
		return blob.Ack{}, err
	}
	defer stop()
	var rep storeReply
	err = func() error {
		if err := send(s); err != nil {
			return err
		}
		if err := s.CloseWrite(); err != nil {
			return fmt.Errorf("close write: %w", err)
		}
		return codec.ReadMsg(s, replyLimit, &rep)
	}()
	if err != nil {
		_ = s.Reset()
		if ctx.Err() != nil {
			return blob.Ack{}, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return blob.Ack{}, err
	}
	_ = s.Close()
	if rep.Err != "" {
		return blob.Ack{}, fmt.Errorf("refused: %s", rep.Err)
	}
	if rep.Ack == nil {
		return blob.Ack{}, errors.New("reply without ack")
	}
	if rep.Ack.Index != uint32(i) {
		return blob.Ack{}, fmt.Errorf("ack for index %d, want %d", rep.Ack.Index, i)
	}
	if err := blob.VerifyAck(*rep.Ack, x.ID, lifetimeMs, c.com.Members[i].ID); err != nil {
		return blob.Ack{}, err
	}
	return *rep.Ack, nil
}
