package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"
	"github.com/floe-fl/floe/atomicfile"
	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/ledger"
)

// SuiteName names the HPKE suite in recipients and envelopes.
const SuiteName = "X25519-HKDF-SHA256/AES-128-GCM"

const info = "floe/update-key/v1"

var suite = hpke.NewSuite(hpke.KEM_X25519_HKDF_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES128GCM)

// ErrNotRecipient reports an envelope that was not sealed to the given name.
var ErrNotRecipient = errors.New("seal: not a recipient of this update")

// ErrOpen reports an envelope that fails authentication: altered, or opened
// with the wrong key or additional data.
var ErrOpen = errors.New("seal: cannot open envelope")

// Key is a recipient's HPKE private key.
type Key struct{ sk kem.PrivateKey }

// GenerateKey returns a fresh X25519 key.
func GenerateKey() (*Key, error) {
	_, sk, err := hpke.KEM_X25519_HKDF_SHA256.Scheme().GenerateKeyPair()
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Key{sk: sk}, nil
}

// PublicKey returns the marshalled public key for a job's recipient list.
func (k *Key) PublicKey() []byte {
	b, _ := k.sk.Public().MarshalBinary()
	return b
}

// Recipient returns k's entry for a job's recipient list.
func (k *Key) Recipient(name string) ledger.Recipient {
	return ledger.Recipient{Name: name, KEM: SuiteName, PublicKey: k.PublicKey()}
}

// WriteFile writes k to a new key file (mode 0600).
func (k *Key) WriteFile(path string) error {
	raw, _ := k.sk.MarshalBinary()
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return fmt.Errorf("seal: write key: %w", err)
	}
	return nil
}

// LoadOrCreateKey reads an HPKE key file, creating it (mode 0600) if absent.
func LoadOrCreateKey(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := GenerateKey()
		if err != nil {
			return nil, err
		}
		return k, k.WriteFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("seal: read key: %w", err)
	}
	atomicfile.WarnIfShared(path, "HPKE key")
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	return k, nil
}

// ParseKey decodes the bytes of a key file (a raw X25519 private key).
func ParseKey(b []byte) (*Key, error) {
	sk, err := hpke.KEM_X25519_HKDF_SHA256.Scheme().UnmarshalBinaryPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("seal: bad HPKE key: %w", err)
	}
	return &Key{sk: sk}, nil
}

// AAD binds a sealed update to its job, round and participant.
func AAD(job ledger.Hash, round uint64, participant string) []byte {
	b := append([]byte("floe/update/v1\x00"), job[:]...)
	b = binary.BigEndian.AppendUint64(b, round)
	return append(b, participant...)
}

type wrapped struct {
	Name string `cbor:"1,keyasint"`
	Enc  []byte `cbor:"2,keyasint"`
	Key  []byte `cbor:"3,keyasint"`
}

type envelope struct {
	Version    uint64    `cbor:"1,keyasint"`
	Suite      string    `cbor:"2,keyasint"`
	Nonce      []byte    `cbor:"3,keyasint"`
	Wrapped    []wrapped `cbor:"4,keyasint"`
	Ciphertext []byte    `cbor:"5,keyasint"`
}

// Seal encrypts plaintext to every recipient. rnd supplies randomness
// (crypto/rand.Reader when nil).
func Seal(plaintext []byte, recipients []ledger.Recipient, aad []byte, rnd io.Reader) ([]byte, error) {
	env, err := newEnvelope(recipients, aad, rnd)
	if err != nil {
		return nil, err
	}
	env.Ciphertext = env.gcm.Seal(nil, env.Nonce, plaintext, aad)
	return codec.Marshal(env.envelope)
}

// Overhead is what SealInPlace appends to the plaintext (the GCM tag):
// give the plaintext that much spare capacity and the ciphertext needs no
// second buffer.
const Overhead = 16

