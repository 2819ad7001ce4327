package ledger

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// FuzzDecodeLoose checks that the lenient parse a lenient walk uses to
// follow invalid records never panics, accepts only commitment records, and
// agrees with Decode on every record Decode accepts.
func FuzzDecodeLoose(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		sc := decodeLoose(b)
		if sc != nil && b[0] != KindCommitment {
			t.Fatalf("parsed a record of kind 0x%02x as a commitment", b[0])
		}
		_, strict, err := Decode(b)
		if err != nil || strict == nil {
			return
		}
		if sc == nil {
			t.Fatal("Decode accepts a commitment the lenient parse rejects")
		}
		if !reflect.DeepEqual(sc, strict) {
			t.Fatalf("lenient and strict parses differ:\n%+v\n%+v", sc, strict)
		}
	})
}

// TestWalkBackStops: a loop, an unreadable record and an unparsable one
// stop the walk with a *WalkError naming how far behind the head it was.
func TestWalkBackStops(t *testing.T) {
	blobs := map[BlobID][]byte{}
	get := func(_ context.Context, id BlobID) ([]byte, error) {
		b, ok := blobs[id]
		if !ok {
			return nil, fmt.Errorf("no blob %x", id[:4])
		}
		return b, nil
	}
	put := func(c Commitment) BlobID {
		c.Version = Version
		rec, err := EncodeCommitment(&SignedCommitment{C: c, Sig: []byte{1}})
		if err != nil {
			t.Fatal(err)
		}
		id := BlobID(Sum(rec))
		blobs[id] = rec
		return id
	}
	a := BlobID{1}
	b := put(Commitment{Round: 2, Prev: a})
	blobs[a] = nil // unparsable
	for _, tc := range []struct {
		name  string
		head  BlobID
		depth int
		is    error
	}{
		{"unreadable head", BlobID{9}, 0, ErrUnreadable},
		{"unparsable record behind the head", b, 1, ErrCorruption},
	} {
		_, err := WalkBack(context.Background(), get, tc.head, true)
		var we *WalkError
		if !errors.As(err, &we) || we.Depth != tc.depth || !errors.Is(err, tc.is) {
			t.Errorf("%s: %v, want a WalkError at depth %d wrapping %v", tc.name, err, tc.depth, tc.is)
		}
	}
	// A loop: x names y, y names x.
	var x, y BlobID
	x = BlobID(Sum([]byte("x")))
	y = put(Commitment{Round: 1, Prev: x})
	rec, _ := EncodeCommitment(&SignedCommitment{C: Commitment{Version: Version, Round: 2, Prev: y}, Sig: []byte{1}})
	blobs[x] = rec
	links, err := WalkBack(context.Background(), get, x, false)
	var we *WalkError
	if !errors.As(err, &we) || !errors.Is(err, ErrChainLoop) || we.Depth != 2 || len(links) != 2 {
		t.Fatalf("loop: %d links, %v; want 2 links and ErrChainLoop at depth 2", len(links), err)
	}
}
