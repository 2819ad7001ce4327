package secagg

import (
	"fmt"
	"testing"
)

// BenchmarkExpand measures one mask vector's expansion (AES-256-CTR into
// ring elements, added in place): bytes are the 8-byte ring elements.
func BenchmarkExpand(b *testing.B) {
	for _, dim := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("dim=%d", dim), func(b *testing.B) {
			dst := make([]uint64, dim)
			key := [32]byte{1}
			expand(dst, &key, false)
			b.SetBytes(int64(8 * dim))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				expand(dst, &key, false)
			}
		})
	}
}

// BenchmarkMask measures a participant's Mask of a 100K-parameter vector
// with k peers: k+1 expansions and k X25519 agreements.
func BenchmarkMask(b *testing.B) {
	const dim = 100_000
	for _, n := range []int{10, 100, 1000} {
		k := Degree(n, DegreeFactor)
		b.Run(fmt.Sprintf("participants=%d/k=%d", n, k), func(b *testing.B) {
			rng := seeded(30)
			g, _ := NewGraph(testDomain, [32]byte{}, n, k)
			keys := make([]KeyPair, n)
			for i := range keys {
				keys[i], _ = NewKeyPair(rng)
			}
			var peers []Peer
			for _, j := range g.Neighbours(0) {
				peers = append(peers, Peer{j, keys[j].Public})
			}
			dst := make([]uint64, dim+1)
			b.SetBytes(int64(8 * (dim + 1) * (len(peers) + 1)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := testDomain.Mask(dst, 32, g, 0, &keys[0], Secret{}, peers); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExpandNaive is the baseline: the keystream word by word
// through prg.Uint64.
func BenchmarkExpandNaive(b *testing.B) {
	const dim = 100_000
	dst := make([]uint64, dim)
	key := [32]byte{1}
	b.SetBytes(8 * dim)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p := newPRG(&key)
		for i := range dst {
			dst[i] += p.Uint64()
		}
	}
}
