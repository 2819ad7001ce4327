package blob

import (
	"math/bits"

	"lukechampine.com/blake3/guts"
)

// simdBytes is what one call of guts.CompressBuffer takes: 16 chunks,
// which its AVX-512 code hashes at once.
const simdBytes = guts.MaxSIMD * guts.ChunkSize

// hasher is an unkeyed BLAKE3-256 hasher that hashes 16 chunks at a time
// with lukechampine.com/blake3's compression functions (AVX-512 where the
// CPU has it, else AVX2 or Go), on the caller's goroutine. The library's
// own Hasher spreads each write over goroutines (one per 16 KiB), which
// costs more CPU than it saves on a busy machine, and zeebo/blake3 stops at
// AVX2. Inputs are hashed 16 chunks at a time from the caller's slice when
// they are aligned, else through one 16 KiB buffer; a subtree is merged
// into the stack only once more input follows, so the last one can take
// the root flag. The digest is BLAKE3's (tests compare it with
// zeebo/blake3's for many sizes and splits).
type hasher struct {
	stack   [64][8]uint32 // chaining values of complete subtrees, one a height
	counter uint64        // chunks in the stack; bit i set: a subtree of 2^i chunks at stack[i]
	buf     [simdBytes]byte
	buflen  int
}

func newHasher() *hasher { return &hasher{} }

// push merges a complete subtree of 2^height chunks into the stack.
func (h *hasher) push(cv [8]uint32, height int) {
	i := height
	for h.counter&(1<<i) != 0 {
		cv = guts.ChainingValue(guts.ParentNode(h.stack[i], cv, &guts.IV, 0))
		i++
	}
	h.stack[i] = cv
	h.counter += 1 << height
}

// compressGroup hashes a full group of 16 chunks at h.counter into the
// stack (h.counter is a multiple of 16: groups are only ever pushed whole).
func (h *hasher) compressGroup(group *[simdBytes]byte) {
	n := guts.CompressBuffer(group, simdBytes, &guts.IV, h.counter, 0)
	h.push(guts.ChainingValue(n), 4)
}

// Write adds p to the hashed input. It never fails.
func (h *hasher) Write(p []byte) (int, error) {
	total := len(p)
	if h.buflen > 0 {
		n := copy(h.buf[h.buflen:], p)
		h.buflen += n
		p = p[n:]
		if h.buflen < simdBytes || len(p) == 0 {
			return total, nil // the buffer may hold the last group
		}
		h.compressGroup(&h.buf)
		h.buflen = 0
	}
	// Whole groups straight from p, keeping at least one byte back.
	for len(p) > simdBytes {
		h.compressGroup((*[simdBytes]byte)(p[:simdBytes]))
		p = p[simdBytes:]
	}
	h.buflen = copy(h.buf[:], p)
	return total, nil
}

// Sum appends the 32-byte digest of the input written so far to b. It does
// not change the hasher's state.
func (h *hasher) Sum(b []byte) []byte {
	n := guts.CompressBuffer(&h.buf, h.buflen, &guts.IV, h.counter, 0)
	for i := bits.TrailingZeros64(h.counter); i < bits.Len64(h.counter); i++ {
		if h.counter&(1<<i) != 0 {
			n = guts.ParentNode(h.stack[i], guts.ChainingValue(n), &guts.IV, 0)
		}
	}
	n.Flags |= guts.FlagRoot
	out := guts.WordsToBytes(guts.CompressNode(n))
	return append(b, out[:32]...)
}
