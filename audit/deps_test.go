package audit

import (
	"testing"

	"github.com/floe-fl/floe/internal/deptest"
)

// TestDeps keeps the audit and the round rules it replays free of
// networking: an auditor links no libp2p host, transport or storage node,
// and reads blobs through whatever ledger.Getter it is given.
func TestDeps(t *testing.T) {
	forbidden := []string{
		"github.com/libp2p/go-libp2p/core/host",
		"github.com/libp2p/go-libp2p/core/network",
		"github.com/libp2p/go-libp2p/p2p",
		"github.com/quic-go/",
		"github.com/floe-fl/floe/transport",
		"github.com/floe-fl/floe/blob/p2p",
		"github.com/floe-fl/floe/coordinator",
		"github.com/floe-fl/floe/participant",
	}
	deptest.Check(t, "github.com/floe-fl/floe/audit", forbidden)
	deptest.Check(t, "github.com/floe-fl/floe/round", forbidden)
}
