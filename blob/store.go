package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// ErrStopped reports a store that will not serve again: it was closed, or
// its process is going away. Callers stop instead of retrying.
var ErrStopped = errors.New("blob: store stopped")

// Store is the blob store as the coordinator, participants and auditors
// use it: floe's own committee (package blob/p2p), an in-memory store for
// tests (blob/mem), or another backend. An error that wraps ErrStopped
// means the store will not serve again.
type Store interface {
	// Put stores data, kept for lifetime (0: forever), and returns its ID
	// and availability certificate (CBOR).
	Put(ctx context.Context, data []byte, lifetime time.Duration) ([32]byte, []byte, error)
	// Get reads a blob.
	Get(ctx context.Context, id [32]byte) ([]byte, error)
	// VerifyCert checks a certificate for the blob id.
	VerifyCert(id [32]byte, cert []byte) error
}

// ReaderAtPutter is a Store that puts a blob read from an io.ReaderAt with
// memory bounded independently of the blob's size (floe's committee: see
// blob/p2p's PutFrom).
type ReaderAtPutter interface {
	PutFrom(ctx context.Context, r io.ReaderAt, size int64, lifetime time.Duration) ([32]byte, []byte, error)
}

// PutParts stores the concatenation of parts without joining them when st
// is a ReaderAtPutter (else it joins them for Put), and returns the blob's
// ID and certificate.
func PutParts(ctx context.Context, st Store, parts Parts, lifetime time.Duration) ([32]byte, []byte, error) {
	if p, ok := st.(ReaderAtPutter); ok {
		return p.PutFrom(ctx, parts, parts.Size(), lifetime)
	}
	if len(parts) == 1 {
		return st.Put(ctx, parts[0], lifetime)
	}
	b := make([]byte, 0, parts.Size())
	for _, p := range parts {
		b = append(b, p...)
	}
	return st.Put(ctx, b, lifetime)
}

// Parts is a blob held as consecutive byte slices (an envelope's header and
// its ciphertext, say): an io.ReaderAt over their concatenation.
type Parts [][]byte

// Size returns the total length of the parts.
func (ps Parts) Size() int64 {
	var n int64
	for _, p := range ps {
		n += int64(len(p))
	}
	return n
}

// ReadAt reads len(b) bytes of the concatenation at off.
func (ps Parts) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("blob: negative offset")
	}
	n := 0
	for _, p := range ps {
		if len(b) == 0 {
			break
		}
		if off >= int64(len(p)) {
			off -= int64(len(p))
			continue
		}
		c := copy(b, p[off:])
		n, b, off = n+c, b[c:], 0
	}
	if len(b) > 0 {
		return n, io.EOF
	}
	return n, nil
}

type maxLengthKey struct{}

// WithMaxLength returns a context that asks a Store's Get to refuse, with a
// *TooLargeError, a blob of more than max bytes, before it downloads it
// where it can (floe's committee learns a blob's length, which its ID
// commits to, from the first sliver header).
func WithMaxLength(ctx context.Context, max uint64) context.Context {
	return context.WithValue(ctx, maxLengthKey{}, max)
}

// MaxLength returns the length limit WithMaxLength put in ctx.
func MaxLength(ctx context.Context) (uint64, bool) {
	m, ok := ctx.Value(maxLengthKey{}).(uint64)
	return m, ok
}

type bufferKey struct{}

// bufferBox holds an offered buffer until a Get takes it.
type bufferBox struct {
	mu  sync.Mutex
	buf []byte
}

// WithBuffer returns a context that offers buf to a Store's Get: a Get
// that reads into a buffer of its own (floe's committee, the in-memory
// store) takes it (TakeBuffer) and reads the blob into it when its
// capacity suffices; the blob it returns then shares buf's memory. For
// readers that read blobs of about one size one after another and are
// done with each before the next (the coordinator's fold): no fresh
// memory per blob, which on machines where a new page costs a fault is
// most of a read's cost. The context keeps no reference to buf once it is
// taken, so contexts derived from it that outlive the Get do not keep the
// buffer alive.
func WithBuffer(ctx context.Context, buf []byte) context.Context {
	return context.WithValue(ctx, bufferKey{}, &bufferBox{buf: buf})
}

// TakeBuffer returns the buffer WithBuffer put in ctx, once: nil when
// there is none or it was taken.
func TakeBuffer(ctx context.Context) []byte {
	b, _ := ctx.Value(bufferKey{}).(*bufferBox)
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	buf := b.buf
	b.buf = nil
	return buf
}

// TooLargeError reports a blob longer than its reader accepts.
type TooLargeError struct {
	ID     [32]byte
	Length uint64
	Max    uint64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("blob: %s is %d bytes, more than the %d its reader accepts", ID(e.ID), e.Length, e.Max)
}

// GetAtMost reads blob id from st, refusing one of more than max bytes
// (with a *TooLargeError): before downloading it where st supports
// WithMaxLength, after otherwise.
func GetAtMost(ctx context.Context, st Store, id [32]byte, max uint64) ([]byte, error) {
	b, err := st.Get(WithMaxLength(ctx, max), id)
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) > max {
		return nil, &TooLargeError{ID: id, Length: uint64(len(b)), Max: max}
	}
	return b, nil
}
