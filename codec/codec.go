package codec

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// MaxMessageSize is the default limit on one control message, in bytes.
const MaxMessageSize = 4 << 20

// ErrMessageTooLarge reports a length prefix above the reader's limit.
var ErrMessageTooLarge = errors.New("codec: message exceeds size limit")

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxNestedLevels:   16,
		MaxArrayElements:  1 << 20,
		MaxMapPairs:       1 << 16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal encodes v as deterministic CBOR (RFC 8949 Core Deterministic Encoding),
// so equal values always have equal bytes and hashes.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// Unmarshal decodes strict CBOR into v: duplicate map keys, indefinite lengths,
// unknown fields and invalid UTF-8 are errors.
func Unmarshal(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("codec: decode: %w", err)
	}
	return nil
}

// WriteMsg writes v as a varint-length-prefixed deterministic CBOR message.
func WriteMsg(w io.Writer, v any) error {
	b, err := Marshal(v)
	if err != nil {
		return fmt.Errorf("codec: encode: %w", err)
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(append(hdr[:n:n], b...)); err != nil {
		return fmt.Errorf("codec: write: %w", err)
	}
	return nil
}

// ReadMsg reads one varint-length-prefixed CBOR message of at most limit bytes
// into v. It never allocates more than limit bytes for the body.
func ReadMsg(r io.Reader, limit int, v any) error {
	b, err := ReadFrame(r, limit)
	if err != nil {
		return err
	}
	return Unmarshal(b, v)
}

// ReadFrame reads one varint-length-prefixed frame of at most limit bytes.
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = &byteReader{r: r}
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("codec: read length: %w", err)
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: %d > %d bytes", ErrMessageTooLarge, n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("codec: read body: %w", err)
	}
	return b, nil
}

// byteReader reads single bytes without buffering past the varint, so the
// bytes after the frame stay in r for the caller (bulk payloads follow frames).
type byteReader struct {
	r   io.Reader
	buf [1]byte
}

func (b *byteReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(b.r, b.buf[:]); err != nil {
		return 0, err
	}
	return b.buf[0], nil
}

var _ io.ByteReader = (*bufio.Reader)(nil)