// SealInPlace is Seal without a second copy of the update: it encrypts
// plaintext in its own buffer (overwriting it; with Overhead bytes of
// spare capacity nothing is allocated) and returns the envelope as a
// short prefix followed by the ciphertext, whose concatenation is the
// bytes Seal returns for the same randomness. A caller streams the two
// into the store (blob.ReaderAtPutter) instead of joining them.
func SealInPlace(plaintext []byte, recipients []ledger.Recipient, aad []byte, rnd io.Reader) (prefix, ciphertext []byte, err error) {
	env, err := newEnvelope(recipients, aad, rnd)
	if err != nil {
		return nil, nil, err
	}
	ct := env.gcm.Seal(plaintext[:0], env.Nonce, plaintext, aad)
	// The ciphertext is the envelope's last field: encode the envelope
	// with an empty one, whose last byte is the empty byte string's
	// header (0x40), and put the real length's header in its place.
	env.Ciphertext = []byte{}
	b, err := codec.Marshal(env.envelope)
	if err != nil {
		return nil, nil, err
	}
	if len(b) == 0 || b[len(b)-1] != 0x40 {
		return nil, nil, errors.New("seal: unexpected envelope encoding")
	}
	return append(b[:len(b)-1], bstrHeader(uint64(len(ct)))...), ct, nil
}

