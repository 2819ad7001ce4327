package secagg

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/dh/x25519"
	"github.com/cloudflare/circl/group"
)

// ErrWeakKey is returned when an X25519 agreement meets a low-order public
// key (circl's x25519.Shared reports it; the shared key would be all zero).
var ErrWeakKey = errors.New("secagg: weak (low-order) X25519 public key")

// ErrBadSecret is returned when 32 bytes are not a canonical Ristretto255
// scalar.
var ErrBadSecret = errors.New("secagg: secret is not a canonical ristretto255 scalar")

// Domain separates every derived key by job and round.
type Domain struct {
	Job   []byte // the job ID (the hash of the JobSpec)
	Round uint64
}

// info returns the HKDF info string: "floe/secagg/v1 " label 0x00,
// len(Job) as uint32 big-endian, Job, Round as uint64 big-endian, then each
// part as uint32 big-endian, then each extra byte string prefixed by its
// uint32 big-endian length.
func (d Domain) info(label string, parts []uint32, extra ...[]byte) string {
	b := make([]byte, 0, 64+len(d.Job))
	b = append(b, "floe/secagg/v1 "...)
	b = append(b, label...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(d.Job)))
	b = append(b, d.Job...)
	b = binary.BigEndian.AppendUint64(b, d.Round)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, p)
	}
	for _, e := range extra {
		b = binary.BigEndian.AppendUint32(b, uint32(len(e)))
		b = append(b, e...)
	}
	return string(b)
}

func kdf(secret []byte, info string) [32]byte {
	k, err := hkdf.Key(sha256.New, secret, nil, info, 32)
	if err != nil {
		panic(err) // 32 bytes of SHA-256 output: cannot fail
	}
	return [32]byte(k)
}

// Secret is a canonical little-endian Ristretto255 scalar: the form in
// which the mask-key seed and the self-mask seed are drawn, Shamir-shared
// and revealed. It has about 252 bits of entropy.
type Secret [32]byte

// NewSecret draws a uniform Secret from 64 bytes of r (reduced modulo the
// group order by circl's HashToScalar).
func NewSecret(r io.Reader) (Secret, error) {
	var b [64]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Secret{}, fmt.Errorf("secagg: reading randomness: %w", err)
	}
	return secretOf(group.Ristretto255.HashToScalar(b[:], []byte("floe/secagg/v1 secret"))), nil
}

func secretOf(s group.Scalar) Secret {
	b, err := s.MarshalBinary()
	if err != nil || len(b) != 32 {
		panic("secagg: scalar encoding")
	}
	return Secret(b)
}

func (s Secret) scalar() (group.Scalar, error) {
	x := group.Ristretto255.NewScalar()
	if err := x.UnmarshalBinary(s[:]); err != nil {
		return nil, ErrBadSecret
	}
	return x, nil
}

// PublicKey is an X25519 public key.
type PublicKey [32]byte

// KeyPair is an X25519 key pair derived from a Secret: the private key is
// HKDF-SHA256(Secret, "floe/secagg/v1 x25519"), so sharing the Secret
// shares the key.
type KeyPair struct {
	Secret Secret
	Public PublicKey
	priv   x25519.Key
}

// NewKeyPair draws a Secret from r and derives its key pair.
func NewKeyPair(r io.Reader) (KeyPair, error) {
	s, err := NewSecret(r)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPairFrom(s), nil
}

// KeyPairFrom derives the key pair of a Secret.
func KeyPairFrom(s Secret) KeyPair {
	k := KeyPair{Secret: s}
	k.priv = x25519.Key(kdf(s[:], "floe/secagg/v1 x25519"))
	var pub x25519.Key
	x25519.KeyGen(&pub, &k.priv)
	k.Public = PublicKey(pub)
	return k
}

// agree returns the X25519 shared secret of k and peer, or ErrWeakKey.
func (k *KeyPair) agree(peer PublicKey) ([32]byte, error) {
	var out x25519.Key
	pk := x25519.Key(peer)
	if !x25519.Shared(&out, &k.priv, &pk) {
		return [32]byte{}, ErrWeakKey
	}
	return [32]byte(out), nil
}

// pairKey is the AES-256 key of the pairwise mask between participants a
// and b of the domain: HKDF-SHA256 of their X25519 secret with info
// "pair mask", lo, hi, pk_lo, pk_hi (lo < hi).
func (d Domain) pairKey(k *KeyPair, me int, peer int, peerPub PublicKey) ([32]byte, error) {
	sh, err := k.agree(peerPub)
	if err != nil {
		return [32]byte{}, fmt.Errorf("secagg: pair %d-%d: %w", me, peer, err)
	}
	lo, hi, plo, phi := me, peer, k.Public, peerPub
	if lo > hi {
		lo, hi, plo, phi = hi, lo, phi, plo
	}
	return kdf(sh[:], d.info("pair mask", []uint32{uint32(lo), uint32(hi)}, plo[:], phi[:])), nil
}

// selfKey is the AES-256 key of participant i's self mask.
func (d Domain) selfKey(i int, seed Secret) [32]byte {
	return kdf(seed[:], d.info("self mask", []uint32{uint32(i)}))
}
