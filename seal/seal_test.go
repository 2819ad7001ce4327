package seal

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/floe-fl/floe/ledger"
)

func TestSealOpen(t *testing.T) {
	a, _ := GenerateKey()
	b, _ := GenerateKey()
	c, _ := GenerateKey()
	rcpts := []ledger.Recipient{a.Recipient("coordinator"), b.Recipient("auditor")}
	aad := AAD(ledger.Hash{1}, 3, "peerA")
	msg := bytes.Repeat([]byte("update"), 1000)
	env, err := Seal(msg, rcpts, aad, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env, []byte("updateupdate")) {
		t.Fatal("plaintext visible in envelope")
	}
	for name, k := range map[string]*Key{"coordinator": a, "auditor": b} {
		got, err := Open(env, name, k, aad)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%s: open: %v", name, err)
		}
	}
	if _, err := Open(env, "outsider", c, aad); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("outsider: %v", err)
	}
	if _, err := Open(env, "auditor", c, aad); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong key: %v", err)
	}
	// Other round or participant in the AAD: replay is detected.
	if _, err := Open(env, "auditor", b, AAD(ledger.Hash{1}, 4, "peerA")); !errors.Is(err, ErrOpen) {
		t.Fatalf("replayed into another round: %v", err)
	}
	if _, err := Open(env, "auditor", b, AAD(ledger.Hash{1}, 3, "peerB")); !errors.Is(err, ErrOpen) {
		t.Fatalf("other participant: %v", err)
	}
	// Every flipped byte is detected or rejected as malformed.
	for i := 0; i < len(env); i += len(env) / 50 {
		bad := bytes.Clone(env)
		bad[i] ^= 0x80
		if got, err := Open(bad, "auditor", b, aad); err == nil && !bytes.Equal(got, msg) {
			t.Fatalf("byte %d altered and opened to different plaintext", i)
		}
	}
}

func TestKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hpke.key")
	k1, err := LoadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.PublicKey(), k2.PublicKey()) {
		t.Fatal("key not reused")
	}
}

func FuzzOpen(f *testing.F) {
	k, _ := GenerateKey()
	aad := AAD(ledger.Hash{}, 1, "p")
	env, _ := Seal([]byte("hello"), []ledger.Recipient{k.Recipient("r")}, aad, nil)
	f.Add(env)
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := Open(b, "r", k, aad)
		if err == nil && !bytes.Equal(pt, []byte("hello")) {
			t.Fatalf("forged envelope opened: %q", pt)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	k, _ := DeriveKey(bytes.Repeat([]byte{7}, 32))
	raw, _ := k.sk.MarshalBinary()
	f.Add(raw)
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKey(b)
		if err != nil {
			return
		}
		// A key that parses seals and opens.
		aad := AAD(ledger.Hash{}, 1, "p")
		env, err := Seal([]byte("x"), []ledger.Recipient{k.Recipient("r")}, aad, nil)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := Open(env, "r", k, aad); err != nil || string(pt) != "x" {
			t.Fatalf("parsed key does not round-trip: %v", err)
		}
	})
}

// TestSealInPlace: the prefix and the in-place ciphertext are, joined, the
// bytes Seal makes from the same randomness, for updates whose ciphertext
// length needs each size of CBOR length header; Open reads them.
func TestSealInPlace(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	rec := []ledger.Recipient{k.Recipient("coordinator")}
	aad := AAD(ledger.Hash{1}, 2, "p")
	for _, n := range []int{0, 7, 8, 100, 239, 240, 65519, 65520, 1 << 20} {
		pt := make([]byte, n, n+Overhead)
		for i := range pt {
			pt[i] = byte(i * 7)
		}
		want, err := Seal(slices.Clone(pt), rec, aad, bytes.NewReader(bytes.Repeat([]byte{3}, 4096)))
		if err != nil {
			t.Fatal(err)
		}
		orig := slices.Clone(pt)
		prefix, ct, err := SealInPlace(pt, rec, aad, bytes.NewReader(bytes.Repeat([]byte{3}, 4096)))
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && &ct[0] != &pt[:1][0] {
			t.Errorf("%d bytes: the ciphertext is not in the plaintext's buffer", n)
		}
		got := append(slices.Clone(prefix), ct...)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: SealInPlace's envelope differs from Seal's", n)
		}
		back, err := Open(got, "coordinator", k, aad)
		if err != nil || !bytes.Equal(back, orig) {
			t.Fatalf("%d bytes: open: %v", n, err)
		}
		inPlace, err := OpenInPlace(got, "coordinator", k, aad)
		if err != nil || !bytes.Equal(inPlace, orig) {
			t.Fatalf("%d bytes: open in place: %v", n, err)
		}
		if n > 0 && &inPlace[0] != &got[0] {
			t.Errorf("%d bytes: OpenInPlace's plaintext does not start the envelope's buffer", n)
		}
	}
	// The same envelope with its ciphertext's length in a longer form than
	// the shortest is not canonical: refused.
	pt := []byte("update")
	prefix, ct, err := SealInPlace(slices.Clone(pt), rec, aad, nil)
	if err != nil {
		t.Fatal(err)
	}
	long := append(slices.Clone(prefix[:len(prefix)-1]), 0x58, byte(len(ct)))
	long = append(long, ct...)
	if _, err := Open(long, "coordinator", k, aad); err == nil || !strings.Contains(err.Error(), "shortest form") {
		t.Fatalf("a non-canonical envelope opened: %v", err)
	}
}
