package coordinator

import (
	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/p2p"
	"github.com/floe-fl/floe/ledger"
)

// BlobStore is p2p.Store, the blob.Store adapter of a p2p.Client.
type BlobStore = p2p.Store

// VerifyCert checks that cert (CBOR of blob.Certificate) certifies id on com.
func VerifyCert(com blob.Committee, id ledger.BlobID, cert []byte) error {
	return blob.VerifyCert(com, id, cert)
}
