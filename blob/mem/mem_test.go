package mem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/blobtest"
	"github.com/floe-fl/floe/clock"
)

func TestConformance(t *testing.T) {
	for _, n := range []int{1, 4, 7} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			blobtest.Run(t, func(t *testing.T) blob.Store {
				s, err := New(WithCommitteeSize(n))
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}

func TestLifetime(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	s, err := New(WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	short, _, err := s.Put(ctx, []byte("short"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	forever, _, err := s.Put(ctx, []byte("forever"), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Put again with a longer lifetime: the longer one wins.
	longer, _, err := s.Put(ctx, []byte("longer"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Put(ctx, []byte("longer"), time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute - time.Millisecond)
	for _, id := range [][32]byte{short, forever, longer} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("blob %s gone before its lifetime: %v", blob.ID(id), err)
		}
	}
	clk.Advance(time.Millisecond)
	if _, err := s.Get(ctx, short); !errors.Is(err, blob.ErrNotEnoughSlivers) {
		t.Fatalf("expired blob: got %v, want ErrNotEnoughSlivers", err)
	}
	for _, id := range [][32]byte{forever, longer} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("blob %s expired early: %v", blob.ID(id), err)
		}
	}
	if n := s.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	clk.Advance(time.Hour)
	if n := s.Len(); n != 1 {
		t.Fatalf("Len = %d after an hour, want 1", n)
	}
}

// TestDeterministic checks that equal options give equal certificates and
// other seeds other committees.
func TestDeterministic(t *testing.T) {
	ctx := context.Background()
	certOf := func(seed uint64) ([]byte, blob.Committee) {
		s, err := New(WithSeed(seed), WithCommitteeSize(5))
		if err != nil {
			t.Fatal(err)
		}
		_, cert, err := s.Put(ctx, []byte("same"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return cert, s.Committee()
	}
	a, comA := certOf(3)
	b, _ := certOf(3)
	c, _ := certOf(4)
	if !bytes.Equal(a, b) {
		t.Fatal("equal options gave different certificates")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same certificate")
	}
	id, _ := blob.ComputeID([]byte("same"), 5)
	if err := blob.VerifyCert(comA, id, c); err == nil {
		t.Fatal("a certificate from another committee verified")
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Option{WithCommitteeSize(0), WithCommitteeSize(blob.MaxCommittee + 1), WithClock(nil)} {
		if _, err := New(o); err == nil {
			t.Error("bad option accepted")
		}
	}
}
