package blob

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/fxamacker/cbor/v2"
	"github.com/klauspost/reedsolomon"
	"github.com/zeebo/blake3"
)

// ID names a blob: BLAKE3 (256-bit output) over its encoding type, its
// little-endian unencoded length and the Merkle root of its sliver hashes.
type ID [32]byte

// idEncoding is the one text form of an ID: URL-safe base64 without padding
// (43 characters), as Walrus writes blob IDs.
var idEncoding = base64.RawURLEncoding

// String returns the ID in its text form: URL-safe unpadded base64.
func (id ID) String() string { return idEncoding.EncodeToString(id[:]) }

// ParseID parses the text form written by ID.String.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != idEncoding.EncodedLen(len(id)) {
		return id, fmt.Errorf("blob: bad blob ID %q: want %d characters of URL-safe base64", s, idEncoding.EncodedLen(len(id)))
	}
	b, err := idEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("blob: bad blob ID %q: not URL-safe unpadded base64", s)
	}
	copy(id[:], b)
	return id, nil
}

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// MarshalCBOR encodes the ID as a 32-byte CBOR byte string.
func (id ID) MarshalCBOR() ([]byte, error) { return cbor.Marshal(id[:]) }

// UnmarshalCBOR decodes a CBOR byte string of exactly 32 bytes.
func (id *ID) UnmarshalCBOR(b []byte) error { return unmarshal32(b, (*[32]byte)(id), "ID") }

// unmarshal32 decodes a CBOR byte string of exactly 32 bytes into dst.
func unmarshal32(b []byte, dst *[32]byte, what string) error {
	var v []byte
	if err := cbor.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("blob: decode %s: %w", what, err)
	}
	if len(v) != len(dst) {
		return fmt.Errorf("blob: decode %s: %d bytes, want %d", what, len(v), len(dst))
	}
	copy(dst[:], v)
	return nil
}

// Hash is a BLAKE3-256 digest (a sliver leaf, a Merkle node or a root).
type Hash [32]byte

// MarshalCBOR encodes the hash as a 32-byte CBOR byte string.
func (h Hash) MarshalCBOR() ([]byte, error) { return cbor.Marshal(h[:]) }

// UnmarshalCBOR decodes a CBOR byte string of exactly 32 bytes.
func (h *Hash) UnmarshalCBOR(b []byte) error { return unmarshal32(b, (*[32]byte)(h), "hash") }

// Encoding format constants. A change to any of them changes every blob ID,
// so each gets a new number instead of a new meaning.
const (
	// FormatVersion is the version of the sliver layout and ID derivation.
	// Version 1 (Blake2b-256, 6-byte encoding type) is no longer accepted;
	// version 2 names the hash in the encoding type.
	FormatVersion = 2
	// MatrixVandermondeGF8 is klauspost/reedsolomon's default GF(2^8)
	// systematic Vandermonde-derived matrix (reedsolomon.New with no options,
	// n <= 256, so never Leopard).
	MatrixVandermondeGF8 = 1
	// HashBLAKE3 is BLAKE3 with 32-byte output, for sliver leaves, Merkle
	// nodes and the blob ID. Kind 1 was Blake2b-256 (format version 1,
	// implicit there); it measured 3-4x slower per core than BLAKE3 on
	// floe's reference machine and is not accepted.
	HashBLAKE3 = 2
	// MaxCommittee is the largest committee size: above 256 shards
	// reedsolomon switches to Leopard GF16, a different code.
	MaxCommittee = 256
)

// Encoding is a blob's encoding type: format version, matrix kind, hash
// function, sliver count n and data-shard count k. Its 7-byte binary form
// (version, matrix, hash, LE uint16 n, LE uint16 k) is hashed into the blob
// ID.
type Encoding struct {
	Version uint8  `cbor:"1,keyasint"`
	Matrix  uint8  `cbor:"2,keyasint"`
	N       uint16 `cbor:"3,keyasint"`
	K       uint16 `cbor:"4,keyasint"`
	Hash    uint8  `cbor:"5,keyasint"`
}

