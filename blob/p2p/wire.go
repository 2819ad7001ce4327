package p2p

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/floe-fl/floe/blob"

	"github.com/floe-fl/floe/codec"
	"github.com/libp2p/go-libp2p/core/network"
)

// Operations on transport.ProtoBlob. Every stream carries one request
// message (varint-length-prefixed deterministic CBOR), then for opStore the
// raw sliver bytes; the node answers with one reply message, and for a
// found opFetch the raw sliver bytes after it.
const (
	opStore uint8 = 1 // store one sliver; reply storeReply
	opFetch uint8 = 2 // fetch one sliver; reply fetchHeader + bytes
	opCert  uint8 = 3 // push a certificate; reply errReply
	opList  uint8 = 4 // list stored certificates after a cursor; reply listReply
	// opStoreTrailed stores one sliver whose commitment follows its
	// bytes: the request names no blob ID and its header no root or
	// proof; a storeTrailer message after the sliver bytes gives them. The
	// writer can then hash slivers while it sends them. Reply storeReply.
	opStoreTrailed uint8 = 5
)

// Message size limits.
const (
	requestLimit = 256 << 10 // a request: header with proof, or a certificate
	replyLimit   = 256 << 10 // a store or fetch reply
	listLimit    = 4 << 20   // a page of certificates
	listPage     = 128       // certificates per list page
	copyBuf      = 1 << 20   // streaming buffer per transfer
	readChunk    = 256 << 10 // a read into a sliver buffer between progress reports
)

// Timeouts on the node side.
const (
	headerTimeout = 30 * time.Second // to receive a request message
	idleTimeout   = 60 * time.Second // between chunks of a streamed sliver
)

type request struct {
	Op       uint8             `cbor:"1,keyasint"`
	ID       blob.ID           `cbor:"2,keyasint"`
	Index    uint32            `cbor:"3,keyasint"`
	Store    *storeHeader      `cbor:"4,keyasint,omitempty"`
	Cert     *blob.Certificate `cbor:"5,keyasint,omitempty"`
	HasAfter bool              `cbor:"6,keyasint,omitempty"`
}

// storeHeader describes the sliver that follows a store request.
type storeHeader struct {
	Enc        blob.Encoding `cbor:"1,keyasint"`
	Length     uint64        `cbor:"2,keyasint"`
	Root       blob.Hash     `cbor:"3,keyasint"`
	Proof      []blob.Hash   `cbor:"4,keyasint"`
	LifetimeMs uint64        `cbor:"5,keyasint"`
}

// storeTrailer follows the sliver bytes of an opStoreTrailed request: the
// blob's Merkle root and the sliver's proof (the blob ID follows from the
// header's encoding and length and the root).
type storeTrailer struct {
	Root  blob.Hash   `cbor:"1,keyasint"`
	Proof []blob.Hash `cbor:"2,keyasint"`
}

type storeReply struct {
	Ack *blob.Ack `cbor:"1,keyasint,omitempty"`
	Err string    `cbor:"2,keyasint,omitempty"`
}

// fetchHeader precedes a served sliver; Found false means none follows.
type fetchHeader struct {
	Found  bool          `cbor:"1,keyasint"`
	Err    string        `cbor:"2,keyasint,omitempty"`
	Enc    blob.Encoding `cbor:"3,keyasint"`
	Length uint64        `cbor:"4,keyasint"`
	Root   blob.Hash     `cbor:"5,keyasint"`
	Proof  []blob.Hash   `cbor:"6,keyasint"`
}

type errReply struct {
	Err string `cbor:"1,keyasint,omitempty"`
}

type listEntry struct {
	Cert        blob.Certificate `cbor:"1,keyasint"`
	ExpiresAtMs int64            `cbor:"2,keyasint"` // 0: never
}

type listReply struct {
	Entries []listEntry `cbor:"1,keyasint"`
	More    bool        `cbor:"2,keyasint"`
}

