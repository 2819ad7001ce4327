package ledger

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/mr-tron/base58"
)

// Signer signs messages with an Ed25519 private key. libp2p's
// crypto.PrivKey satisfies it, as does any key whose signature
// ParsePeerID's public key verifies.
type Signer interface {
	Sign(msg []byte) ([]byte, error)
}

// peerIDPrefix opens every Ed25519 peer ID: the identity multihash (code
// 0x00, length 0x24 = 36) of libp2p's protobuf PublicKey with Type
// Ed25519 (field 1 = 1) and Data (field 2, length 32).
var peerIDPrefix = []byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}

// peerIDLen is the length of an Ed25519 peer ID's base58btc text: 38 bytes
// with one leading zero byte encode to 52 characters.
const peerIDLen = 52

// ParsePeerID returns the Ed25519 public key embedded in id, the base58btc
// text of an Ed25519 libp2p peer ID ("12D3KooW..."). Any other string,
// including peer IDs of other key types, hashed peer IDs and non-canonical
// base58, is an ErrSignature error.
func ParsePeerID(id string) (ed25519.PublicKey, error) {
	if len(id) != peerIDLen {
		return nil, fmt.Errorf("%w: signer %q is not an Ed25519 peer ID", ErrSignature, id)
	}
	b, err := base58.Decode(id)
	if err != nil || len(b) != len(peerIDPrefix)+ed25519.PublicKeySize || !bytes.HasPrefix(b, peerIDPrefix) || base58.Encode(b) != id {
		return nil, fmt.Errorf("%w: signer %q is not an Ed25519 peer ID", ErrSignature, id)
	}
	return ed25519.PublicKey(b[len(peerIDPrefix):]), nil
}

// PeerID returns the peer ID text of the Ed25519 public key pub: the inverse
// of ParsePeerID. It panics if pub is not 32 bytes.
func PeerID(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		panic(fmt.Sprintf("ledger: Ed25519 public key of %d bytes", len(pub)))
	}
	return base58.Encode(append(append([]byte{}, peerIDPrefix...), pub...))
}
