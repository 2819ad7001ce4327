package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/floe-fl/floe/blob"
)

// CommitteeStore is a Store on a committee, whose IDs are
// blob.ComputeID(data, Committee().N()) and whose certificates are
// blob.Certificates on that committee.
type CommitteeStore interface {
	blob.Store
	Committee() blob.Committee
}

// multiStripe is the size of the suite's multi-stripe blob.
const multiStripe = 4<<20 + 123

// Run runs the conformance suite against stores from newStore.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		for _, size := range []int{0, 1, 100, 64 << 10, multiStripe} {
			data := randBytes(uint64(size), size)
			id, cert := put(t, s, data, 0)
			checkID(t, s, data, id)
			checkCert(t, s, id, cert)
			got, err := s.Get(ctx(t), id)
			if err != nil {
				t.Fatalf("size %d: get: %v", size, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("size %d: get returned %d other bytes", size, len(got))
			}
		}
	})

	t.Run("MaxLength", func(t *testing.T) {
		s := newStore(t)
		data := randBytes(3, 100<<10)
		id, _ := put(t, s, data, 0)
		_, err := blob.GetAtMost(ctx(t), s, id, 50<<10)
		var tl *blob.TooLargeError
		if !errors.As(err, &tl) || tl.Length != uint64(len(data)) || tl.Max != 50<<10 {
			t.Fatalf("a %d-byte blob read with a limit of 50 KiB: %v, want a TooLargeError", len(data), err)
		}
		if got, err := blob.GetAtMost(ctx(t), s, id, uint64(len(data))); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("a blob read with a limit of its length: %v", err)
		}
	})

	t.Run("WithBuffer", func(t *testing.T) {
		// A Get offered a buffer (blob.WithBuffer), stale or too small,
		// returns the blob, and the blob it returns is the caller's: a
		// write to it changes nothing stored.
		s := newStore(t)
		data := randBytes(4, multiStripe)
		id, _ := put(t, s, data, 0)
		for _, n := range []int{0, 100, 2 * multiStripe} {
			buf := bytes.Repeat([]byte{0xAA}, n)
			got, err := s.Get(blob.WithBuffer(ctx(t), buf), id)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get with a buffer of %d bytes: %v", n, err)
			}
			clear(got)
			if again, err := s.Get(ctx(t), id); err != nil || !bytes.Equal(again, data) {
				t.Fatalf("a write to the blob Get returned (buffer of %d bytes) changed the stored blob: %v", n, err)
			}
		}
	})

	t.Run("SameBytesSameID", func(t *testing.T) {
		s := newStore(t)
		data := randBytes(1, 5000)
		id1, _ := put(t, s, data, 0)
		id2, _ := put(t, s, bytes.Clone(data), 0)
		if id1 != id2 {
			t.Fatal("equal bytes got different IDs")
		}
		other := bytes.Clone(data)
		other[17] ^= 1
		if id3, _ := put(t, s, other, 0); id3 == id1 {
			t.Fatal("different bytes got the same ID")
		}
	})

	t.Run("UnknownID", func(t *testing.T) {
		s := newStore(t)
		put(t, s, []byte("present"), 0)
		var id [32]byte
		for i := range id {
			id[i] = byte(i)
		}
		if b, err := s.Get(ctx(t), id); err == nil {
			t.Fatalf("get of an unknown ID returned %d bytes and no error", len(b))
		}
	})

	t.Run("Copies", func(t *testing.T) {
		s := newStore(t)
		data := randBytes(2, 3000)
		want := bytes.Clone(data)
		id, _ := put(t, s, data, 0)
		data[0] ^= 0xff // Put must not keep the caller's slice
		got, err := s.Get(ctx(t), id)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("get after the caller changed its slice: %v", err)
		}
		got[1] ^= 0xff // nor hand out its own
		again, err := s.Get(ctx(t), id)
		if err != nil || !bytes.Equal(again, want) {
			t.Fatalf("get after the caller changed a returned slice: %v", err)
		}
	})

	t.Run("Certificates", func(t *testing.T) {
		s := newStore(t)
		idA, certA := put(t, s, []byte("blob A"), 0)
		idB, certB := put(t, s, []byte("blob B"), 0)
		if err := s.VerifyCert(idA, certA); err != nil {
			t.Fatalf("certificate of A: %v", err)
		}
		if err := s.VerifyCert(idB, certB); err != nil {
			t.Fatalf("certificate of B: %v", err)
		}
		if s.VerifyCert(idA, certB) == nil || s.VerifyCert(idB, certA) == nil {
			t.Fatal("a certificate verified for another blob")
		}
		if s.VerifyCert(idA, nil) == nil || s.VerifyCert(idA, []byte{0xa0}) == nil {
			t.Fatal("an empty certificate verified")
		}
		if s.VerifyCert(idA, certA[:len(certA)-1]) == nil {
			t.Fatal("a truncated certificate verified")
		}
		for i := range certA {
			bad := bytes.Clone(certA)
			bad[i] ^= 0x01
			if s.VerifyCert(idA, bad) == nil {
				// Some flips leave an equal value (CBOR that is not
				// canonical is refused, so none should).
				t.Fatalf("certificate with bit 0 of byte %d of %d flipped verified", i, len(certA))
			}
		}
	})

	t.Run("Lifetimes", func(t *testing.T) {
		s := newStore(t)
		data := []byte("kept for an hour")
		id, cert := put(t, s, data, time.Hour)
		checkCert(t, s, id, cert)
		if got, err := s.Get(ctx(t), id); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get within the lifetime: %v", err)
		}
		for _, d := range []time.Duration{-time.Second, time.Nanosecond} {
			if _, _, err := s.Put(ctx(t), data, d); err == nil {
				t.Errorf("put with lifetime %v accepted", d)
			}
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		s := newStore(t)
		id, _ := put(t, s, []byte("x"), 0)
		c, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := s.Put(c, []byte("y"), 0); err == nil {
			t.Error("put with a cancelled context succeeded")
		}
		if _, err := s.Get(c, id); err == nil {
			t.Error("get with a cancelled context succeeded")
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		const workers, each = 8, 4
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range each {
					data := randBytes(uint64(1000+w*each+j), 1+(w*each+j)*997)
					id, cert, err := s.Put(ctx(t), data, 0)
					if err == nil {
						err = s.VerifyCert(id, cert)
					}
					var got []byte
					if err == nil {
						got, err = s.Get(ctx(t), id)
					}
					if err == nil && !bytes.Equal(got, data) {
						err = fmt.Errorf("worker %d blob %d: wrong bytes", w, j)
					}
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func put(t *testing.T, s blob.Store, data []byte, lifetime time.Duration) ([32]byte, []byte) {
	t.Helper()
	id, cert, err := s.Put(ctx(t), data, lifetime)
	if err != nil {
		t.Fatalf("put of %d bytes: %v", len(data), err)
	}
	return id, cert
}

// checkID requires a CommitteeStore's id to be blob.ComputeID of data.
func checkID(t *testing.T, s blob.Store, data []byte, id [32]byte) {
	t.Helper()
	cs, ok := s.(CommitteeStore)
	if !ok {
		return
	}
	want, err := blob.ComputeID(data, cs.Committee().N())
	if err != nil {
		t.Fatal(err)
	}
	if id != want {
		t.Fatalf("ID of %d bytes is %s, want ComputeID's %s", len(data), blob.ID(id), want)
	}
}

// checkCert requires cert to verify for id, by the store and, for a
// CommitteeStore, by blob.VerifyCert on its committee.
func checkCert(t *testing.T, s blob.Store, id [32]byte, cert []byte) {
	t.Helper()
	if err := s.VerifyCert(id, cert); err != nil {
		t.Fatalf("certificate of %s: %v", blob.ID(id), err)
	}
	if cs, ok := s.(CommitteeStore); ok {
		if err := blob.VerifyCert(cs.Committee(), id, cert); err != nil {
			t.Fatalf("certificate of %s on the committee: %v", blob.ID(id), err)
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// randBytes returns n seeded pseudo-random bytes.
func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
