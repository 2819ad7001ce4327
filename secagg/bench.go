package secagg

import "encoding/binary"

// ExpandBench adds count mask vectors to dst, alternately added and
// subtracted as Unmask does, each the PRG stream of its own key (key with
// its first 8 bytes replaced by the vector's number, little-endian). It is
// the PRG alone, without the key derivation, the sum of the masked inputs
// or the checks of Unmask: the baseline that `floe bench secagg` sets
// beside Unmask for the same ExpandCount and dimension.
func ExpandBench(dst []uint64, count int, key [32]byte) {
	for c := range count {
		k := key
		binary.LittleEndian.PutUint64(k[:], uint64(c))
		expand(dst, &k, c%2 == 1)
	}
}
