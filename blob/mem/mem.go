package mem

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/clock"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

type config struct {
	n     int
	seed  uint64
	clock clock.Clock
}

// Option configures New.
type Option func(*config) error

// WithCommitteeSize sets the number of members, 1..blob.MaxCommittee
// (default 4): it fixes the blob IDs and how many acks a certificate holds.
func WithCommitteeSize(n int) Option {
	return func(c *config) error {
		if n < 1 || n > blob.MaxCommittee {
			return fmt.Errorf("mem: committee size %d, want 1..%d", n, blob.MaxCommittee)
		}
		c.n = n
		return nil
	}
}

// WithSeed sets the seed the members' keys derive from (default 1).
func WithSeed(seed uint64) Option {
	return func(c *config) error { c.seed = seed; return nil }
}

// WithClock sets the clock lifetimes are measured by (default clock.Real).
func WithClock(clk clock.Clock) Option {
	return func(c *config) error {
		if clk == nil {
			return fmt.Errorf("mem: nil clock")
		}
		c.clock = clk
		return nil
	}
}

// Store is an in-memory blob.Store with real IDs and certificates.
type Store struct {
	n     int
	com   blob.Committee
	keys  []crypto.PrivKey
	clock clock.Clock

	mu    sync.Mutex // guards the following
	blobs map[blob.ID]entry
}

type entry struct {
	data      []byte
	expiresAt time.Time // zero: never
}

var _ blob.Store = (*Store)(nil)

// New returns an empty store.
func New(opts ...Option) (*Store, error) {
	cfg := config{n: 4, seed: 1, clock: clock.Real{}}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Store{n: cfg.n, clock: cfg.clock, blobs: map[blob.ID]entry{}}
	for i := range cfg.n {
		// Member i's key: the Ed25519 key whose seed is (seed, i) little-endian.
		var seed [ed25519.SeedSize]byte
		binary.LittleEndian.PutUint64(seed[0:], cfg.seed)
		binary.LittleEndian.PutUint64(seed[8:], uint64(i))
		k, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
		if err != nil {
			return nil, fmt.Errorf("mem: member key: %w", err)
		}
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("mem: member key: %w", err)
		}
		s.keys = append(s.keys, k)
		s.com.Members = append(s.com.Members, peer.AddrInfo{ID: id})
	}
	if err := s.com.Validate(); err != nil {
		return nil, fmt.Errorf("mem: %w", err)
	}
	return s, nil
}

// Committee returns the store's committee, which its certificates verify
// against. The caller must not modify it.
func (s *Store) Committee() blob.Committee { return s.com }

// Put stores a copy of data for lifetime (0: forever; otherwise at least
// 1ms) and returns its blob ID and certificate.
func (s *Store) Put(ctx context.Context, data []byte, lifetime time.Duration) ([32]byte, []byte, error) {
	if err := ctx.Err(); err != nil {
		return [32]byte{}, nil, err
	}
	if lifetime != 0 && lifetime < time.Millisecond {
		return [32]byte{}, nil, fmt.Errorf("mem: lifetime %v below 1ms", lifetime)
	}
	id, err := blob.ComputeID(data, s.n)
	if err != nil {
		return [32]byte{}, nil, err
	}
	lifetimeMs := uint64(lifetime / time.Millisecond)
	cert := blob.Certificate{ID: id, LifetimeMs: lifetimeMs}
	for i, k := range s.keys {
		a, err := blob.SignAck(k, id, uint32(i), s.com.Members[i].ID, lifetimeMs)
		if err != nil {
			return [32]byte{}, nil, err
		}
		cert.Acks = append(cert.Acks, a)
	}
	sort.Slice(cert.Acks, func(i, j int) bool { return cert.Acks[i].Index < cert.Acks[j].Index })
	cb, err := cert.Marshal()
	if err != nil {
		return [32]byte{}, nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	e := entry{}
	if lifetime > 0 {
		e.expiresAt = now.Add(time.Duration(lifetimeMs) * time.Millisecond)
	}
	if old, ok := s.blobs[id]; ok {
		e.data = old.data // same ID, same bytes
		if old.expiresAt.IsZero() || e.expiresAt.IsZero() {
			e.expiresAt = time.Time{}
		} else if old.expiresAt.After(e.expiresAt) {
			e.expiresAt = old.expiresAt
		}
	} else {
		e.data = append([]byte{}, data...)
	}
	s.blobs[id] = e
	return id, cb, nil
}

// Get returns a copy of the blob's bytes.
func (s *Store) Get(ctx context.Context, id [32]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.blobs[id]
	if ok && expired(e, s.clock.Now()) {
		delete(s.blobs, id)
		ok = false
	}
	if !ok {
		return nil, fmt.Errorf("mem: blob %s: %w", blob.ID(id), blob.ErrNotEnoughSlivers)
	}
	if max, ok := blob.MaxLength(ctx); ok && uint64(len(e.data)) > max {
		return nil, &blob.TooLargeError{ID: id, Length: uint64(len(e.data)), Max: max}
	}
	if buf := blob.TakeBuffer(ctx); cap(buf) >= len(e.data) && len(e.data) > 0 {
		return buf[:copy(buf[:len(e.data)], e.data)], nil
	}
	return append([]byte{}, e.data...), nil
}

// VerifyCert checks that cert certifies id on the store's committee.
func (s *Store) VerifyCert(id [32]byte, cert []byte) error {
	return blob.VerifyCert(s.com, id, cert)
}

// Len reports how many blobs the store holds, expired ones not counted.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.collectLocked(s.clock.Now())
	return len(s.blobs)
}

// collectLocked drops the blobs expired at now.
func (s *Store) collectLocked(now time.Time) {
	for id, e := range s.blobs {
		if expired(e, now) {
			delete(s.blobs, id)
		}
	}
}

func expired(e entry, now time.Time) bool {
	return !e.expiresAt.IsZero() && !now.Before(e.expiresAt)
}
