package ledger

import (
	"testing"

	"github.com/floe-fl/floe/internal/deptest"
)

// TestDeps keeps ledger free of networking: auditors verify chains without
// linking a libp2p host, and signatures are checked with crypto/ed25519.
func TestDeps(t *testing.T) {
	deptest.Check(t, "github.com/floe-fl/floe/ledger", []string{
		"github.com/libp2p/",
		"github.com/multiformats/",
		"github.com/quic-go/",
		"github.com/floe-fl/floe/transport",
	})
}
