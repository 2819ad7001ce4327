package blob

import (
	"math/rand/v2"
	"testing"

	"github.com/zeebo/blake3"
)

// TestHasherMatchesBLAKE3 compares hasher's digests with zeebo/blake3's for
// sizes around every chunk, group and tree boundary, written whole, in
// pieces of many sizes, and after a one-byte prefix (as leaves are).
func TestHasherMatchesBLAKE3(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 70*simdBytes+3000)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	var sizes []int
	for _, base := range []int{0, 1024, simdBytes, 2 * simdBytes, 3 * simdBytes, 16 * simdBytes, 64 * simdBytes} {
		for _, d := range []int{-1025, -1024, -1, 0, 1, 1023, 1024, 1025} {
			if s := base + d; s >= 0 {
				sizes = append(sizes, s)
			}
		}
	}
	sizes = append(sizes, 5*simdBytes+777, 37*simdBytes+1)
	for _, size := range sizes {
		want := blake3.Sum256(data[:size])
		for _, piece := range []int{size + 1, 1, 63, 1024, 1025, simdBytes - 1, simdBytes, simdBytes + 1, 3*simdBytes + 5, 1 << 20} {
			if piece == 1 && size > 3*simdBytes {
				continue // slow and adds nothing
			}
			h := newHasher()
			for off := 0; off < size; off += piece {
				h.Write(data[off:min(off+piece, size)])
			}
			if got := h.Sum(nil); string(got) != string(want[:]) {
				t.Fatalf("%d bytes in pieces of %d: %x, want %x", size, piece, got, want)
			}
		}
		// A prefix byte, then the rest in 1 MiB pieces: a leaf's pattern.
		h := newHasher()
		h.Write(data[:min(1, size)])
		for off := min(1, size); off < size; off += 1 << 20 {
			h.Write(data[off:min(off+1<<20, size)])
		}
		if got := h.Sum(nil); string(got) != string(want[:]) {
			t.Fatalf("%d bytes after a one-byte write: %x, want %x", size, got, want)
		}
	}
}

// BenchmarkLeafHash compares hasher with zeebo/blake3 on a 16 MiB sliver
// after the leaf's one-byte prefix, in 1 MiB writes, on one goroutine.
func BenchmarkLeafHash(b *testing.B) {
	data := make([]byte, 16<<20)
	for _, impl := range []struct {
		name string
		new  func() LeafHasher
	}{{"hasher", func() LeafHasher { return newHasher() }}, {"zeebo", func() LeafHasher { return blake3.New() }}} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				h := impl.new()
				h.Write([]byte{0})
				for off := 0; off < len(data); off += 1 << 20 {
					h.Write(data[off : off+1<<20])
				}
				h.Sum(nil)
			}
		})
	}
}
