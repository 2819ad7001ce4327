package p2p

import (
	"testing"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/blobtest"
)

// TestStoreConformance runs the blob.Store suite on committees of real
// libp2p hosts on loopback (TCP).
func TestStoreConformance(t *testing.T) {
	t.Run("n=4", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store { return Store{Client: newCluster(t, 4).client} })
	})
	t.Run("n=4,WaitAll", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store { return Store{Client: newCluster(t, 4).client, WaitAll: true} })
	})
}
