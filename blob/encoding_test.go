package blob

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestEncodeDecodeTable(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 7, 10, 31, 100, 256} {
		for _, size := range []int{0, 1, 2, 1000, 4099} {
			data := randBytes(uint64(n*size+1), size)
			s, err := Encode(data, n)
			if err != nil {
				t.Fatalf("n=%d size=%d: %v", n, size, err)
			}
			k := int(s.Encoding.K)
			if want := n - 2*((n-1)/3); k != want {
				t.Fatalf("n=%d: k=%d, want %d", n, k, want)
			}
			// Drop the first n-k slivers (all data slivers when possible).
			present := make([]bool, n)
			for i := n - k; i < n; i++ {
				present[i] = true
			}
			got, err := s.Decode(present)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("n=%d size=%d: decode: %v", n, size, err)
			}
			for i, sl := range s.Data {
				h := leafHash(sl)
				_, proofs := MerkleProofs(leavesOf(s.Data))
				if !VerifyProof(h, i, n, proofs[i], s.Root) {
					t.Fatalf("n=%d: proof %d does not verify", n, i)
				}
				if n > 1 && !bytes.Equal(sl, s.Data[(i+1)%n]) && VerifyProof(h, (i+1)%n, n, proofs[i], s.Root) {
					t.Fatalf("n=%d: proof %d verifies at another index", n, i)
				}
			}
		}
	}
	if _, err := Encode(nil, 257); err == nil {
		t.Fatal("committee of 257 accepted")
	}
	s, _ := Encode([]byte("x"), 7)
	if _, err := s.Decode(make([]bool, 7)); !errors.Is(err, ErrNotEnoughSlivers) {
		t.Fatalf("decode from nothing: %v", err)
	}
}

func leavesOf(sl [][]byte) []Hash {
	out := make([]Hash, len(sl))
	for i, s := range sl {
		out[i] = leafHash(s)
	}
	return out
}

// TestIDGolden pins the ID derivation: any change to the encoding, the
// Merkle tree or the ID hash changes these and must bump FormatVersion.
// The first value was also derived by hand with another BLAKE3
// implementation (lukechampine.com/blake3): four slivers {0x00}, leaves
// BLAKE3(00 00), root of the 4-leaf tree, ID = BLAKE3(02 01 02 0400 0200 ||
// 8 zero bytes || root).
func TestIDGolden(t *testing.T) {
	for _, tc := range []struct {
		data string
		n    int
		want string
	}{
		{"", 4, "B54jVh_-yk3CSeT7V1Et8xwJUZ_M7ug6mZ4GdBEz1HI"},
		{"floe", 7, "Gm1M2KqYrGew9GC_yCXFJvNuL_oyi6J7ofSjN3l85DA"},
	} {
		id, err := ComputeID([]byte(tc.data), tc.n)
		if err != nil {
			t.Fatal(err)
		}
		if id.String() != tc.want {
			t.Errorf("ComputeID(%q, %d) = %s, want %s", tc.data, tc.n, id, tc.want)
		}
	}
}

// TestEncodingRejectsOtherFormats checks that format version 1 (Blake2b)
// and unknown hash or matrix kinds are refused with a clear error.
func TestEncodingRejectsOtherFormats(t *testing.T) {
	good, err := EncodingFor(7)
	if err != nil || good.Validate() != nil || good.Hash != HashBLAKE3 || good.Version != 2 {
		t.Fatalf("EncodingFor(7) = %+v, %v", good, err)
	}
	for name, tc := range map[string]struct {
		mod  func(*Encoding)
		want string
	}{
		"version 1":    {func(e *Encoding) { e.Version = 1 }, "blob: unsupported encoding version 1"},
		"no hash kind": {func(e *Encoding) { e.Hash = 0 }, "blob: unsupported hash kind 0"},
		"blake2b kind": {func(e *Encoding) { e.Hash = 1 }, "blob: unsupported hash kind 1"},
		"matrix 2":     {func(e *Encoding) { e.Matrix = 2 }, "blob: unsupported matrix kind 2"},
	} {
		e := good
		tc.mod(&e)
		if err := e.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: Validate() = %v, want %q", name, err, tc.want)
		}
	}
	if got := good.bytes(); len(got) != 7 || got[0] != 2 || got[1] != 1 || got[2] != 2 || got[3] != 7 || got[5] != 3 {
		t.Errorf("encoding type bytes % x", got)
	}
}