// bstrHeader returns the CBOR header of a byte string of n bytes (major
// type 2, shortest length form, as deterministic encoding requires).
func bstrHeader(n uint64) []byte {
	switch {
	case n < 24:
		return []byte{0x40 | byte(n)}
	case n <= 0xff:
		return []byte{0x58, byte(n)}
	case n <= 0xffff:
		return []byte{0x59, byte(n >> 8), byte(n)}
	case n <= 0xffffffff:
		return []byte{0x5a, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return []byte{0x5b, byte(n >> 56), byte(n >> 48), byte(n >> 40), byte(n >> 32), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// sealing is an envelope whose data key is wrapped to every recipient,
// with the data key's cipher, before the plaintext is encrypted.
type sealing struct {
	envelope
	gcm cipher.AEAD
}

func newEnvelope(recipients []ledger.Recipient, aad []byte, rnd io.Reader) (*sealing, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if len(recipients) == 0 {
		return nil, errors.New("seal: no recipients")
	}
	dataKey := make([]byte, 16)
	nonce := make([]byte, 12)
	if _, err := io.ReadFull(rnd, dataKey); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	env := envelope{Version: 1, Suite: SuiteName, Nonce: nonce}
	scheme := hpke.KEM_X25519_HKDF_SHA256.Scheme()
	for _, r := range recipients {
		if r.KEM != SuiteName {
			return nil, fmt.Errorf("seal: recipient %q uses unsupported suite %q", r.Name, r.KEM)
		}
		pk, err := scheme.UnmarshalBinaryPublicKey(r.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("seal: recipient %q: %w", r.Name, err)
		}
		snd, err := suite.NewSender(pk, []byte(info))
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		enc, sealer, err := snd.Setup(rnd)
		if err != nil {
			return nil, fmt.Errorf("seal: recipient %q: %w", r.Name, err)
		}
		ct, err := sealer.Seal(dataKey, aad)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		env.Wrapped = append(env.Wrapped, wrapped{Name: r.Name, Enc: enc, Key: ct})
	}
	return &sealing{envelope: env, gcm: newGCM(dataKey)}, nil
}

func newGCM(key []byte) cipher.AEAD {
	blk, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // key length is fixed
	}
	g, err := cipher.NewGCM(blk)
	if err != nil {
		panic(err)
	}
	return g
}

// Recipients lists the names an envelope was sealed to.
func Recipients(b []byte) ([]string, error) {
	env, err := decode(b)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(env.Wrapped))
	for i, w := range env.Wrapped {
		names[i] = w.Name
	}
	return names, nil
}

// ctRef stands for an envelope's ciphertext while it is decoded: it
// checks that the item is a definite-length byte string in its shortest
// form and keeps its length, not its bytes.
type ctRef struct{ n int }

func (c *ctRef) UnmarshalCBOR(data []byte) error {
	if len(data) == 0 || data[0]>>5 != 2 {
		return errors.New("seal: ciphertext is not a byte string")
	}
	var n uint64
	h := 1
	switch info := data[0] & 0x1f; {
	case info < 24:
		n = uint64(info)
	case info >= 24 && info <= 27:
		h += 1 << (info - 24)
		if len(data) < h {
			return errors.New("seal: truncated ciphertext header")
		}
		for _, x := range data[1:h] {
			n = n<<8 | uint64(x)
		}
	default:
		return errors.New("seal: ciphertext of indefinite length")
	}
	if uint64(len(data)-h) != n || !bytes.Equal(data[:h], bstrHeader(n)) {
		return errors.New("seal: ciphertext header is not in its shortest form")
	}
	c.n = int(n)
	return nil
}

// envelopeRef is an envelope whose ciphertext is decoded as a ctRef.
type envelopeRef struct {
	Version    uint64    `cbor:"1,keyasint"`
	Suite      string    `cbor:"2,keyasint"`
	Nonce      []byte    `cbor:"3,keyasint"`
	Wrapped    []wrapped `cbor:"4,keyasint"`
	Ciphertext ctRef     `cbor:"5,keyasint"`
}

// decode parses an envelope without copying its ciphertext: the returned
// envelope's Ciphertext is the tail of b. The envelope must be in its
// canonical (deterministic) form, the only one Seal makes, in which the
// ciphertext is the last item.
func decode(b []byte) (*envelope, error) {
	var ref envelopeRef
	if err := codec.Unmarshal(b, &ref); err != nil {
		return nil, fmt.Errorf("seal: malformed envelope: %w", err)
	}
	if ref.Version != 1 || ref.Suite != SuiteName {
		return nil, fmt.Errorf("seal: unsupported envelope version %d suite %q", ref.Version, ref.Suite)
	}
	if len(ref.Nonce) != 12 {
		return nil, errors.New("seal: malformed envelope: bad nonce length")
	}
	env := &envelope{Version: ref.Version, Suite: ref.Suite, Nonce: ref.Nonce, Wrapped: ref.Wrapped, Ciphertext: []byte{}}
	head, err := codec.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("seal: malformed envelope: %w", err)
	}
	// head ends with the empty ciphertext's header (0x40); b must be head
	// without it, then the real header and the ciphertext.
	h := bstrHeader(uint64(ref.Ciphertext.n))
	off := len(head) - 1 + len(h)
	if len(b) != off+ref.Ciphertext.n || !bytes.Equal(b[:len(head)-1], head[:len(head)-1]) || !bytes.Equal(b[len(head)-1:off], h) {
		return nil, errors.New("seal: malformed envelope: not in canonical form")
	}
	env.Ciphertext = b[off:len(b):len(b)]
	return env, nil
}

// Open decrypts an envelope as the recipient named name. b is left as it
// was; OpenInPlace spares the plaintext's buffer.
func Open(b []byte, name string, k *Key, aad []byte) ([]byte, error) {
	return open(b, name, k, aad, false)
}

// OpenInPlace is Open decrypting into b's own buffer: the plaintext it
// returns shares b's memory, and b's contents are gone. For callers that
// fetched the envelope only to open it (the coordinator and auditors):
// one copy of an update instead of two. The plaintext starts where b
// starts (it is moved there once authenticated), so it is as aligned as
// b's buffer: a model file's float32 values can then be read where they
// are (package model's views).
func OpenInPlace(b []byte, name string, k *Key, aad []byte) ([]byte, error) {
	pt, err := open(b, name, k, aad, true)
	if err != nil || len(pt) == 0 {
		return pt, err
	}
	return b[:copy(b, pt)], nil
}

func open(b []byte, name string, k *Key, aad []byte, inPlace bool) ([]byte, error) {
	env, err := decode(b)
	if err != nil {
		return nil, err
	}
	for _, w := range env.Wrapped {
		if w.Name != name {
			continue
		}
		rcv, err := suite.NewReceiver(k.sk, []byte(info))
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		op, err := rcv.Setup(w.Enc)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrOpen, err)
		}
		dataKey, err := op.Open(w.Key, aad)
		if err != nil || len(dataKey) != 16 {
			return nil, fmt.Errorf("%w: wrapped key fails authentication", ErrOpen)
		}
		var dst []byte
		if inPlace {
			dst = env.Ciphertext[:0]
		}
		pt, err := newGCM(dataKey).Open(dst, env.Nonce, env.Ciphertext, aad)
		if err != nil {
			return nil, fmt.Errorf("%w: ciphertext fails authentication", ErrOpen)
		}
		return pt, nil
	}
	return nil, fmt.Errorf("%w %q", ErrNotRecipient, name)
}

// DeriveKey returns the key derived from seed (at least 32 bytes), for
// reproducible simulations; real recipients use GenerateKey.
func DeriveKey(seed []byte) (*Key, error) {
	s := hpke.KEM_X25519_HKDF_SHA256.Scheme()
	if len(seed) < s.SeedSize() {
		return nil, fmt.Errorf("seal: seed of %d bytes, need %d", len(seed), s.SeedSize())
	}
	_, sk := s.DeriveKeyPair(seed[:s.SeedSize()])
	return &Key{sk: sk}, nil
}
