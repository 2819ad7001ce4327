package blob

import (
	"slices"
	"testing"

	"github.com/floe-fl/floe/internal/deptest"
)

// TestDeps keeps blob free of networking: auditors and in-memory stores
// verify IDs and certificates without a libp2p host. Peer IDs and keys
// (go-libp2p's core/peer and core/crypto) are allowed.
func TestDeps(t *testing.T) {
	const pkg = "github.com/floe-fl/floe/blob"
	deptest.Check(t, pkg, []string{
		"github.com/libp2p/go-libp2p/core/host",
		"github.com/libp2p/go-libp2p/core/network",
		"github.com/libp2p/go-libp2p/p2p/",
		"github.com/quic-go/",
		"github.com/floe-fl/floe/transport",
	})
	if slices.Contains(deptest.Deps(t, pkg), "github.com/libp2p/go-libp2p") {
		t.Errorf("%s depends on github.com/libp2p/go-libp2p (the host constructor)", pkg)
	}
}
