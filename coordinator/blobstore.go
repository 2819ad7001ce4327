package coordinator

import (
	"context"
	"fmt"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/ledger"
)

// BlobStore adapts a blob.Client to Store.
type BlobStore struct {
	Client *blob.Client
	// WaitAll makes every put wait for all nodes, so certificates are the same
	// on every run (simulations).
	WaitAll bool
}

// Put stores data with an optional lifetime and returns the certificate's CBOR.
func (b BlobStore) Put(ctx context.Context, data []byte, lifetime time.Duration) (ledger.BlobID, []byte, error) {
	var opts []blob.PutOption
	if lifetime > 0 {
		opts = append(opts, blob.WithLifetime(lifetime))
	}
	if b.WaitAll {
		opts = append(opts, blob.WithWaitAll())
	}
	id, cert, err := b.Client.Put(ctx, data, opts...)
	if err != nil {
		return ledger.BlobID{}, nil, err
	}
	cb, err := cert.Marshal()
	return ledger.BlobID(id), cb, err
}

// Get reads a blob.
func (b BlobStore) Get(ctx context.Context, id ledger.BlobID) ([]byte, error) {
	return b.Client.Get(ctx, blob.ID(id))
}

// VerifyCert checks that cert certifies id on the client's committee.
func (b BlobStore) VerifyCert(id ledger.BlobID, cert []byte) error {
	return VerifyCert(b.Client.Committee(), id, cert)
}

// VerifyCert checks that cert (CBOR of blob.Certificate) certifies id on com.
func VerifyCert(com blob.Committee, id ledger.BlobID, cert []byte) error {
	c, err := blob.ParseCertificate(cert)
	if err != nil {
		return err
	}
	if ledger.BlobID(c.ID) != id {
		return fmt.Errorf("coordinator: certificate is for another blob")
	}
	return c.Verify(com)
}