// EncodingFor returns the current encoding for a committee of n members:
// f = floor((n-1)/3), k = n - 2f.
func EncodingFor(n int) (Encoding, error) {
	if n < 1 || n > MaxCommittee {
		return Encoding{}, fmt.Errorf("blob: committee size %d outside 1..%d", n, MaxCommittee)
	}
	f := (n - 1) / 3
	return Encoding{Version: FormatVersion, Matrix: MatrixVandermondeGF8, Hash: HashBLAKE3, N: uint16(n), K: uint16(n - 2*f)}, nil
}

// Validate reports whether e is an encoding this package can decode.
func (e Encoding) Validate() error {
	if e.Version != FormatVersion {
		return fmt.Errorf("blob: unsupported encoding version %d", e.Version)
	}
	if e.Matrix != MatrixVandermondeGF8 {
		return fmt.Errorf("blob: unsupported matrix kind %d", e.Matrix)
	}
	if e.Hash != HashBLAKE3 {
		return fmt.Errorf("blob: unsupported hash kind %d", e.Hash)
	}
	want, err := EncodingFor(int(e.N))
	if err != nil {
		return err
	}
	if want != e {
		return fmt.Errorf("blob: encoding n=%d k=%d, want k=%d", e.N, e.K, want.K)
	}
	return nil
}

func (e Encoding) bytes() []byte {
	var b [7]byte
	b[0], b[1], b[2] = e.Version, e.Matrix, e.Hash
	binary.LittleEndian.PutUint16(b[3:], e.N)
	binary.LittleEndian.PutUint16(b[5:], e.K)
	return b[:]
}

// SliverSize returns the size of every sliver of a blob of length bytes:
// ceil(length/k), at least 1 (an empty blob has one zero byte per shard).
func (e Encoding) SliverSize(length uint64) uint64 {
	k := uint64(e.K)
	s := (length + k - 1) / k
	if s == 0 {
		s = 1
	}
	return s
}

// IDFor returns the blob ID of a blob of length bytes with the given
// encoding and Merkle root: BLAKE3(encoding type || LE uint64 length || root).
func IDFor(e Encoding, length uint64, root Hash) ID {
	h := blake3.New()
	h.Write(e.bytes())
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], length)
	h.Write(l[:])
	h.Write(root[:])
	var id ID
	h.Sum(id[:0])
	return id
}

// Merkle tree: leaves are BLAKE3(0x00 || sliver), inner nodes
// BLAKE3(0x01 || left || right), all with 32-byte output; the leaf level is
// padded to a power of two with all-zero hashes.

// NewLeafHasher returns a hasher that computes a sliver's Merkle leaf
// (BLAKE3(0x00 || sliver)) from the sliver bytes written to it, for
// slivers hashed while they stream.
func NewLeafHasher() LeafHasher {
	h := newHasher() // 16 chunks at a time (hasher.go)
	h.Write([]byte{0x00})
	return h
}

// LeafHasher hashes one sliver; Sum appends its leaf hash.
type LeafHasher interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

func leafHash(sliver []byte) Hash {
	h := NewLeafHasher()
	h.Write(sliver)
	var out Hash
	h.Sum(out[:0])
	return out
}

func nodeHash(l, r Hash) Hash {
	var b [65]byte
	b[0] = 0x01
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return blake3.Sum256(b[:])
}

// merkleLevels returns all levels of the tree, leaves (padded) first.
func merkleLevels(leaves []Hash) [][]Hash {
	w := 1
	for w < len(leaves) {
		w *= 2
	}
	level := make([]Hash, w)
	copy(level, leaves)
	levels := [][]Hash{level}
	for len(level) > 1 {
		next := make([]Hash, len(level)/2)
		for i := range next {
			next[i] = nodeHash(level[2*i], level[2*i+1])
		}
		levels = append(levels, next)
		level = next
	}
	return levels
}

// MerkleRoot returns the root over the leaves.
func MerkleRoot(leaves []Hash) Hash {
	l := merkleLevels(leaves)
	return l[len(l)-1][0]
}

// MerkleProofs returns the root and, for each leaf, its sibling path from
// the leaf level up.
func MerkleProofs(leaves []Hash) (Hash, [][]Hash) {
	levels := merkleLevels(leaves)
	proofs := make([][]Hash, len(leaves))
	for i := range leaves {
		idx := i
		var p []Hash
		for _, lv := range levels[:len(levels)-1] {
			p = append(p, lv[idx^1])
			idx /= 2
		}
		proofs[i] = p
	}
	return levels[len(levels)-1][0], proofs
}

