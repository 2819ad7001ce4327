package p2p

import (
	"bytes"
	"slices"
	"sync"
	"testing"

	"github.com/floe-fl/floe/blob"
)

// TestQuorumFirstMembers: puts of slivers of QuorumFirstMin bytes or more
// hold back the last f members' writes; smaller slivers and WithWaitAll
// start every write at once.
func TestQuorumFirstMembers(t *testing.T) {
	c := newCluster(t, 7)
	n, f := c.com.N(), c.com.F()
	later := c.client.quorumFirst(putConfig{}, QuorumFirstMin)
	if len(later) != n {
		t.Fatalf("quorumFirst: %v for %d members", later, n)
	}
	for i, l := range later {
		if l != (i >= n-f) {
			t.Fatalf("quorumFirst: %v, want the last %d of %d members held back", later, f, n)
		}
	}
	if got := c.client.quorumFirst(putConfig{}, QuorumFirstMin-1); got != nil {
		t.Fatalf("small slivers: %v, want none held back", got)
	}
	if got := c.client.quorumFirst(putConfig{waitAll: true}, QuorumFirstMin); got != nil {
		t.Fatalf("WithWaitAll: %v, want none held back", got)
	}
}

// TestQuorumFirst puts blobs whose slivers are large enough for quorumFirst,
// from memory (Put) and streamed (PutFrom), on 7 nodes: the first write to
// return is one of the first n-f members' (the last f start only after one
// did), the put returns with n-f acknowledgements, and after Wait every
// member holds a valid sliver and the blob reads back. With two of the
// first n-f members down, the put still gets its n-f acknowledgements:
// their failures start the held-back writes.
func TestQuorumFirst(t *testing.T) {
	c := newCluster(t, 7)
	ctx := ctxT(t)
	n, f := c.com.N(), c.com.F()
	k := n - 2*f
	data := randBytes(41, k*QuorumFirstMin+12345)
	for _, streamed := range []bool{false, true} {
		for _, down := range [][]int{nil, {0, 3}} {
			for _, i := range down {
				c.stop(i)
			}
			var mu sync.Mutex
			var order []int
			var failed []int
			record := WithNodeResults(func(e NodeError) {
				mu.Lock()
				defer mu.Unlock()
				order = append(order, e.Index)
				if e.Err != nil {
					failed = append(failed, e.Index)
				}
			})
			var (
				id   blob.ID
				cert *blob.Certificate
				err  error
			)
			if streamed {
				id, cert, err = c.client.PutFrom(ctx, bytes.NewReader(data), int64(len(data)), record)
			} else {
				id, cert, err = c.client.Put(ctx, data, record)
			}
			if err != nil {
				t.Fatalf("streamed %v, down %v: %v", streamed, down, err)
			}
			if len(cert.Acks) < n-f {
				t.Fatalf("streamed %v, down %v: %d acks, want %d", streamed, down, len(cert.Acks), n-f)
			}
			c.client.Wait()
			mu.Lock()
			if len(order) != n || order[0] >= n-f {
				t.Fatalf("streamed %v, down %v: writes returned in the order %v; the last %d must start after another returned", streamed, down, order, f)
			}
			slices.Sort(failed)
			if !slices.Equal(failed, down) {
				t.Fatalf("streamed %v, down %v: failed writes %v", streamed, down, failed)
			}
			mu.Unlock()
			for _, i := range down {
				c.start(i)
			}
			st, err := c.client.Stat(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range st {
				if s.State != SliverValid && !slices.Contains(down, i) {
					t.Fatalf("streamed %v, down %v: member %d: %v", streamed, down, i, s.State)
				}
			}
			got, err := c.client.Get(ctx, id)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("streamed %v, down %v: read back %d bytes, %v", streamed, down, len(got), err)
			}
		}
	}
}
