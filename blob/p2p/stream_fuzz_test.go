package p2p

import (
	"bytes"
	"errors"
	"testing"

	"github.com/floe-fl/floe/blob"
)

// FuzzStripeDecode checks GetTo's stripe-by-stripe decoder (the bytes of
// slivers as members serve them, written out, then rebuilt and checked
// against the root) against blob.DecodeVerified, the whole-blob decoder:
// for any blob, committee size, choice of k received slivers, stripe width
// and one altered byte (slivers recommitted, so they verify against the ID
// but may not form the committed codeword), both return the same bytes or
// both ErrInconsistentEncoding.
func FuzzStripeDecode(f *testing.F) {
	f.Add([]byte("hello stripes"), byte(4), uint16(0), uint32(0), byte(0), uint16(3))
	f.Add(bytes.Repeat([]byte{7}, 1000), byte(7), uint16(0b101), uint32(0), byte(0), uint16(64))
	f.Add(bytes.Repeat([]byte{1, 2, 3}, 333), byte(10), uint16(0b11), uint32(5000), byte(9), uint16(17))
	f.Add([]byte{}, byte(4), uint16(1), uint32(0), byte(0), uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, nb byte, missing uint16, flipAt uint32, flipXor byte, width uint16) {
		if len(data) > 8<<10 {
			return
		}
		n := 1 + int(nb)%10
		x, err := blob.Encode(data, n)
		if err != nil {
			t.Fatal(err)
		}
		n, k, ss := int(x.Encoding.N), int(x.Encoding.K), len(x.Data[0])
		if flipXor != 0 {
			at := int(flipAt) % (n * ss)
			x.Data[at/ss][at%ss] ^= flipXor
			x = blob.Commit(x.Encoding, x.Length, x.Data)
		}
		// The first k members whose bit in missing is clear, then others.
		present := make([]bool, n)
		count := 0
		for _, want := range []bool{false, true} {
			for i := 0; i < n && count < k; i++ {
				if !present[i] && (missing>>(i%16)&1 == 1) == want {
					present[i] = true
					count++
				}
			}
		}
		use := make([][]byte, n)
		for i := range n {
			if present[i] {
				use[i] = bytes.Clone(x.Data[i])
			}
		}
		want, wantErr := blob.DecodeVerified(x.Encoding, x.Length, x.Root, use, x.Leaves, nil)

		out, spill := &memFile{}, &memFile{}
		// At most 64 stripes and 64 writes a sliver, so inputs stay fast.
		chunk := max(1+int(width)%7, ss/64)
		g := &streamGet{n: n, k: k, w: out, width: max(1+int(width)%(2*ss), ss/64),
			newSpill: func() (ReadWriterAt, func(), error) { return spill, func() {}, nil }}
		if err := g.setup(x.Length, uint64(ss)); err != nil {
			t.Fatal(err)
		}
		gt := gathered{valid: present, leaves: make([]blob.Hash, n), first: &fetchHeader{Root: x.Root}}
		for i := range n {
			if !present[i] {
				continue
			}
			gt.leaves[i] = x.Leaves[i]
			sw := &sliverWriter{g: g, i: i}
			for off := 0; off < ss; off += chunk {
				if _, err := sw.Write(x.Data[i][off:min(ss, off+chunk)]); err != nil {
					t.Fatal(err)
				}
			}
		}
		err = g.finish(&gt)
		switch {
		case wantErr == nil && err != nil:
			t.Fatalf("stripe decode: %v; whole-blob decode succeeded", err)
		case errors.Is(wantErr, blob.ErrInconsistentEncoding) && !errors.Is(err, blob.ErrInconsistentEncoding):
			t.Fatalf("stripe decode: %v; whole-blob decode: %v", err, wantErr)
		case wantErr == nil && !bytes.Equal(out.b, want):
			t.Fatalf("stripe decode wrote %d bytes that differ from the blob's %d", len(out.b), len(want))
		case wantErr != nil && !errors.Is(wantErr, blob.ErrInconsistentEncoding):
			t.Fatalf("whole-blob decode: %v", wantErr)
		}
	})
}