// ProofDepth is the number of siblings in a proof for n leaves.
func ProofDepth(n int) int {
	d := 0
	for w := 1; w < n; w *= 2 {
		d++
	}
	return d
}

// VerifyProof reports whether leaf at index, with proof, hashes to root in a
// tree of n leaves.
func VerifyProof(leaf Hash, index, n int, proof []Hash, root Hash) bool {
	if index < 0 || index >= n || len(proof) != ProofDepth(n) {
		return false
	}
	h := leaf
	idx := index
	for _, s := range proof {
		if idx%2 == 0 {
			h = nodeHash(h, s)
		} else {
			h = nodeHash(s, h)
		}
		idx /= 2
	}
	return h == root
}

// encoded is a blob split into n slivers with their hashes, proofs and ID.
type encoded struct {
	enc     Encoding
	length  uint64
	slivers [][]byte // n slivers of enc.SliverSize(length) bytes, one backing array
	buf     []byte   // that array when it may be recycled (see release)
	leaves  []Hash
	proofs  [][]Hash
	root    Hash
	id      ID
}

func newCoder(e Encoding) (reedsolomon.Encoder, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	rs, err := reedsolomon.New(int(e.K), int(e.N-e.K))
	if err != nil {
		return nil, fmt.Errorf("blob: reedsolomon: %w", err)
	}
	return rs, nil
}

// encode splits data into k zero-padded data shards, computes n-k parity
// shards and commits to all n.
func encode(data []byte, n int) (*encoded, error) {
	x, err := encodeData(data, n)
	if err != nil {
		return nil, err
	}
	c := commit(x.enc, x.length, x.slivers)
	c.buf = x.buf
	return c, nil
}

// encodeData is encode without the commitment: x's slivers (in a recycled
// buffer), encoding and length are set.
func encodeData(data []byte, n int) (*encoded, error) {
	e, err := EncodingFor(n)
	if err != nil {
		return nil, err
	}
	rs, err := newCoder(e)
	if err != nil {
		return nil, err
	}
	ss := int(e.SliverSize(uint64(len(data))))
	buf := getSliverBuf(n * ss)
	copyChunked(buf, data)
	clearChunked(buf[len(data) : int(e.K)*ss]) // padding; RS writes all parity
	slivers := make([][]byte, n)
	for i := range slivers {
		slivers[i] = buf[i*ss : (i+1)*ss : (i+1)*ss]
	}
	if err := rs.Encode(slivers); err != nil {
		return nil, fmt.Errorf("blob: encode: %w", err)
	}
	return &encoded{enc: e, length: uint64(len(data)), slivers: slivers, buf: buf}, nil
}

// release hands x's sliver buffer back for reuse by a later encode. The
// caller must not use x.slivers afterwards (nor let anything else).
func (x *encoded) release() {
	if x.buf != nil {
		putSliverBuf(x.buf)
		x.buf, x.slivers = nil, nil
	}
}

// Sliver buffers of puts are recycled: a 64 MiB blob on 7 members needs
// 149 MiB of slivers, and a fresh allocation of that size costs a page
// fault per 4 KiB (measured: with the copy into it, about 30% of a put's
// CPU on floe's 2-core reference machine, partly through the garbage
// collector spinning while an unpreemptible 85 MiB clear ran). sync.Pool
// drops idle buffers after two collections.
var sliverBufs sync.Pool // of *[]byte

// getSliverBuf returns a buffer of size bytes with arbitrary contents.
func getSliverBuf(size int) []byte {
	if p, ok := sliverBufs.Get().(*[]byte); ok {
		if b := *p; cap(b) >= size && cap(b) <= 2*size+copyChunk {
			return b[:size]
		}
	}
	return make([]byte, size)
}

func putSliverBuf(b []byte) { sliverBufs.Put(&b) }

// copyChunk bounds each memmove and memclr of bulk data, so that the
// garbage collector can preempt the goroutine between chunks instead of
// spinning until a copy of tens of MiB finishes.
const copyChunk = 1 << 20