// checkHeader validates a sliver header against the blob ID it claims and
// returns the sliver size.
func checkHeader(id blob.ID, index uint32, enc blob.Encoding, length uint64, root blob.Hash, proof []blob.Hash) (uint64, error) {
	if err := enc.Validate(); err != nil {
		return 0, err
	}
	if blob.IDFor(enc, length, root) != id {
		return 0, fmt.Errorf("blob: header does not hash to blob ID %s", id)
	}
	if int(index) >= int(enc.N) {
		return 0, fmt.Errorf("blob: sliver index %d outside n=%d", index, enc.N)
	}
	if len(proof) != blob.ProofDepth(int(enc.N)) {
		return 0, fmt.Errorf("blob: proof of %d hashes, want %d", len(proof), blob.ProofDepth(int(enc.N)))
	}
	return enc.SliverSize(length), nil
}

// idleReader sets a fresh read deadline before every read, so a peer that
// stops sending is cut off after idle without bounding the whole transfer.
type idleReader struct {
	s    network.Stream
	idle time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	_ = r.s.SetReadDeadline(time.Now().Add(r.idle))
	return r.s.Read(p)
}

// idleWriter is idleReader's counterpart for writes.
type idleWriter struct {
	s    network.Stream
	idle time.Duration
}

func (w idleWriter) Write(p []byte) (int, error) {
	_ = w.s.SetWriteDeadline(time.Now().Add(w.idle))
	return w.s.Write(p)
}

// copyHashed reads exactly n bytes from r, hashing them as a leaf, and
// writes them to w (when not nil) in chunks of len(buf).
// copyBufs holds streaming buffers of copyBuf bytes for reuse: a fresh
// megabyte costs 256 first-touch page faults, which on a paravirtualised
// machine is milliseconds per transfer, more than moving a small sliver.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// getCopyBuf returns a streaming buffer for a transfer of n bytes and the
// function that gives it back: a pooled copyBuf-byte buffer, or for short
// transfers a buffer of exactly n bytes.
func getCopyBuf(n uint64) ([]byte, func()) {
	if n < copyBuf/4 {
		return make([]byte, max(n, 1)), func() {}
	}
	b := copyBufs.Get().(*[]byte)
	return *b, func() { copyBufs.Put(b) }
}

func copyHashed(w io.Writer, r io.Reader, n uint64, buf []byte) (blob.Hash, error) {
	h := blob.NewLeafHasher()
	var done uint64
	for done < n {
		chunk := buf
		if rem := n - done; rem < uint64(len(chunk)) {
			chunk = chunk[:rem]
		}
		m, err := io.ReadFull(r, chunk)
		if m > 0 {
			h.Write(chunk[:m])
			if w != nil {
				if _, werr := w.Write(chunk[:m]); werr != nil {
					return blob.Hash{}, werr
				}
			}
			done += uint64(m)
		}
		if err != nil {
			return blob.Hash{}, fmt.Errorf("blob: sliver body: read %d of %d bytes: %w", done, n, err)
		}
	}
	var out blob.Hash
	h.Sum(out[:0])
	return out, nil
}

// readHashed reads exactly len(dst) bytes from r into dst, hashing them as
// a leaf as they arrive (no intermediate buffer). onData, when not nil, is
// called with the count of bytes of dst filled so far after each chunk.
func readHashed(dst []byte, r io.Reader, onData func(int)) (blob.Hash, error) {
	h := blob.NewLeafHasher()
	done := 0
	for done < len(dst) {
		end := min(done+readChunk, len(dst))
		m, err := io.ReadFull(r, dst[done:end])
		if m > 0 {
			h.Write(dst[done : done+m])
			done += m
			if onData != nil {
				onData(done)
			}
		}
		if err != nil {
			return blob.Hash{}, fmt.Errorf("blob: sliver body: read %d of %d bytes: %w", done, len(dst), err)
		}
	}
	var out blob.Hash
	h.Sum(out[:0])
	return out, nil
}

func writeMsg(w io.Writer, v any) error { return codec.WriteMsg(w, v) }
