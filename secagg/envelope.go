package secagg

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Wire format versions and sizes.
const (
	envelopeVersion = 1
	// EnvelopeSize is the length of a sealed share envelope: version (1),
	// from (4), to (4), nonce (12), AES-256-GCM ciphertext of two 32-byte
	// shares plus a 16-byte tag (80).
	EnvelopeSize = 1 + 4 + 4 + 12 + 64 + 16

	shareVersion = 1
	// RevealedShareSize is the length of an encoded RevealedShare: version
	// (1), kind (1), owner (4), holder (4), value (32).
	RevealedShareSize = 1 + 1 + 4 + 4 + 32
)

// ErrMalformed is returned by the decoders for bytes that are not a
// canonical encoding.
var ErrMalformed = errors.New("secagg: malformed encoding")

// ErrOpen is returned by OpenShares when an envelope does not authenticate
// for the given keys, domain, sender and recipient.
var ErrOpen = errors.New("secagg: envelope does not open")

// Shares is what participant From sends participant To in the share-keys
// step: To's Shamir shares of From's mask-key Secret and self-mask Secret.
type Shares struct {
	From, To int
	MaskKey  Secret // share of From's mask-key Secret (x = To+1)
	SelfMask Secret // share of From's self-mask Secret (x = To+1)
}

// envKey derives the AES-256-GCM key of the envelope from -> to: the
// HKDF-SHA256 of the X25519 secret of their encryption keys, with the
// direction in the info so that from->to and to->from differ.
func (d Domain) envKey(k *KeyPair, from, to int, toPub PublicKey) (cipher.AEAD, error) {
	sh, err := k.agree(toPub)
	if err != nil {
		return nil, fmt.Errorf("secagg: envelope %d->%d: %w", from, to, err)
	}
	key := kdf(sh[:], d.info("share envelope", []uint32{uint32(from), uint32(to)}))
	b, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (d Domain) envAAD(hdr []byte) []byte {
	return append([]byte(d.info("share envelope aad", nil)), hdr...)
}

// SealShares encrypts s for its recipient: sender is s.From's encryption
// key pair, recipient s.To's encryption public key; the nonce is read from
// r. The header (version, from, to) is authenticated with the domain.
func (d Domain) SealShares(sender *KeyPair, recipient PublicKey, s Shares, r io.Reader) ([]byte, error) {
	if err := distinct([]int{s.From, s.To}); err != nil {
		return nil, err
	}
	aead, err := d.envKey(sender, s.From, s.To, recipient)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 9+12, EnvelopeSize)
	out[0] = envelopeVersion
	binary.BigEndian.PutUint32(out[1:], uint32(s.From))
	binary.BigEndian.PutUint32(out[5:], uint32(s.To))
	if _, err := io.ReadFull(r, out[9:21]); err != nil {
		return nil, fmt.Errorf("secagg: reading nonce: %w", err)
	}
	pt := make([]byte, 0, 64)
	pt = append(pt, s.MaskKey[:]...)
	pt = append(pt, s.SelfMask[:]...)
	return aead.Seal(out, out[9:21], pt, d.envAAD(out[:9])), nil
}

// EnvelopeHeader returns the sender and recipient named by an envelope,
// so that a relay can route it without reading it.
func EnvelopeHeader(env []byte) (from, to int, err error) {
	if len(env) != EnvelopeSize || env[0] != envelopeVersion {
		return 0, 0, fmt.Errorf("%w: envelope of %d bytes, version %d", ErrMalformed, len(env), firstByte(env))
	}
	f, t := binary.BigEndian.Uint32(env[1:]), binary.BigEndian.Uint32(env[5:])
	if f > 1<<31-2 || t > 1<<31-2 || f == t {
		return 0, 0, fmt.Errorf("%w: envelope from %d to %d", ErrMalformed, f, t)
	}
	return int(f), int(t), nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// OpenShares decrypts an envelope addressed to recipient (its encryption
// key pair, index to) from the participant with encryption public key
// sender and index from. The header must name from and to; the shares
// must be canonical scalars.
func (d Domain) OpenShares(recipient *KeyPair, to int, sender PublicKey, from int, env []byte) (Shares, error) {
	f, t, err := EnvelopeHeader(env)
	if err != nil {
		return Shares{}, err
	}
	if f != from || t != to {
		return Shares{}, fmt.Errorf("%w: header names %d->%d, expected %d->%d", ErrOpen, f, t, from, to)
	}
	aead, err := d.envKey(recipient, from, to, sender)
	if err != nil {
		return Shares{}, err
	}
	pt, err := aead.Open(nil, env[9:21], env[21:], d.envAAD(env[:9]))
	if err != nil {
		return Shares{}, ErrOpen
	}
	s := Shares{From: from, To: to, MaskKey: Secret(pt[:32]), SelfMask: Secret(pt[32:])}
	if _, err := s.MaskKey.scalar(); err != nil {
		return Shares{}, err
	}
	if _, err := s.SelfMask.scalar(); err != nil {
		return Shares{}, err
	}
	return s, nil
}

// ShareKind says which Secret a revealed share belongs to.
type ShareKind uint8

const (
	KindMaskKey  ShareKind = 1 // a dropped participant's mask-key Secret
	KindSelfMask ShareKind = 2 // a survivor's self-mask Secret
)

// RevealedShare is a share a survivor sends the coordinator in the
// unmasking step, in the clear: of Owner's mask-key Secret if Owner
// dropped, of its self-mask Secret if Owner survived, never both.
type RevealedShare struct {
	Kind   ShareKind
	Owner  int
	Holder int
	Value  Secret
}

// MarshalBinary encodes r as version (1), kind (1), owner (uint32 BE),
// holder (uint32 BE), value (32): RevealedShareSize bytes.
func (r RevealedShare) MarshalBinary() ([]byte, error) {
	if r.Kind != KindMaskKey && r.Kind != KindSelfMask {
		return nil, fmt.Errorf("secagg: share kind %d", r.Kind)
	}
	if err := distinct([]int{r.Owner, r.Holder}); err != nil {
		return nil, err
	}
	b := make([]byte, 10, RevealedShareSize)
	b[0], b[1] = shareVersion, byte(r.Kind)
	binary.BigEndian.PutUint32(b[2:], uint32(r.Owner))
	binary.BigEndian.PutUint32(b[6:], uint32(r.Holder))
	return append(b, r.Value[:]...), nil
}

// UnmarshalBinary decodes the encoding of MarshalBinary and accepts only
// canonical input: exact length, known version and kind, distinct indices
// below 2^31-1 and a canonical scalar.
func (r *RevealedShare) UnmarshalBinary(b []byte) error {
	if len(b) != RevealedShareSize || b[0] != shareVersion {
		return fmt.Errorf("%w: share of %d bytes, version %d", ErrMalformed, len(b), firstByte(b))
	}
	v := RevealedShare{Kind: ShareKind(b[1])}
	if v.Kind != KindMaskKey && v.Kind != KindSelfMask {
		return fmt.Errorf("%w: share kind %d", ErrMalformed, b[1])
	}
	o, h := binary.BigEndian.Uint32(b[2:]), binary.BigEndian.Uint32(b[6:])
	if o > 1<<31-2 || h > 1<<31-2 || o == h {
		return fmt.Errorf("%w: share owner %d holder %d", ErrMalformed, o, h)
	}
	v.Owner, v.Holder = int(o), int(h)
	copy(v.Value[:], b[10:])
	if _, err := v.Value.scalar(); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	*r = v
	return nil
}