func copyChunked(dst, src []byte) {
	for off := 0; off < len(src); off += copyChunk {
		copy(dst[off:], src[off:min(off+copyChunk, len(src))])
	}
}

func clearChunked(b []byte) {
	for off := 0; off < len(b); off += copyChunk {
		clear(b[off:min(off+copyChunk, len(b))])
	}
}

// commit hashes the slivers and builds the Merkle tree and ID.
func commit(e Encoding, length uint64, slivers [][]byte) *encoded {
	leaves := make([]Hash, len(slivers))
	idx := make([]int, len(slivers))
	for i := range idx {
		idx[i] = i
	}
	hashParallel(slivers, idx, leaves)
	root, proofs := MerkleProofs(leaves)
	return &encoded{enc: e, length: length, slivers: slivers, leaves: leaves, proofs: proofs, root: root, id: IDFor(e, length, root)}
}

// Commit hashes slivers (n of e.SliverSize(length) bytes each, the blob's
// codeword or not) and builds their Merkle tree and blob ID. Tests use it to
// build blobs whose slivers verify but do not decode.
func Commit(e Encoding, length uint64, slivers [][]byte) *Slivers {
	return commit(e, length, slivers).export()
}

// ComputeID returns the ID that the bytes data get on a committee of n
// members, without any network.
func ComputeID(data []byte, n int) (ID, error) {
	x, err := encode(data, n)
	if err != nil {
		return ID{}, err
	}
	defer x.release()
	return x.id, nil
}

// ErrNotEnoughSlivers reports a blob with fewer than k valid slivers to
// decode from; readers wrap it in their own errors (p2p.NotEnoughSliversError).
var ErrNotEnoughSlivers = errors.New("blob: not enough valid slivers")

// ErrInconsistentEncoding reports a blob whose slivers all verify against its
// ID but are not one Reed-Solomon codeword of zero-padded data: the writer
// encoded it wrongly, and no reader may return it as data.
var ErrInconsistentEncoding = errors.New("blob: inconsistent encoding: valid slivers do not form the committed codeword")

// DecodeVerified rebuilds the blob from at least k verified slivers (others nil),
// whose leaf hashes are in leaves, re-encodes it, and checks that the
// codeword matches the committed root and that the padding is zero. A
// re-encoded sliver that was received is compared byte for byte (its leaf is
// known); the others are hashed, in parallel. It returns the data.
//
// base, when it has k*s bytes, holds the received data slivers in place
// (slivers[i] aliases base[i*s:(i+1)*s] for i < k when not nil): missing
// data slivers are rebuilt into it and it is returned without a copy.
func DecodeVerified(e Encoding, length uint64, root Hash, slivers [][]byte, leaves []Hash, base []byte) ([]byte, error) {
	rs, err := newCoder(e)
	if err != nil {
		return nil, err
	}
	n, k := int(e.N), int(e.K)
	if len(slivers) != n || len(leaves) != n {
		return nil, fmt.Errorf("blob: decode: %d slivers and %d leaves for n=%d", len(slivers), len(leaves), n)
	}
	recv := make([]bool, n)
	for i, sl := range slivers {
		recv[i] = sl != nil
	}
	ss := int(e.SliverSize(length))
	inPlace := len(base) == k*ss
	for i := 0; i < k && inPlace; i++ {
		if slivers[i] == nil {
			slivers[i] = base[i*ss : i*ss : (i+1)*ss] // rebuilt in place
		} else if &slivers[i][0] != &base[i*ss] {
			inPlace = false
		}
	}
	if err := rs.ReconstructData(slivers); err != nil {
		return nil, fmt.Errorf("blob: reconstruct: %w", err)
	}
	full := make([][]byte, n)
	data := base
	if inPlace {
		for i := 0; i < k; i++ {
			inPlace = inPlace && len(slivers[i]) == ss && &slivers[i][0] == &base[i*ss]
		}
	}
	if !inPlace {
		data = make([]byte, k*ss)
		for i := 0; i < k; i++ {
			copy(data[i*ss:], slivers[i])
		}
	}
	for i := 0; i < k; i++ {
		full[i] = data[i*ss : (i+1)*ss : (i+1)*ss]
	}
	if !allZero(data[length:]) {
		return nil, ErrInconsistentEncoding
	}
	// Re-encode stripe by stripe (Reed-Solomon works column-wise), so the
	// parity never exists whole: each stripe is compared with the received
	// parity slivers or hashed into the leaves of those not received, while
	// it is still in cache, and no (n-k)*s buffer is allocated.
	all := make([]Hash, n)
	var todo []int
	hs := make([]LeafHasher, n)
	for i := range n {
		if recv[i] {
			// A received data sliver is its own re-encoding (reconstruction
			// leaves present shards alone); received parity is compared
			// below.
			all[i] = leaves[i]
			continue
		}
		todo = append(todo, i)
		hs[i] = NewLeafHasher()
	}
	stripe := min(ss, DecodeStripe)
	pbuf := make([]byte, (n-k)*stripe)
	shards := make([][]byte, n)
	for off := 0; off < ss; off += stripe {
		end := min(off+stripe, ss)
		for i := range k {
			shards[i] = full[i][off:end:end]
		}
		for j := range n - k {
			shards[k+j] = pbuf[j*stripe : j*stripe+end-off : j*stripe+end-off]
		}
		if err := rs.Encode(shards); err != nil {
			return nil, fmt.Errorf("blob: re-encode: %w", err)
		}
		for i := k; i < n; i++ {
			if recv[i] && !bytes.Equal(shards[i], slivers[i][off:end]) {
				return nil, ErrInconsistentEncoding
			}
		}
		writeParallel(hs, shards, todo)
	}
	for _, i := range todo {
		hs[i].Sum(all[i][:0])
	}
	if MerkleRoot(all) != root {
		return nil, ErrInconsistentEncoding
	}
	return data[:length:length], nil
}

