package p2p

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/floe-fl/floe/blob"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/transport"
)

func TestPutGet64MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB put/get skipped in -short mode")
	}
	c := newCluster(t, 7)
	data := randBytes(64, 64<<20)
	ctx := ctxT(t)
	id, cert, err := c.client.Put(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.Verify(c.com); err != nil {
		t.Fatal(err)
	}
	got, err := c.client.Get(ctx, id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("64 MiB get: %v", err)
	}
}

// seededStream yields n pseudo-random bytes without holding them.
func seededStream(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

// sendStreamedSliver stores a sliver of size bytes, produced by a seeded
// stream, at index 0 of a blob on node 0 of c, without ever holding the
// sliver in memory: the other leaves are arbitrary hashes, which is all a
// node's check (proof to root, root to ID) depends on.
func sendStreamedSliver(ctx context.Context, t testing.TB, cl *Client, size int64) (blob.ID, error) {
	e, _ := blob.EncodingFor(cl.com.N())
	length := uint64(size) * uint64(e.K)
	leaves := make([]blob.Hash, e.N)
	h := blob.NewLeafHasher()
	if _, err := io.Copy(h.(io.Writer), seededStream(1, size)); err != nil {
		t.Fatal(err)
	}
	h.Sum(leaves[0][:0])
	for i := 1; i < len(leaves); i++ {
		leaves[i][0] = byte(i)
	}
	root, proofs := blob.MerkleProofs(leaves)
	id := blob.IDFor(e, length, root)
	s, stop, err := cl.openStream(ctx, 0)
	if err != nil {
		return id, err
	}
	defer stop()
	if err := codec.WriteMsg(s, request{Op: opStore, ID: id, Index: 0, Store: &storeHeader{Enc: e, Length: length, Root: root, Proof: proofs[0]}}); err != nil {
		return id, err
	}
	if _, err := transport.CopyBuffer(s, seededStream(1, size), copyBuf); err != nil {
		return id, err
	}
	s.CloseWrite()
	var rep storeReply
	if err := codec.ReadMsg(s, replyLimit, &rep); err != nil {
		return id, err
	}
	s.Close()
	if rep.Ack == nil {
		t.Fatalf("node refused the streamed sliver: %s", rep.Err)
	}
	return id, nil
}

// peakHeap samples the heap in use while fn runs and returns the peak
// growth above the level before fn.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapInuse)
	return peak - base
}

// TestStreamingMemoryBound sends a 128 MiB sliver to a node (client and
// node in this process) and checks the heap never grows by 64 MiB: the
// node streams to disk while hashing. floe bench blob shows the 256 MiB case.
func TestStreamingMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("128 MiB stream skipped in -short mode")
	}
	c := newCluster(t, 4)
	const size = 128 << 20
	ctx := ctxT(t)
	var id blob.ID
	var err error
	grow := peakHeap(func() { id, err = sendStreamedSliver(ctx, t, c.client, size) })
	if err != nil {
		t.Fatal(err)
	}
	if !c.nodes[0].Has(id, 0) {
		t.Fatal("node does not hold the streamed sliver")
	}
	t.Logf("heap growth while streaming a %d MiB sliver: %.1f MiB", size>>20, float64(grow)/(1<<20))
	if grow >= 64<<20 {
		t.Fatalf("heap grew by %.1f MiB while streaming %d MiB, bound is 64 MiB", float64(grow)/(1<<20), size>>20)
	}
}
