package secagg

import (
	"fmt"
	"slices"
)

// Peer is a neighbour a participant masks with: its index and mask-key
// public key.
type Peer struct {
	Index  int
	Public PublicKey
}

// Mask adds participant me's masks to its encoded input in place:
// dst += PRG(self) + sum over peers p of sign(me, p)*PRG(s_{me,p}), modulo
// 2^bits, where sign is + when me < p and - when me > p, s_{me,p} is the
// pairwise key (X25519 of mask keys -> HKDF-SHA256) and PRG the AES-256-CTR
// stream read as little-endian uint64 words. peers must be me's neighbours
// in g that completed the share-keys step, each once.
func (d Domain) Mask(dst []uint64, bits int, g *Graph, me int, maskKey *KeyPair, selfMask Secret, peers []Peer) error {
	if bits < 1 || bits > 64 {
		return fmt.Errorf("secagg: ring of %d bits", bits)
	}
	if me < 0 || me >= g.N() {
		return fmt.Errorf("secagg: participant %d not in a graph of %d", me, g.N())
	}
	ids := make([]int, 0, len(peers)+1)
	ids = append(ids, me)
	for _, p := range peers {
		if !g.Adjacent(me, p.Index) {
			return fmt.Errorf("secagg: %d is not a neighbour of %d", p.Index, me)
		}
		ids = append(ids, p.Index)
	}
	if err := distinct(ids); err != nil {
		return err
	}
	keys := make([][32]byte, len(peers))
	for i, p := range peers {
		k, err := d.pairKey(maskKey, me, p.Index, p.Public)
		if err != nil {
			return err
		}
		keys[i] = k
	}
	sk := d.selfKey(me, selfMask)
	expand(dst, &sk, false)
	for i, p := range peers {
		expand(dst, &keys[i], me > p.Index)
	}
	reduce(dst, bits)
	return nil
}

func reduce(v []uint64, bits int) {
	if m := ringMask(bits); m != ^uint64(0) {
		for i := range v {
			v[i] &= m
		}
	}
}

// MaskedInput is a survivor's masked vector.
type MaskedInput struct {
	Index  int
	Vector []uint64
}

// Revealed is a reconstructed Secret of participant Index.
type Revealed struct {
	Index  int
	Secret Secret
}

// Unmask writes to dst the sum of the survivors' encoded inputs (the
// coordinator's and the auditor's unmasking): the sum of the masked
// vectors, minus each survivor's self mask, minus, for each dropped
// participant d and each survivor i adjacent to d, sign(i, d)*PRG(s_{i,d})
// recomputed from d's reconstructed mask-key Secret and i's public key.
// selfMasks holds exactly one Secret per survivor, dropped one mask-key
// Secret per participant that completed the share-keys step but sent no
// masked input; no index may be in both. maskPublic[i] is participant i's
// mask-key public key; a dropped Secret must derive it. It returns the
// number of mask vectors expanded (ExpandCount).
func (d Domain) Unmask(dst []uint64, bits int, g *Graph, survivors []MaskedInput, selfMasks, dropped []Revealed, maskPublic []PublicKey) (int, error) {
	surv := make([]int, len(survivors))
	for i, s := range survivors {
		if len(s.Vector) != len(dst) {
			return 0, fmt.Errorf("secagg: survivor %d: vector of %d, want %d", s.Index, len(s.Vector), len(dst))
		}
		surv[i] = s.Index
	}
	if err := checkUnmask(bits, g, surv, selfMasks, dropped, maskPublic); err != nil {
		return 0, err
	}
	// Each survivor's masked vector goes in with its self mask taken off
	// in the same pass (selfMasks holds exactly the survivors, checked
	// above): one read of the vector while the keystream is computed.
	self := make(map[int]*Secret, len(selfMasks))
	for i := range selfMasks {
		self[selfMasks[i].Index] = &selfMasks[i].Secret
	}
	clear(dst)
	for _, s := range survivors {
		k := d.selfKey(s.Index, *self[s.Index])
		addUnmasked(dst, s.Vector, &k)
	}
	n, err := d.removePairMasks(dst, g, surv, dropped, maskPublic)
	if err != nil {
		return 0, err
	}
	reduce(dst, bits)
	return len(survivors) + n, nil
}

// checkUnmask checks the arguments of Unmask and UnmaskSum: the ring, one
// public key per participant, survivors and dropped in range and disjoint,
// and exactly one self-mask Secret per survivor.
func checkUnmask(bits int, g *Graph, survivors []int, selfMasks, dropped []Revealed, maskPublic []PublicKey) error {
	if bits < 1 || bits > 64 {
		return fmt.Errorf("secagg: ring of %d bits", bits)
	}
	if len(maskPublic) != g.N() {
		return fmt.Errorf("secagg: %d public keys for %d participants", len(maskPublic), g.N())
	}
	all := slices.Clone(survivors)
	for _, i := range survivors {
		if i < 0 || i >= g.N() {
			return fmt.Errorf("secagg: survivor %d out of range", i)
		}
	}
	for _, r := range dropped {
		if r.Index < 0 || r.Index >= g.N() {
			return fmt.Errorf("secagg: dropped %d out of range", r.Index)
		}
		all = append(all, r.Index)
	}
	if err := distinct(all); err != nil {
		return fmt.Errorf("secagg: survivors and dropped must be disjoint: %w", err)
	}
	selfIdx := make([]int, len(selfMasks))
	for i, r := range selfMasks {
		selfIdx[i] = r.Index
	}
	if err := distinct(selfIdx); err != nil {
		return err
	}
	if a, b := slices.Sorted(slices.Values(selfIdx)), slices.Sorted(slices.Values(survivors)); !slices.Equal(a, b) {
		return fmt.Errorf("secagg: self-mask secrets for %v, survivors %v", a, b)
	}
	return nil
}

// removePairMasks takes off dst, for each dropped participant and each
// survivor adjacent to it, the pairwise mask the survivor added, and
// returns how many it expanded.
func (d Domain) removePairMasks(dst []uint64, g *Graph, survivors []int, dropped []Revealed, maskPublic []PublicKey) (int, error) {
	surv := slices.Sorted(slices.Values(survivors))
	n := 0
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
	return n, nil
}

// ExpandCount returns how many mask vectors Unmask expands for these
// survivors and dropped participants: one self mask per survivor plus one
// pairwise mask per (dropped, adjacent survivor) pair.
func ExpandCount(g *Graph, survivors, dropped []int) int {
	s := slices.Sorted(slices.Values(survivors))
	n := len(s)
	for _, d := range dropped {
		for _, i := range g.Neighbours(d) {
			if _, ok := slices.BinarySearch(s, i); ok {
				n++
			}
		}
	}
	return n
}