// DecodeStripe is the width of the stripes DecodeVerified and StripeCheck
// re-encode at a time.
const DecodeStripe = 256 << 10

// StripeCheck re-encodes a blob's k data slivers stripe by stripe while a
// read receives them into base (sliver i at base[i*s:(i+1)*s]), hashing
// the n-k parity slivers it produces as leaves. It is DecodeVerified's consistency
// check moved into the transfer, for reads that get every data sliver.
type StripeCheck struct {
	n, k, ss int
	base     []byte
	recvd    []atomic.Int64 // bytes of data sliver i present in base
	wake     chan struct{}  // capacity 1: progress was made
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	leaves   []Hash // parity leaves, once every stripe was hashed
}

// StartStripeCheck starts a check for a committee of n members whose data
// slivers of ss bytes arrive in base; it returns nil when base does not
// fit n's encoding.
func StartStripeCheck(n int, base []byte, ss int) *StripeCheck {
	e, err := EncodingFor(n)
	if err != nil || len(base) != int(e.K)*ss {
		return nil
	}
	rs, err := newCoder(e)
	if err != nil {
		return nil
	}
	k := int(e.K)
	c := &StripeCheck{n: n, k: k, ss: ss, base: base, recvd: make([]atomic.Int64, k),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run(rs)
	return c
}

// Progress records that the first done bytes of data sliver i are in base.
func (c *StripeCheck) Progress(i, done int) {
	c.recvd[i].Store(int64(done))
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// ready reports whether every data sliver's first end bytes are in base.
func (c *StripeCheck) ready(end int) bool {
	for i := range c.recvd {
		if c.recvd[i].Load() < int64(end) {
			return false
		}
	}
	return true
}

func (c *StripeCheck) run(rs reedsolomon.Encoder) {
	defer close(c.done)
	n, k := c.n, c.k
	hs := make([]LeafHasher, n)
	idx := make([]int, 0, n-k)
	for i := k; i < n; i++ {
		hs[i] = NewLeafHasher()
		idx = append(idx, i)
	}
	stripe := min(c.ss, DecodeStripe)
	pbuf := GetStripeBuf((n - k) * stripe) // fresh pages are costly: reuse
	defer PutStripeBuf(pbuf)
	shards := make([][]byte, n)
	for off := 0; off < c.ss; {
		end := min(off+stripe, c.ss)
		for !c.ready(end) {
			select {
			case <-c.wake:
			case <-c.stop:
				return
			}
		}
		for i := range k {
			shards[i] = c.base[i*c.ss+off : i*c.ss+end : i*c.ss+end]
		}
		for j := range n - k {
			shards[k+j] = pbuf[j*stripe : j*stripe+end-off : j*stripe+end-off]
		}
		if err := rs.Encode(shards); err != nil {
			return
		}
		writeParallel(hs, shards, idx)
		off = end
	}
	leaves := make([]Hash, n-k)
	for j := range leaves {
		hs[k+j].Sum(leaves[j][:0])
	}
	c.leaves = leaves
}

// Finish returns the parity leaves when complete (every data sliver was
// received whole into base and verified), waiting for the check's last
// stripes. Otherwise (some data sliver failed, or was never fetched) it
// stops the check, waits for it and returns nil: the bytes it hashed are
// not the blob's. It may be called more than once.
func (c *StripeCheck) Finish(complete bool) []Hash {
	if !complete || !c.ready(c.ss) {
		c.stopOnce.Do(func() { close(c.stop) })
		<-c.done
		return nil
	}
	<-c.done
	return c.leaves
}

// WriteParallel writes pieces[i] to hs[i] for every i, on up to
// GOMAXPROCS goroutines (each hasher gets one writer): a stripe of every
// sliver, hashed as it is encoded.
func WriteParallel(hs []LeafHasher, pieces [][]byte) {
	idx := make([]int, len(hs))
	for i := range idx {
		idx[i] = i
	}
	writeParallel(hs, pieces, idx)
}

// writeParallel writes pieces[i] to hs[i] for each i in idx, using up to
// GOMAXPROCS goroutines (each hasher gets one writer).
func writeParallel(hs []LeafHasher, pieces [][]byte, idx []int) {
	forEachParallel(idx, func(i int) { hs[i].Write(pieces[i]) })
}

// hashParallel sets out[i] = leafHash(slivers[i]) for each i in idx, using
// up to GOMAXPROCS goroutines.
func hashParallel(slivers [][]byte, idx []int, out []Hash) {
	forEachParallel(idx, func(i int) { out[i] = leafHash(slivers[i]) })
}

// forEachParallel calls fn(i) for each i in idx on up to GOMAXPROCS
// goroutines and returns when all calls are done.
func forEachParallel(idx []int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), len(idx))
	if workers <= 1 {
		for _, i := range idx {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1)) - 1
				if j >= len(idx) {
					return
				}
				fn(idx[j])
			}
		}()
	}
	wg.Wait()
}

