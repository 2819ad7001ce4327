package secagg

import (
	"slices"
	"testing"
)

// TestUnmaskSumMatchesUnmask: unmasking a sum the caller made equals
// Unmask of the vectors, with a dropped participant's pairwise masks to
// take off, and both report the same number of expansions.
func TestUnmaskSumMatchesUnmask(t *testing.T) {
	const n, dim, bits = 6, 300, 40
	rng := seeded(21)
	g, err := NewGraph(testDomain, [32]byte{7}, n, Degree(n, DegreeFactor))
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]KeyPair, n)
	pubs := make([]PublicKey, n)
	selfs := make([]Secret, n)
	for i := range keys {
		keys[i], _ = NewKeyPair(rng)
		selfs[i], _ = NewSecret(rng)
		pubs[i] = keys[i].Public
	}
	const drop = 4
	var survivors []MaskedInput
	var selfMasks []Revealed
	var idx []int
	sum := make([]uint64, dim)
	for i := range n {
		v := make([]uint64, dim)
		for j := range v {
			v[j] = uint64(i*1000 + j)
		}
		var peers []Peer
		for _, j := range g.Neighbours(i) {
			peers = append(peers, Peer{Index: j, Public: pubs[j]})
		}
		if err := testDomain.Mask(v, bits, g, i, &keys[i], selfs[i], peers); err != nil {
			t.Fatal(err)
		}
		if i == drop {
			continue
		}
		survivors = append(survivors, MaskedInput{Index: i, Vector: v})
		selfMasks = append(selfMasks, Revealed{Index: i, Secret: selfs[i]})
		idx = append(idx, i)
		for j := range v {
			sum[j] += v[j]
		}
	}
	dropped := []Revealed{{Index: drop, Secret: keys[drop].Secret}}
	want := make([]uint64, dim)
	nw, err := testDomain.Unmask(want, bits, g, survivors, selfMasks, dropped, pubs)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := testDomain.UnmaskSum(sum, bits, g, idx, selfMasks, dropped, pubs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sum, want) || ns != nw || nw != ExpandCount(g, idx, []int{drop}) {
		t.Fatalf("UnmaskSum differs from Unmask (expansions %d and %d)", ns, nw)
	}
	for j := range want {
		var plain uint64
		for _, i := range idx {
			plain += uint64(i*1000 + j)
		}
		if want[j] != plain&(1<<bits-1) {
			t.Fatalf("coordinate %d: %d, want %d", j, want[j], plain&(1<<bits-1))
		}
	}
}
