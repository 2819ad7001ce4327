package p2p

import (
	"context"
	"io"
	"time"

	"github.com/floe-fl/floe/blob"
)

// Store adapts a Client to blob.Store: the coordinator, participants and
// auditors use floe's own committee through it.
type Store struct {
	Client *Client
	// WaitAll makes every put wait for all nodes, so certificates are the same
	// on every run (simulations).
	WaitAll bool
}

var _ blob.Store = Store{}

// Put stores data for lifetime (0: forever; otherwise at least 1ms) and
// returns the blob ID and the certificate's CBOR.
func (s Store) Put(ctx context.Context, data []byte, lifetime time.Duration) ([32]byte, []byte, error) {
	id, cert, err := s.Client.Put(ctx, data, s.putOptions(lifetime)...)
	if err != nil {
		return [32]byte{}, nil, err
	}
	cb, err := cert.Marshal()
	return id, cb, err
}

var _ blob.ReaderAtPutter = Store{}

// PutFrom stores the size bytes of r for lifetime, with memory bounded
// independently of size (Client.PutFrom).
func (s Store) PutFrom(ctx context.Context, r io.ReaderAt, size int64, lifetime time.Duration) ([32]byte, []byte, error) {
	id, cert, err := s.Client.PutFrom(ctx, r, size, s.putOptions(lifetime)...)
	if err != nil {
		return [32]byte{}, nil, err
	}
	cb, err := cert.Marshal()
	return id, cb, err
}

func (s Store) putOptions(lifetime time.Duration) []PutOption {
	var opts []PutOption
	if lifetime != 0 {
		opts = append(opts, WithLifetime(lifetime))
	}
	if s.WaitAll {
		opts = append(opts, WithWaitAll())
	}
	return opts
}

// Get reads a blob.
func (s Store) Get(ctx context.Context, id [32]byte) ([]byte, error) {
	return s.Client.Get(ctx, blob.ID(id))
}

// Committee returns the client's committee, which certificates verify
// against.
func (s Store) Committee() blob.Committee { return s.Client.Committee() }

// VerifyCert checks that cert certifies id on the client's committee.
func (s Store) VerifyCert(id [32]byte, cert []byte) error {
	return blob.VerifyCert(s.Client.Committee(), id, cert)
}
