package secagg

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzRevealedShare: the decoder never panics, and what it accepts
// re-encodes to the same bytes (canonical form).
func FuzzRevealedShare(f *testing.F) {
	s, _ := NewSecret(seeded(20))
	good, _ := RevealedShare{Kind: KindSelfMask, Owner: 3, Holder: 9, Value: s}.MarshalBinary()
	f.Add(good)
	f.Add(good[:RevealedShareSize-1])
	f.Add(make([]byte, RevealedShareSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r RevealedShare
		if err := r.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := r.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("accepted non-canonical %x (re-encoded %x, %v)", b, out, err)
		}
	})
}

// FuzzOpenShares: EnvelopeHeader and OpenShares never panic on any bytes;
// an envelope that opens re-seals (with its own nonce) to the same bytes.
func FuzzOpenShares(f *testing.F) {
	rng := seeded(21)
	a, _ := NewKeyPair(rng)
	b, _ := NewKeyPair(rng)
	s1, _ := NewSecret(rng)
	s2, _ := NewSecret(rng)
	env, _ := testDomain.SealShares(&a, b.Public, Shares{From: 1, To: 2, MaskKey: s1, SelfMask: s2}, rng)
	f.Add(env)
	f.Add(env[:20])
	f.Add(make([]byte, EnvelopeSize))
	f.Fuzz(func(t *testing.T, e []byte) {
		from, to, err := EnvelopeHeader(e)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("header error %v does not wrap ErrMalformed", err)
			}
			return
		}
		sh, err := testDomain.OpenShares(&b, to, a.Public, from, e)
		if err != nil {
			return
		}
		again, err := testDomain.SealShares(&a, b.Public, sh, bytes.NewReader(e[9:21]))
		if err != nil || !bytes.Equal(again, e) {
			t.Fatalf("opened envelope does not re-seal to itself: %v", err)
		}
	})
}
