package blob

import (
	"errors"
	"fmt"

	"github.com/floe-fl/floe/codec"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// AckDomain separates storage-acknowledgement signatures from every other
// signature made with a node's key.
const AckDomain = "floe/blob-ack/v1"

// Ack is a storage node's signed statement that it durably holds sliver
// Index of blob ID, to be kept for Lifetime milliseconds (0: no expiry).
type Ack struct {
	Index uint32 `cbor:"1,keyasint"`
	Sig   []byte `cbor:"2,keyasint"`
}

// ackBody is what an ack signs, after the AckDomain prefix.
type ackBody struct {
	ID         ID     `cbor:"1,keyasint"`
	Index      uint32 `cbor:"2,keyasint"`
	Node       []byte `cbor:"3,keyasint"`
	LifetimeMs uint64 `cbor:"4,keyasint"`
}

// ackMessage returns the exact bytes an ack signature covers.
func ackMessage(id ID, index uint32, node peer.ID, lifetimeMs uint64) ([]byte, error) {
	b, err := codec.Marshal(ackBody{ID: id, Index: index, Node: []byte(node), LifetimeMs: lifetimeMs})
	if err != nil {
		return nil, fmt.Errorf("blob: encode ack: %w", err)
	}
	return append([]byte(AckDomain), b...), nil
}

// SignAck returns member node's acknowledgement, signed with its key k,
// that it stores sliver index of blob id for lifetimeMs (0: forever).
func SignAck(k crypto.PrivKey, id ID, index uint32, node peer.ID, lifetimeMs uint64) (Ack, error) {
	msg, err := ackMessage(id, index, node, lifetimeMs)
	if err != nil {
		return Ack{}, err
	}
	sig, err := k.Sign(msg)
	if err != nil {
		return Ack{}, fmt.Errorf("blob: sign ack: %w", err)
	}
	return Ack{Index: index, Sig: sig}, nil
}

// VerifyAck checks one ack against the member expected at its index.
func VerifyAck(a Ack, id ID, lifetimeMs uint64, member peer.ID) error {
	pub, err := member.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("blob: ack %d: member %s has no inline public key: %v", a.Index, member, err)
	}
	msg, err := ackMessage(id, a.Index, member, lifetimeMs)
	if err != nil {
		return err
	}
	ok, err := pub.Verify(msg, a.Sig)
	if err != nil || !ok {
		return fmt.Errorf("blob: ack %d: bad signature from %s", a.Index, member)
	}
	return nil
}

// Certificate is a blob's availability certificate: acknowledgements from
// at least n - f distinct committee members, sorted by committee index.
type Certificate struct {
	ID         ID     `cbor:"1,keyasint"`
	LifetimeMs uint64 `cbor:"2,keyasint"`
	Acks       []Ack  `cbor:"3,keyasint"`
}

// QuorumError reports too few valid acknowledgements.
type QuorumError struct{ Have, Need int }

func (e *QuorumError) Error() string {
	return fmt.Sprintf("blob: %d valid acknowledgements from distinct members, need %d", e.Have, e.Need)
}

// ErrBadCertificate is wrapped by every certificate verification failure
// other than a QuorumError.
var ErrBadCertificate = errors.New("blob: bad certificate")

// Verify checks that c holds at least n - f acks from distinct members of
// com, in increasing index order, each with a valid signature over
// (AckDomain, ID, index, member, lifetime).
func (c *Certificate) Verify(com Committee) error {
	if c == nil {
		return fmt.Errorf("%w: nil", ErrBadCertificate)
	}
	n := com.N()
	if n == 0 {
		return fmt.Errorf("%w: empty committee", ErrBadCertificate)
	}
	prev := -1
	for _, a := range c.Acks {
		if int(a.Index) <= prev {
			return fmt.Errorf("%w: acks not in strictly increasing index order at %d", ErrBadCertificate, a.Index)
		}
		if int(a.Index) >= n {
			return fmt.Errorf("%w: ack index %d outside committee of %d", ErrBadCertificate, a.Index, n)
		}
		prev = int(a.Index)
		if err := VerifyAck(a, c.ID, c.LifetimeMs, com.Members[a.Index].ID); err != nil {
			return fmt.Errorf("%w: %v", ErrBadCertificate, err)
		}
	}
	if need := n - com.F(); len(c.Acks) < need {
		return &QuorumError{Have: len(c.Acks), Need: need}
	}
	return nil
}

// Marshal returns the certificate's deterministic CBOR bytes.
func (c *Certificate) Marshal() ([]byte, error) { return codec.Marshal(c) }

// ParseCertificate decodes a certificate written by Marshal. It checks
// structure only; call Verify with the committee.
func ParseCertificate(b []byte) (*Certificate, error) {
	var c Certificate
	if err := codec.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("blob: parse certificate: %w", err)
	}
	if len(c.Acks) > MaxCommittee {
		return nil, fmt.Errorf("blob: parse certificate: %d acks, at most %d", len(c.Acks), MaxCommittee)
	}
	for _, a := range c.Acks {
		if len(a.Sig) > 1024 {
			return nil, fmt.Errorf("blob: parse certificate: ack %d signature of %d bytes", a.Index, len(a.Sig))
		}
	}
	return &c, nil
}

// VerifyCert checks that cert (CBOR of a Certificate) certifies the blob id
// on com.
func VerifyCert(com Committee, id [32]byte, cert []byte) error {
	c, err := ParseCertificate(cert)
	if err != nil {
		return err
	}
	if [32]byte(c.ID) != id {
		return fmt.Errorf("blob: certificate is for another blob")
	}
	return c.Verify(com)
}
