package p2p

import (
	"bytes"
	"fmt"
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
