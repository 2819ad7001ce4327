package p2p

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/floe-fl/floe/blob"
)

func TestPutGetSizes(t *testing.T) {
	for _, n := range []int{4, 7, 10} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			c := newCluster(t, n)
			k := c.com.K()
			ss := 1000
			sizes := []int{0, 1, k*ss - 1, k * ss, k*ss + 1}
			for _, size := range sizes {
				data := randBytes(uint64(size), size)
				ctx := ctxT(t)
				id, cert, err := c.client.Put(ctx, data)
				if err != nil {
					t.Fatalf("size %d: put: %v", size, err)
				}
				want, err := blob.ComputeID(data, n)
				if err != nil || want != id {
					t.Fatalf("size %d: ID %s, ComputeID %s (%v)", size, id, want, err)
				}
				if err := cert.Verify(c.com); err != nil {
					t.Fatalf("size %d: certificate: %v", size, err)
				}
				got, err := c.client.Get(ctx, id)
				if err != nil {
					t.Fatalf("size %d: get: %v", size, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("size %d: got %d bytes back, differ", size, len(got))
				}
			}
		})
	}
}

// TestGetIntoBuffer: a Get offered a buffer (blob.WithBuffer) large enough
// returns the blob in it, even when the buffer holds stale bytes and a data
// sliver must be rebuilt from parity; a buffer too small is left alone.
func TestGetIntoBuffer(t *testing.T) {
	c := newCluster(t, 4)
	ctx := ctxT(t)
	data := randBytes(21, 30_001)
	id, _, err := c.client.Put(ctx, data, WithWaitAll())
	if err != nil {
		t.Fatal(err)
	}
	stale := func(n int) []byte { return bytes.Repeat([]byte{0xAA}, n) }
	get := func(buf []byte) []byte {
		t.Helper()
		got, err := c.client.Get(blob.WithBuffer(ctx, buf), id)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get into a buffer of %d bytes: %v", cap(buf), err)
		}
		return got
	}
	buf := stale(64 << 10)
	if got := get(buf); &got[0] != &buf[0] {
		t.Fatal("the blob is not in the buffer offered")
	}
	small := stale(100)
	if got := get(small); &got[0] == &small[0] || !bytes.Equal(small, stale(100)) {
		t.Fatal("a buffer too small was used")
	}
	// Data sliver 0 corrupted: rebuilt from parity into the stale buffer.
	p := c.sliverFile(0, id)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[bodyOffset(t, p)+7] ^= 1
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	buf = stale(64 << 10)
	if got := get(buf); &got[0] != &buf[0] {
		t.Fatal("the rebuilt blob is not in the buffer offered")
	}
}
