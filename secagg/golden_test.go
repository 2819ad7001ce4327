package secagg

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// digestWords returns the SHA-256 of words as little-endian bytes.
func digestWords(v []uint64) string {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], x)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func digestBytes(bs ...[]byte) string {
	h := sha256.New()
	for _, b := range bs {
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestGoldenVectors pins the bytes of every derivation an auditor replays:
// the PRG keystream, a participant's masks, the encoding, an envelope, the
// Shamir shares with their commitments and the neighbour graph. A change
// to any of them makes old secagg chains unreplayable: it needs a new
// format version, not a new golden value.
func TestGoldenVectors(t *testing.T) {
	got := map[string]string{}

	key := sha256.Sum256([]byte("floe golden prg"))
	ks := make([]uint64, 1000)
	expand(ks, &key, false)
	got["prg"] = digestWords(ks)

	var seed [32]byte
	copy(seed[:], "floe golden graph seed")
	g, err := NewGraph(testDomain, seed, 50, Degree(50, DegreeFactor))
	if err != nil {
		t.Fatal(err)
	}
	var adj []uint64
	for i := range 50 {
		for _, j := range g.Neighbours(i) {
			adj = append(adj, uint64(i)<<32|uint64(j))
		}
	}
	got["graph"] = digestWords(adj)

	e := Encoding{Bits: 40, FracBits: 16, Clip: 1, MaxWeight: 100}
	x := make([]float32, 100)
	for i := range x {
		x[i] = float32(i%17)/8 - 1
	}
	enc := make([]uint64, 101)
	if err := e.Encode(enc, x, 7, seed); err != nil {
		t.Fatal(err)
	}
	got["encode"] = digestWords(enc)

	rng := seeded(42)
	keys := make([]KeyPair, 50)
	for i := range keys {
		if keys[i], err = NewKeyPair(rng); err != nil {
			t.Fatal(err)
		}
	}
	self, err := NewSecret(rng)
	if err != nil {
		t.Fatal(err)
	}
	var peers []Peer
	for _, j := range g.Neighbours(3) {
		peers = append(peers, Peer{Index: j, Public: keys[j].Public})
	}
	masked := append([]uint64(nil), enc...)
	if err := testDomain.Mask(masked, 40, g, 3, &keys[3], self, peers); err != nil {
		t.Fatal(err)
	}
	got["mask"] = digestWords(masked)

	shares, c, err := SplitVerifiable(self, 3, g.Neighbours(3), seeded(43))
	if err != nil {
		t.Fatal(err)
	}
	var parts [][]byte
	for _, s := range shares {
		parts = append(parts, s.Value[:])
	}
	parts = append(parts, c...)
	got["shares"] = digestBytes(parts...)

	env, err := testDomain.SealShares(&keys[3], keys[4].Public, Shares{From: 3, To: 4, MaskKey: shares[0].Value, SelfMask: shares[1].Value}, seeded(44))
	if err != nil {
		t.Fatal(err)
	}
	got["envelope"] = digestBytes(env)

	want := map[string]string{
		"prg":      "ab8d7f6ebf789f4301202de96fbccefbd349dd3894addbd2e0f37737075de08f",
		"graph":    "f9ba019ce5feb7f1c85e2336013e6560ea3121781d2585ad7eed1944326f27c8",
		"encode":   "cc4993343287a5797b85ede87c6ee8d800078b33609dddd4d50266d0103d638f",
		"mask":     "ff1d8e50bc1508ebd0e48dd1ab4649bb6d2746777b23a20923b4e383a49feebf",
		"shares":   "e4afccb9eba0d4a89bee757079b9f9b959aa5e5d0b879003be7e7831ee1670fa",
		"envelope": "ea4cfe1c0fc4ad172c0c064a3cc4060b110705772d6ae998dae5738790239fc9",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: digest %s, want %s", k, got[k], w)
		}
	}
}