func allZero(b []byte) bool {
	return len(bytes.TrimLeft(b, "\x00")) == 0
}

// Slivers is a blob encoded for a committee: its n slivers and commitment.
type Slivers struct {
	Encoding Encoding
	Length   uint64
	Root     Hash
	ID       ID
	Data     [][]byte // n slivers of Encoding.SliverSize(Length) bytes
	Leaves   []Hash   // leaf hash of each sliver
	Proofs   [][]Hash // Merkle proof of each sliver, leaf level first

	buf []byte // Data's recycled backing array (EncodeUncommitted), or nil
}

// Encode splits and codes data for a committee of n members and commits to
// the slivers, exactly as Client.Put does before sending.
func Encode(data []byte, n int) (*Slivers, error) {
	x, err := encode(data, n)
	if err != nil {
		return nil, err
	}
	x.buf = nil // the caller owns the slivers
	return x.export(), nil
}

// EncodeUncommitted is Encode without the commitment, with the slivers in
// a buffer recycled across calls (see sliverBufs; the caller calls Release
// once nothing reads Data any more): Leaves, Root, Proofs and ID are unset
// until SetLeaves, for a writer that hashes the slivers while it sends
// them, as Put does.
func EncodeUncommitted(data []byte, n int) (*Slivers, error) {
	x, err := encodeData(data, n)
	if err != nil {
		return nil, err
	}
	return x.export(), nil
}

// SetLeaves sets the commitment of slivers whose leaf hashes are leaves, in
// sliver order: Leaves, Root, Proofs and ID, as Encode computes them.
func (s *Slivers) SetLeaves(leaves []Hash) {
	s.Leaves = leaves
	s.Root, s.Proofs = MerkleProofs(leaves)
	s.ID = IDFor(s.Encoding, s.Length, s.Root)
}

