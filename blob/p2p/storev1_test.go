package p2p

import (
	"context"
	"fmt"
	"io"

	"github.com/floe-fl/floe/blob"
)

// The store protocol's first form (opStore: the commitment before the
// sliver's bytes), as clients before opStoreTrailed sent it: nodes still
// accept it, and tests use it to store slivers of their own making.

func (c *Client) storeSliver(ctx context.Context, x *blob.Slivers, i int, lifetimeMs uint64) (blob.Ack, error) {
	return c.storeSliverFrom(ctx, x, i, lifetimeMs, func(w io.Writer) error {
		_, err := w.Write(x.Data[i])
		return err
	})
}

// storeSliverFrom stores sliver i of x (whose Data may be nil) on member i,
// its bytes written to the stream by body after the request header.
func (c *Client) storeSliverFrom(ctx context.Context, x *blob.Slivers, i int, lifetimeMs uint64, body func(io.Writer) error) (blob.Ack, error) {
	req := request{Op: opStore, ID: x.ID, Index: uint32(i), Store: &storeHeader{
		Enc: x.Encoding, Length: x.Length, Root: x.Root, Proof: x.Proofs[i], LifetimeMs: lifetimeMs,
	}}
	return c.storeExchange(ctx, x, i, lifetimeMs, func(s io.Writer) error {
		if err := writeMsg(s, req); err != nil {
			return err
		}
		if err := body(s); err != nil {
			return fmt.Errorf("send sliver: %w", err)
		}
		return nil
	})
}
