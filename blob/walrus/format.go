package walrus

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/floe-fl/floe/codec"
)

// CertVersion is the certificate format version.
const CertVersion = 1

// ManifestVersion is the manifest format version.
const ManifestVersion = 1

// ManifestMagic starts every manifest blob. A blob this package stores whose
// own bytes start with it is stored under a manifest, so that a reader never
// takes data for a manifest.
const ManifestMagic = "floe/walrus-manifest\x00"

// MaxParts bounds the parts a manifest may list.
const MaxParts = 1 << 20

// ErrBadCertificate reports a certificate that does not verify.
var ErrBadCertificate = errors.New("walrus: bad certificate")

// ErrBadManifest reports a manifest blob that does not parse or holds
// together.
var ErrBadManifest = errors.New("walrus: bad manifest")

// Certificate is what Put returns beside the ID: floe's own hash of the
// bytes, their length, and whether the ID names a manifest. Its CBOR is
// {1: version, 2: SHA-256, 3: length, 4: manifest (omitted when false)}, at
// most 50 bytes.
type Certificate struct {
	Version  uint64 `cbor:"1,keyasint"`
	SHA256   []byte `cbor:"2,keyasint"`
	Length   uint64 `cbor:"3,keyasint"`
	Manifest bool   `cbor:"4,keyasint,omitempty"`
}

// Marshal returns the certificate's canonical CBOR.
func (c *Certificate) Marshal() ([]byte, error) { return codec.Marshal(c) }

// ParseCertificate decodes a certificate strictly: canonical CBOR only,
// known fields only, version CertVersion, a 32-byte hash.
func ParseCertificate(b []byte) (*Certificate, error) {
	var c Certificate
	if err := codec.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCertificate, err)
	}
	if again, err := codec.Marshal(&c); err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrBadCertificate)
	}
	switch {
	case c.Version != CertVersion:
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadCertificate, c.Version, CertVersion)
	case len(c.SHA256) != sha256.Size:
		return nil, fmt.Errorf("%w: hash of %d bytes, want %d", ErrBadCertificate, len(c.SHA256), sha256.Size)
	case !c.Manifest && c.Length == 0:
		return nil, fmt.Errorf("%w: an empty blob is always stored under a manifest", ErrBadCertificate)
	}
	return &c, nil
}

// Part is one part of a manifest: the Walrus blob ID it is stored under and
// the SHA-256 of its bytes.
type Part struct {
	ID     [32]byte `cbor:"1,keyasint"`
	SHA256 [32]byte `cbor:"2,keyasint"`
}

// Manifest lists the parts of a blob stored in more than one Walrus blob
// (or of an empty blob, or of one whose bytes start with ManifestMagic).
// Every part but the last holds exactly PartSize bytes; the last holds the
// rest (1 to PartSize bytes).
type Manifest struct {
	Version  uint64   `cbor:"1,keyasint"`
	Length   uint64   `cbor:"2,keyasint"` // the whole blob's length
	SHA256   [32]byte `cbor:"3,keyasint"` // the whole blob's SHA-256
	PartSize uint64   `cbor:"4,keyasint"`
	Parts    []Part   `cbor:"5,keyasint"`
}

// Marshal returns ManifestMagic followed by the manifest's canonical CBOR.
func (m *Manifest) Marshal() ([]byte, error) {
	b, err := codec.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append([]byte(ManifestMagic), b...), nil
}

// partLen returns the length of part i.
func (m *Manifest) partLen(i int) uint64 {
	if i < len(m.Parts)-1 {
		return m.PartSize
	}
	return m.Length - m.PartSize*uint64(len(m.Parts)-1)
}

// ParseManifest decodes a manifest blob (ManifestMagic and canonical CBOR)
// and checks that its parts add up to its length.
func ParseManifest(b []byte) (*Manifest, error) {
	rest, ok := bytes.CutPrefix(b, []byte(ManifestMagic))
	if !ok {
		return nil, fmt.Errorf("%w: no magic", ErrBadManifest)
	}
	var m Manifest
	if err := codec.Unmarshal(rest, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if again, err := codec.Marshal(&m); err != nil || !bytes.Equal(again, rest) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrBadManifest)
	}
	n := uint64(len(m.Parts))
	switch {
	case m.Version != ManifestVersion:
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadManifest, m.Version, ManifestVersion)
	case n > MaxParts:
		return nil, fmt.Errorf("%w: %d parts, at most %d", ErrBadManifest, n, MaxParts)
	case n == 0 && (m.Length != 0 || m.PartSize != 0):
		return nil, fmt.Errorf("%w: no parts for %d bytes", ErrBadManifest, m.Length)
	case n > 0 && m.PartSize == 0:
		return nil, fmt.Errorf("%w: part size 0", ErrBadManifest)
	case n > 0 && (m.Length <= (n-1)*m.PartSize || m.Length > n*m.PartSize || m.PartSize > m.Length):
		return nil, fmt.Errorf("%w: %d parts of %d bytes cannot hold %d bytes", ErrBadManifest, n, m.PartSize, m.Length)
	}
	return &m, nil
}
