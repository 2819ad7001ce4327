package transport

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// FuzzKeyFile feeds arbitrary key-file contents to LoadOrCreateKey.
func FuzzKeyFile(f *testing.F) {
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	b, _ := crypto.MarshalPrivateKey(k)
	f.Add(b)
	f.Add([]byte{0x08, 0x01, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := LoadOrCreateKey(p)
		if err != nil {
			return
		}
		if k.Type() != crypto.Ed25519 {
			t.Fatalf("accepted key type %v", k.Type())
		}
	})
}