// Release hands the slivers of an EncodeUncommitted result back for reuse by a
// later call and clears Data. It does nothing for Encode's results. The
// caller must not use the old Data afterwards (nor let anything else).
func (s *Slivers) Release() {
	if s.buf != nil {
		putSliverBuf(s.buf)
		s.buf, s.Data = nil, nil
	}
}

func (x *encoded) export() *Slivers {
	return &Slivers{Encoding: x.enc, Length: x.length, Root: x.root, ID: x.id, Data: x.slivers, Leaves: x.leaves, Proofs: x.proofs, buf: x.buf}
}

// Decode rebuilds the blob from the slivers marked present (at least k),
// re-encodes it and checks it against the root, exactly as Client.Get does
// after verifying the slivers it received (whose leaf hashes it then knows).
func (s *Slivers) Decode(present []bool) ([]byte, error) {
	if len(present) != len(s.Data) {
		return nil, fmt.Errorf("blob: decode: %d presence flags for %d slivers", len(present), len(s.Data))
	}
	use := make([][]byte, len(s.Data))
	have := 0
	for i, p := range present {
		if p {
			use[i] = s.Data[i]
			have++
		}
	}
	if have < int(s.Encoding.K) {
		return nil, fmt.Errorf("%w: %d of %d", ErrNotEnoughSlivers, have, s.Encoding.K)
	}
	return DecodeVerified(s.Encoding, s.Length, s.Root, use, s.Leaves, nil)
}

// Streaming: blobs larger than memory are encoded and decoded stripe by
// stripe. Sliver i (i < k) is bytes [i*s, (i+1)*s) of the zero-padded blob,
// and Reed-Solomon works column-wise, so the bytes [off, end) of every
// sliver (a stripe) are the encoding of bytes [off, end) of the k data
// slivers alone; a leaf hasher fed a sliver's stripes in order gives the
// leaf of the whole sliver.

// StreamStripe is the default stripe width (bytes of each sliver) of the
// streaming encoder.
const StreamStripe = 256 << 10

// StripeCoder is e's Reed-Solomon code applied to one stripe: shards are
// the n pieces of the stripe (equal lengths), data first.
type StripeCoder interface {
	// Encode computes the n-k parity pieces from the k data pieces.
	Encode(shards [][]byte) error
	// ReconstructData rebuilds the missing data pieces (nil or of length
	// 0, with capacity for the stripe to reuse) from any k present ones,
	// leaving present pieces alone.
	ReconstructData(shards [][]byte) error
}

// NewStripeCoder returns the coder of encoding e.
func NewStripeCoder(e Encoding) (StripeCoder, error) { return newCoder(e) }

// WriteLeaves writes pieces[i] to hs[i] for each i in idx, hashing on up to
// GOMAXPROCS goroutines (each hasher gets one writer).
func WriteLeaves(hs []LeafHasher, pieces [][]byte, idx []int) { writeParallel(hs, pieces, idx) }

// StripeEncoder produces the n slivers of a blob read from an io.ReaderAt,
// one stripe of Width bytes (of each sliver) at a time, into the caller's
// buffers: memory O(n * Width), whatever the blob's size.
type StripeEncoder struct {
	Encoding   Encoding
	Length     uint64
	SliverSize int // s: bytes of every sliver
	Width      int // bytes of each sliver per stripe (the last may be shorter)
	r          io.ReaderAt
	coder      StripeCoder
}

// NewStripeEncoder returns the encoder of the length bytes of r for a
// committee of n members, in stripes of width bytes (at most the sliver
// size).
func NewStripeEncoder(r io.ReaderAt, length uint64, n, width int) (*StripeEncoder, error) {
	e, err := EncodingFor(n)
	if err != nil {
		return nil, err
	}
	coder, err := newCoder(e)
	if err != nil {
		return nil, err
	}
	if width <= 0 {
		return nil, fmt.Errorf("blob: stripe width %d", width)
	}
	ss := e.SliverSize(length)
	if ss > uint64(maxInt/int(e.N)) {
		return nil, fmt.Errorf("blob: %d bytes are too large to encode here", length)
	}
	return &StripeEncoder{Encoding: e, Length: length, SliverSize: int(ss), Width: min(width, int(ss)), r: r, coder: coder}, nil
}

