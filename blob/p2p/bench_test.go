package p2p

import (
	"context"
	"testing"
)

// BenchmarkPutGet64MiB measures put and get of a 64 MiB blob on a 7-node
// loopback committee (go test -bench PutGet -benchtime 5x ./blob).
// floe bench blob reports the same figures beside their baselines.
func BenchmarkPutGet64MiB(b *testing.B) {
	c := newClusterTB(b, 7)
	data := randBytes(1, 64<<20)
	ctx := context.Background()
	id, _, err := c.client.Put(ctx, data, WithWaitAll())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("put", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := c.client.Put(ctx, data); err != nil {
				b.Fatal(err)
			}
			c.client.Wait()
		}
	})
	b.Run("get", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.client.Get(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}
