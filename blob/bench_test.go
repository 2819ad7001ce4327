package blob

import (
	"testing"
)

// BenchmarkEncode_7x3x21M measures the client's encode and commit of a
// 64 MiB blob for 7 members (Reed-Solomon, BLAKE3 leaves, Merkle tree).
func BenchmarkEncode_7x3x21M(b *testing.B) {
	data := randBytes(2, 64<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		x, err := encode(data, 7)
		if err != nil {
			b.Fatal(err)
		}
		x.release() // as Put does once its writes finished
	}
}

// BenchmarkDecode_7x3x21M measures a read's decode and consistency check of
// a 64 MiB blob for 7 members: from the 3 data slivers (re-encode and hash
// the 4 parity slivers) and from 3 parity slivers (reconstruct first).
func BenchmarkDecode_7x3x21M(b *testing.B) {
	data := randBytes(2, 64<<20)
	s, err := Encode(data, 7)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		present []bool
	}{
		{"data", []bool{true, true, true, false, false, false, false}},
		{"parity", []bool{false, false, false, false, true, true, true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Decode(tc.present); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
