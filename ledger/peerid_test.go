package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestParsePeerIDLibp2p checks the decoder against libp2p's own peer IDs:
// the key it extracts is libp2p's, and signatures libp2p makes verify.
func TestParsePeerIDLibp2p(t *testing.T) {
	for i := 0; i < 50; i++ {
		k, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParsePeerID(id.String())
		if err != nil {
			t.Fatalf("ParsePeerID(%s): %v", id, err)
		}
		raw, _ := pub.Raw()
		if !bytes.Equal(got, raw) {
			t.Fatalf("ParsePeerID(%s) = %x, want %x", id, got, raw)
		}
		if s := PeerID(got); s != id.String() {
			t.Fatalf("PeerID = %s, want %s", s, id)
		}
		sig, err := k.Sign([]byte("msg"))
		if err != nil {
			t.Fatal(err)
		}
		if !ed25519.Verify(got, []byte("msg"), sig) {
			t.Fatal("libp2p signature does not verify with the decoded key")
		}
	}
}

// TestParsePeerIDRejects checks that everything but an Ed25519 peer ID is an
// ErrSignature error.
func TestParsePeerIDRejects(t *testing.T) {
	_, edID := testKey(t, 1)
	ec, _, err := crypto.GenerateECDSAKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecID, err := peer.IDFromPrivateKey(ec) // hashed: its key does not fit in 42 bytes
	if err != nil {
		t.Fatal(err)
	}
	sk, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secpID, err := peer.IDFromPrivateKey(sk) // identity multihash of a non-Ed25519 key
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{
		"",
		"x",
		edID[:len(edID)-1],
		edID + "1",
		edID[:10] + "0" + edID[11:], // '0' is not a base58 digit
		edID[:2] + "E" + edID[3:],   // a different multihash prefix
		peer.ToCid(peer.ID(mustDecodePeer(t, edID))).String(), // CIDv1 text
		ecID.String(),
		secpID.String(),
		string(bytes.Repeat([]byte{'1'}, peerIDLen)),
	} {
		if pub, err := ParsePeerID(id); !errors.Is(err, ErrSignature) {
			t.Errorf("ParsePeerID(%q) = %x, %v; want ErrSignature", id, pub, err)
		}
	}
}

func mustDecodePeer(t *testing.T, s string) peer.ID {
	t.Helper()
	id, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// FuzzParsePeerID checks that whatever decodes is an Ed25519 peer ID in
// canonical form that libp2p decodes to the same key.
func FuzzParsePeerID(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzParsePeerID.
	_, id := testKey(f, 1)
	f.Add(id)
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := ParsePeerID(s)
		if err != nil {
			if !errors.Is(err, ErrSignature) {
				t.Fatalf("error %v does not wrap ErrSignature", err)
			}
			return
		}
		if PeerID(pub) != s {
			t.Fatalf("ParsePeerID(%q) does not re-encode to its input", s)
		}
		pid, err := peer.Decode(s)
		if err != nil {
			t.Fatalf("libp2p rejects %q: %v", s, err)
		}
		lk, err := pid.ExtractPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := lk.Raw()
		if lk.Type() != crypto.Ed25519 || !bytes.Equal(raw, pub) {
			t.Fatalf("libp2p decodes %q to a different key", s)
		}
	})
}