func TestParseIDAndCommittee(t *testing.T) {
	id, _ := ComputeID([]byte("abc"), 4)
	back, err := ParseID(id.String())
	if err != nil || back != id || len(id.String()) != 43 {
		t.Fatalf("ID text round trip: %v", err)
	}
	for _, bad := range []string{"", "abc", id.String() + "=", "+" + id.String()[1:]} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
	good := "# two nodes\n/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWPWeh54RdUT92yFTG7FqtpPHeW8RthLRTNah8ByPj1RL6 # first\n\n  /ip4/127.0.0.1/udp/4002/quic-v1/p2p/12D3KooWHNN3nnw3XGg5rHUuE2Sw4icX25C7gU6PGvYw1aDcZRPD\n"
	c, err := ParseCommittee([]byte(good))
	if err != nil || c.N() != 2 || c.F() != 0 || c.K() != 2 {
		t.Fatalf("parse: %v %+v", err, c)
	}
	for name, text := range map[string]string{
		"empty":     "# nothing\n",
		"no peer":   "/ip4/127.0.0.1/tcp/4001\n",
		"garbage":   "hello\n",
		"duplicate": "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWPWeh54RdUT92yFTG7FqtpPHeW8RthLRTNah8ByPj1RL6\n/ip4/127.0.0.1/tcp/2/p2p/12D3KooWPWeh54RdUT92yFTG7FqtpPHeW8RthLRTNah8ByPj1RL6\n",
	} {
		if _, err := ParseCommittee([]byte(text)); err == nil || err.Error()[:6] != "blob: " {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// TestDecodeStripes checks decode's stripe-wise re-encoding on slivers
// spanning several stripes (and a partial last one): every presence pattern
// of a 7-member blob decodes, and a codeword altered in a later stripe of a
// received parity sliver or of a rebuilt one, with a root recomputed to
// match, is reported as ErrInconsistentEncoding.
func TestDecodeStripes(t *testing.T) {
	size := 3*(2*DecodeStripe+123) - 2
	data := randBytes(77, size)
	s, err := Encode(data, 7)
	if err != nil {
		t.Fatal(err)
	}
	if ss := len(s.Data[0]); ss <= 2*DecodeStripe || ss%DecodeStripe == 0 {
		t.Fatalf("sliver of %d bytes does not exercise partial stripes", ss)
	}
	for mask := range 1 << 7 {
		present := make([]bool, 7)
		have := 0
		for i := range present {
			present[i] = mask&(1<<i) != 0
			if present[i] {
				have++
			}
		}
		got, err := s.Decode(present)
		if have < 3 {
			if !errors.Is(err, ErrNotEnoughSlivers) {
				t.Fatalf("mask %07b: %v, want ErrNotEnoughSlivers", mask, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("mask %07b: decode: %v", mask, err)
		}
	}
	// Alter parity sliver 5 in its second stripe and recommit: the slivers
	// all verify against the new root but are no codeword.
	for _, present := range [][]bool{
		{true, true, true, false, false, true, false},  // 5 received
		{true, true, true, false, false, false, false}, // 5 rebuilt
	} {
		bad := &Slivers{Encoding: s.Encoding, Length: s.Length, Data: make([][]byte, 7)}
		for i := range s.Data {
			bad.Data[i] = append([]byte(nil), s.Data[i]...)
		}
		bad.Data[5][DecodeStripe+9] ^= 1
		bad.Leaves = leavesOf(bad.Data)
		bad.Root = MerkleRoot(bad.Leaves)
		if _, err := bad.Decode(present); !errors.Is(err, ErrInconsistentEncoding) {
			t.Fatalf("present %v: %v, want ErrInconsistentEncoding", present, err)
		}
	}
}

// TestRecycledBufferPadding checks that an encode reusing a recycled sliver
// buffer full of other bytes still zero-pads: the golden IDs come out after
// encodes that leave random data in the pool.
func TestRecycledBufferPadding(t *testing.T) {
	for range 3 {
		if _, err := ComputeID(randBytes(5, 200<<10), 4); err != nil {
			t.Fatal(err)
		}
		if id, _ := ComputeID(nil, 4); id.String() != "B54jVh_-yk3CSeT7V1Et8xwJUZ_M7ug6mZ4GdBEz1HI" {
			t.Fatalf("empty blob after a recycled buffer: ID %s", id)
		}
		if id, _ := ComputeID([]byte("floe"), 7); id.String() != "Gm1M2KqYrGew9GC_yCXFJvNuL_oyi6J7ofSjN3l85DA" {
			t.Fatalf("\"floe\" after a recycled buffer: ID %s", id)
		}
	}
}

// randBytes returns n seeded pseudo-random bytes (the same as blob/p2p's
// test helper).
func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}
