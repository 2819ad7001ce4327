package secagg

// UnmaskSum is Unmask for a caller that summed the survivors' masked
// vectors itself (mod 2^64, in any order), so that it never holds more
// than one of them: dst holds that sum on entry and the sum of the
// survivors' encoded inputs on return. survivors are the survivors'
// indices; the other arguments and checks are Unmask's.
func (d Domain) UnmaskSum(dst []uint64, bits int, g *Graph, survivors []int, selfMasks, dropped []Revealed, maskPublic []PublicKey) (int, error) {
	if err := checkUnmask(bits, g, survivors, selfMasks, dropped, maskPublic); err != nil {
		return 0, err
	}
	for _, r := range selfMasks {
		k := d.selfKey(r.Index, r.Secret)
		expand(dst, &k, true)
	}
	n, err := d.removePairMasks(dst, g, survivors, dropped, maskPublic)
	if err != nil {
		return 0, err
	}
	reduce(dst, bits)
	return len(selfMasks) + n, nil
}
