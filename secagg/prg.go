package secagg

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"math"
)

// prg is AES-256-CTR with a zero IV over a 32-byte key: the keystream read
// as little-endian uint64 words. Every key is derived for one purpose only.
type prg struct {
	s   cipher.Stream
	buf [8 * 64]byte
	n   int // words of buf consumed
}

func newCTR(key *[32]byte) cipher.Stream {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // 32-byte key: cannot fail
	}
	var iv [aes.BlockSize]byte
	return cipher.NewCTR(b, iv[:])
}

func newPRG(key *[32]byte) *prg {
	return &prg{s: newCTR(key), n: 64}
}

// Uint64 returns the next word of the stream.
func (p *prg) Uint64() uint64 {
	if p.n == 64 {
		clear(p.buf[:])
		p.s.XORKeyStream(p.buf[:], p.buf[:])
		p.n = 0
	}
	v := binary.LittleEndian.Uint64(p.buf[8*p.n:])
	p.n++
	return v
}

// Uintn returns a uniform integer in [0, n) by rejection sampling.
func (p *prg) Uintn(n uint64) uint64 {
	limit := math.MaxUint64 - math.MaxUint64%n // a multiple of n
	for {
		v := p.Uint64()
		if v < limit {
			return v % n
		}
	}
}

// expandChunkWords is the number of words expanded per keystream call.
const expandChunkWords = 1024

// keystream computes the mask vector of key, words elements long, chunk
// by chunk: fn gets each chunk's first element index and its keystream
// bytes (8 little-endian bytes an element). The buffer is reused.
func keystream(key *[32]byte, words int, fn func(off int, ks []byte)) {
	s := newCTR(key)
	var buf [8 * expandChunkWords]byte
	for off := 0; off < words; off += expandChunkWords {
		b := buf[:8*min(words-off, expandChunkWords)]
		clear(b)
		s.XORKeyStream(b, b)
		fn(off, b)
	}
}

// expand adds (sub=false) or subtracts (sub=true) the mask vector of key to
// dst, modulo 2^64: word i of the keystream is mask element i. Reduction
// modulo 2^k is left to the caller (2^k divides 2^64).
func expand(dst []uint64, key *[32]byte, sub bool) {
	keystream(key, len(dst), func(off int, ks []byte) {
		d := dst[off : off+len(ks)/8]
		if sub {
			for i := range d {
				d[i] -= binary.LittleEndian.Uint64(ks[8*i:])
			}
		} else {
			for i := range d {
				d[i] += binary.LittleEndian.Uint64(ks[8*i:])
			}
		}
	})
}

// addUnmasked adds src minus the mask vector of key to dst, modulo 2^64,
// in one pass over both (dst += src - PRG(key)): a survivor's masked
// vector without its self mask, read once while its keystream is hot.
func addUnmasked(dst, src []uint64, key *[32]byte) {
	keystream(key, len(dst), func(off int, ks []byte) {
		d, v := dst[off:off+len(ks)/8], src[off:off+len(ks)/8]
		for i := range d {
			d[i] += v[i] - binary.LittleEndian.Uint64(ks[8*i:])
		}
	})
}