const maxInt = int(^uint(0) >> 1)

// Stripes returns the number of stripes.
func (s *StripeEncoder) Stripes() int { return (s.SliverSize + s.Width - 1) / s.Width }

// Bounds returns the bytes [off, end) of every sliver that stripe j covers.
func (s *StripeEncoder) Bounds(j int) (off, end int) {
	off = j * s.Width
	return off, min(off+s.Width, s.SliverSize)
}

// ReadData fills dst with bytes [off, off+len(dst)) of data sliver i
// (i < k): the blob's bytes from i*s+off, zero past its length.
func (s *StripeEncoder) ReadData(i, off int, dst []byte) error {
	start := uint64(i)*uint64(s.SliverSize) + uint64(off)
	have := 0
	if start < s.Length {
		have = int(min(uint64(len(dst)), s.Length-start))
		m, err := s.r.ReadAt(dst[:have], int64(start))
		if m < have {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("blob: read blob bytes at %d: %w", start+uint64(m), err)
		}
	}
	clear(dst[have:])
	return nil
}

// EncodeStripe sets shards[i] (n buffers of capacity at least Width) to
// stripe j of sliver i: it reads the data pieces from r and computes the
// parity.
func (s *StripeEncoder) EncodeStripe(j int, shards [][]byte) error {
	off, end := s.Bounds(j)
	k := int(s.Encoding.K)
	for i := range shards {
		shards[i] = shards[i][:end-off]
		if i < k {
			if err := s.ReadData(i, off, shards[i]); err != nil {
				return err
			}
		}
	}
	if err := s.coder.Encode(shards); err != nil {
		return fmt.Errorf("blob: encode: %w", err)
	}
	return nil
}

// Stripe buffers of streaming encoders and decoders are recycled, as
// sliver buffers are (fresh pages are costly).
var stripeBufs sync.Pool // of *[]byte

// GetStripeBuf returns a buffer of size bytes with arbitrary contents,
// recycled from an earlier PutStripeBuf when one fits.
func GetStripeBuf(size int) []byte {
	if p, ok := stripeBufs.Get().(*[]byte); ok {
		if b := *p; cap(b) >= size && cap(b) <= 2*size {
			return b[:size]
		}
		stripeBufs.Put(p)
	}
	return make([]byte, size)
}

// PutStripeBuf hands b back for reuse; the caller must not use it after.
func PutStripeBuf(b []byte) { stripeBufs.Put(&b) }

// SplitBuf cuts buf into count pieces of width bytes each, with capacities
// ending at their ends.
func SplitBuf(buf []byte, count, width int) [][]byte {
	out := make([][]byte, count)
	for i := range out {
		out[i] = buf[i*width : (i+1)*width : (i+1)*width]
	}
	return out
}

// CommitFrom reads the length bytes of r stripe by stripe, encodes them for
// a committee of n members and returns their commitment (root, ID, leaves,
// proofs) without the slivers (Data is nil), holding O(n * StreamStripe)
// bytes whatever the length. The ID is ComputeID's for the same bytes.
func CommitFrom(r io.ReaderAt, length uint64, n int) (*Slivers, error) {
	se, err := NewStripeEncoder(r, length, n, StreamStripe)
	if err != nil {
		return nil, err
	}
	buf := GetStripeBuf(n * se.Width)
	defer PutStripeBuf(buf)
	shards := SplitBuf(buf, n, se.Width)
	hs := make([]LeafHasher, n)
	idx := make([]int, n)
	for i := range hs {
		hs[i], idx[i] = NewLeafHasher(), i
	}
	for j := range se.Stripes() {
		if err := se.EncodeStripe(j, shards); err != nil {
			return nil, err
		}
		writeParallel(hs, shards, idx)
	}
	leaves := make([]Hash, n)
	for i := range hs {
		hs[i].Sum(leaves[i][:0])
	}
	root, proofs := MerkleProofs(leaves)
	return &Slivers{Encoding: se.Encoding, Length: length, Root: root, ID: IDFor(se.Encoding, length, root), Leaves: leaves, Proofs: proofs}, nil
}
