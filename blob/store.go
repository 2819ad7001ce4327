package blob

import (
	"context"
	"errors"
	"time"
)

// ErrStopped reports a store that will not serve again: it was closed, or
// its process is going away. Callers stop instead of retrying.
var ErrStopped = errors.New("blob: store stopped")

// Store is the blob store as the coordinator, participants and auditors
// use it: floe's own committee (package blob/p2p), an in-memory store for
// tests (blob/mem), or another backend. An error that wraps ErrStopped
// means the store will not serve again.
type Store interface {
	// Put stores data, kept for lifetime (0: forever), and returns its ID
	// and availability certificate (CBOR).
	Put(ctx context.Context, data []byte, lifetime time.Duration) ([32]byte, []byte, error)
	// Get reads a blob.
	Get(ctx context.Context, id [32]byte) ([]byte, error)
	// VerifyCert checks a certificate for the blob id.
	VerifyCert(id [32]byte, cert []byte) error
}
