package secagg

import (
	"fmt"
	"slices"
)

// UnmaskSum is Unmask for a caller that summed the survivors' masked
// vectors itself (mod 2^64, in any order), so that it never holds more
// than one of them: dst holds that sum on entry and the sum of the
// survivors' encoded inputs on return. survivors are the survivors'
// indices; the other arguments and checks are Unmask's.
func (d Domain) UnmaskSum(dst []uint64, bits int, g *Graph, survivors []int, selfMasks, dropped []Revealed, maskPublic []PublicKey) (int, error) {
	if bits < 1 || bits > 64 {
		return 0, fmt.Errorf("secagg: ring of %d bits", bits)
	}
	if len(maskPublic) != g.N() {
		return 0, fmt.Errorf("secagg: %d public keys for %d participants", len(maskPublic), g.N())
	}
	all := slices.Clone(survivors)
	for _, i := range survivors {
		if i < 0 || i >= g.N() {
			return 0, fmt.Errorf("secagg: survivor %d out of range", i)
		}
	}
	for _, r := range dropped {
		if r.Index < 0 || r.Index >= g.N() {
			return 0, fmt.Errorf("secagg: dropped %d out of range", r.Index)
		}
		all = append(all, r.Index)
	}
	if err := distinct(all); err != nil {
		return 0, fmt.Errorf("secagg: survivors and dropped must be disjoint: %w", err)
	}
	selfIdx := make([]int, len(selfMasks))
	for i, r := range selfMasks {
		selfIdx[i] = r.Index
	}
	if err := distinct(selfIdx); err != nil {
		return 0, err
	}
	surv := slices.Sorted(slices.Values(survivors))
	if a := slices.Sorted(slices.Values(selfIdx)); !slices.Equal(a, surv) {
		return 0, fmt.Errorf("secagg: self-mask secrets for %v, survivors %v", a, surv)
	}
	n := 0
	for _, r := range selfMasks {
		k := d.selfKey(r.Index, r.Secret)
		expand(dst, &k, true)
		n++
	}
	for _, r := range dropped {
		kp := KeyPairFrom(r.Secret)
		if kp.Public != maskPublic[r.Index] {
			return 0, fmt.Errorf("secagg: reconstructed mask key of %d does not match its public key", r.Index)
		}
		for _, i := range g.Neighbours(r.Index) {
			if _, ok := slices.BinarySearch(surv, i); !ok {
				continue
			}
			k, err := d.pairKey(&kp, r.Index, i, maskPublic[i])
			if err != nil {
				return 0, err
			}
			// Survivor i added +PRG if i < d and -PRG if i > d: undo it.
			expand(dst, &k, i < r.Index)
			n++
		}
	}
	reduce(dst, bits)
	return n, nil
}
