package secagg

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// party is one simulated participant's round state.
type party struct {
	mask, enc KeyPair
	self      Secret
	input     []uint64
}

// runRound plays the whole protocol in memory for n participants of
// which the indices in drop send no masked input, and checks that the
// unmasked sum equals the sum of the survivors' encodings.
func runRound(t *testing.T, n, k, threshold, dim int, drop []int, seed uint64) {
	t.Helper()
	rng := seeded(seed)
	e, err := NewEncoding(n, 100, 1, 16)
	if err != nil {
		t.Fatal(err)
	}
	var roundSeed [32]byte
	roundSeed[0] = byte(seed)
	g, err := NewGraph(testDomain, roundSeed, n, k)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(seeded(seed + 1))
	ps := make([]party, n)
	pubs := make([]PublicKey, n)
	for i := range ps {
		p := &ps[i]
		if p.mask, err = NewKeyPair(rng); err != nil {
			t.Fatal(err)
		}
		if p.enc, err = NewKeyPair(rng); err != nil {
			t.Fatal(err)
		}
		if p.self, err = NewSecret(rng); err != nil {
			t.Fatal(err)
		}
		x := make([]float32, dim)
		for j := range x {
			x[j] = float32(r.NormFloat64())
		}
		p.input = make([]uint64, dim+1)
		if err := e.Encode(p.input, x, uint64(1+r.IntN(100)), [32]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		pubs[i] = p.mask.Public
	}
	// Share keys: i splits both Secrets among its neighbours and seals
	// each pair of shares for its recipient; the relay sees only bytes.
	inbox := make([][][]byte, n)
	for i := range ps {
		nb := g.Neighbours(i)
		ms, err := Split(ps[i].mask.Secret, threshold, nb, rng)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := Split(ps[i].self, threshold, nb, rng)
		if err != nil {
			t.Fatal(err)
		}
		for j, h := range nb {
			env, err := testDomain.SealShares(&ps[i].enc, ps[h].enc.Public, Shares{From: i, To: h, MaskKey: ms[j].Value, SelfMask: ss[j].Value}, rng)
			if err != nil {
				t.Fatal(err)
			}
			inbox[h] = append(inbox[h], env)
		}
	}
	// Masked input: everyone completed share keys; the dropped never send.
	var survivors []MaskedInput
	want := make([]uint64, dim+1)
	for i := range ps {
		peers := make([]Peer, 0, g.K())
		for _, j := range g.Neighbours(i) {
			peers = append(peers, Peer{j, pubs[j]})
		}
		v := slices.Clone(ps[i].input)
		if err := testDomain.Mask(v, e.Bits, g, i, &ps[i].mask, ps[i].self, peers); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(drop, i) {
			continue
		}
		survivors = append(survivors, MaskedInput{i, v})
		for j := range want {
			want[j] += ps[i].input[j]
		}
	}
	reduce(want, e.Bits)
	// Unmasking: survivors open their envelopes and reveal self-mask
	// shares of survivors and mask-key shares of the dropped.
	revealed := map[[2]int][]ShareValue{} // (kind, owner) -> shares
	for _, s := range survivors {
		h := s.Index
		for _, env := range inbox[h] {
			from, _, err := EnvelopeHeader(env)
			if err != nil {
				t.Fatal(err)
			}
			sh, err := testDomain.OpenShares(&ps[h].enc, h, ps[from].enc.Public, from, env)
			if err != nil {
				t.Fatal(err)
			}
			rs := RevealedShare{Kind: KindSelfMask, Owner: from, Holder: h, Value: sh.SelfMask}
			if slices.Contains(drop, from) {
				rs = RevealedShare{Kind: KindMaskKey, Owner: from, Holder: h, Value: sh.MaskKey}
			}
			b, _ := rs.MarshalBinary()
			var got RevealedShare
			if err := got.UnmarshalBinary(b); err != nil || got != rs {
				t.Fatalf("share round trip: %v", err)
			}
			key := [2]int{int(got.Kind), got.Owner}
			revealed[key] = append(revealed[key], ShareValue{got.Holder, got.Value})
		}
	}
	var selfs, dropped []Revealed
	for _, s := range survivors {
		sec, err := Recover(threshold, revealed[[2]int{int(KindSelfMask), s.Index}])
		if err != nil || sec != ps[s.Index].self {
			t.Fatalf("recover self mask of %d: %v", s.Index, err)
		}
		selfs = append(selfs, Revealed{s.Index, sec})
	}
	for _, d := range drop {
		sec, err := Recover(threshold, revealed[[2]int{int(KindMaskKey), d}])
		if err != nil || sec != ps[d].mask.Secret {
			t.Fatalf("recover mask key of %d: %v", d, err)
		}
		dropped = append(dropped, Revealed{d, sec})
	}
	got := make([]uint64, dim+1)
	cnt, err := testDomain.Unmask(got, e.Bits, g, survivors, selfs, dropped, pubs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("n=%d drop=%v: unmasked sum differs from the sum of encodings", n, drop)
	}
	idx := make([]int, len(survivors))
	for i, s := range survivors {
		idx[i] = s.Index
	}
	if c := ExpandCount(g, idx, drop); c != cnt {
		t.Errorf("ExpandCount = %d, Unmask expanded %d", c, cnt)
	}
	// A single masked vector alone is far from its encoding.
	if slices.Equal(survivors[0].Vector, ps[survivors[0].Index].input) {
		t.Error("masked vector equals its input")
	}
}

func TestUnmaskDropouts(t *testing.T) {
	for _, drop := range [][]int{nil, {4}, {0, 5, 9}} {
		t.Run(fmt.Sprintf("complete/drop=%v", drop), func(t *testing.T) {
			runRound(t, 10, 9, 5, 257, drop, 11) // 6 of 9 shares recover
		})
		t.Run(fmt.Sprintf("sparse/drop=%v", drop), func(t *testing.T) {
			runRound(t, 10, 6, 2, 257, drop, 12) // Harary H(6, 10): 3 of 6 shares recover
		})
	}
	t.Run("n=200", func(t *testing.T) {
		k := Degree(200, DegreeFactor)
		runRound(t, 200, k, 2*k/3, 33, []int{3, 50, 51, 199}, 13)
	})
}

// TestMasksCancel: with no dropout the masks of all participants sum to
// zero (inputs zero), and each vector alone is not zero.
func TestMasksCancel(t *testing.T) {
	const n, dim, bits = 7, 64, 40
	rng := seeded(3)
	g, _ := NewGraph(testDomain, [32]byte{}, n, 4)
	kp := make([]KeyPair, n)
	pubs := make([]PublicKey, n)
	for i := range kp {
		kp[i], _ = NewKeyPair(rng)
		pubs[i] = kp[i].Public
	}
	var zero Secret // self masks still added: subtract them below
	sum := make([]uint64, dim)
	for i := range n {
		v := make([]uint64, dim)
		var peers []Peer
		for _, j := range g.Neighbours(i) {
			peers = append(peers, Peer{j, pubs[j]})
		}
		if err := testDomain.Mask(v, bits, g, i, &kp[i], zero, peers); err != nil {
			t.Fatal(err)
		}
		k := testDomain.selfKey(i, zero)
		expand(v, &k, true)
		reduce(v, bits)
		if slices.Equal(v, make([]uint64, dim)) {
			t.Fatal("pairwise mask is zero")
		}
		for j := range sum {
			sum[j] += v[j]
		}
	}
	reduce(sum, bits)
	if !slices.Equal(sum, make([]uint64, dim)) {
		t.Fatal("pairwise masks do not cancel")
	}
	if err := testDomain.Mask(make([]uint64, 1), bits, g, 0, &kp[0], zero, []Peer{{0, pubs[0]}}); err == nil {
		t.Error("Mask accepted itself as a peer")
	}
}

func TestMaskRejectsWeakKey(t *testing.T) {
	g, _ := NewGraph(testDomain, [32]byte{}, 2, 1)
	kp, _ := NewKeyPair(seeded(4))
	var low PublicKey // the all-zero point has low order
	err := testDomain.Mask(make([]uint64, 4), 32, g, 0, &kp, Secret{}, []Peer{{1, low}})
	if !errors.Is(err, ErrWeakKey) {
		t.Fatalf("err = %v, want ErrWeakKey", err)
	}
}

func TestUnmaskRejectsBothSecrets(t *testing.T) {
	g, _ := NewGraph(testDomain, [32]byte{}, 3, 2)
	pubs := make([]PublicKey, 3)
	_, err := testDomain.Unmask(make([]uint64, 2), 16, g,
		[]MaskedInput{{0, make([]uint64, 2)}, {1, make([]uint64, 2)}},
		[]Revealed{{0, Secret{}}, {1, Secret{}}}, []Revealed{{1, Secret{}}}, pubs)
	if err == nil {
		t.Fatal("Unmask accepted a participant both surviving and dropped")
	}
}

// TestShamirThreshold: t+1 shares recover, t do not (and t shares
// interpolated as if they were enough give a different value).
func TestShamirThreshold(t *testing.T) {
	rng := seeded(5)
	s, _ := NewSecret(rng)
	for _, tt := range []int{0, 1, 3, 6} {
		holders := []int{10, 3, 7, 0, 22, 5, 8, 9, 30}
		sh, err := Split(s, tt, holders, rng)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Recover(tt, sh[:tt+1])
		if err != nil || got != s {
			t.Fatalf("t=%d: t+1 shares: %v", tt, err)
		}
		got, err = Recover(tt, sh[len(sh)-tt-1:])
		if err != nil || got != s {
			t.Fatalf("t=%d: other t+1 shares: %v", tt, err)
		}
		if got, err := Recover(tt, sh); err != nil || got != s {
			t.Fatalf("t=%d: all shares: %v", tt, err)
		}
		if _, err := Recover(tt, sh[:tt]); !errors.Is(err, ErrTooFewShares) {
			t.Fatalf("t=%d: %d shares: err = %v", tt, tt, err)
		}
		if tt > 0 {
			if got, _ := Recover(tt-1, sh[:tt]); got == s {
				t.Fatalf("t=%d: t shares interpolate to the secret", tt)
			}
			bad := slices.Clone(sh)
			bad[len(bad)-1].Value = sh[0].Value
			if _, err := Recover(tt, bad); !errors.Is(err, ErrInconsistentShares) {
				t.Fatalf("t=%d: tampered share: err = %v", tt, err)
			}
		}
	}
	if _, err := Split(s, 2, []int{1, 2}, rng); err == nil {
		t.Error("Split with fewer holders than t+1")
	}
	if _, err := Recover(1, []ShareValue{{1, s}, {1, s}}); err == nil {
		t.Error("Recover with a repeated holder")
	}
}

// TestSplitDeterministic: the same randomness gives the same shares.
func TestSplitDeterministic(t *testing.T) {
	s, _ := NewSecret(seeded(6))
	a, _ := Split(s, 2, []int{0, 1, 2, 3}, seeded(7))
	b, _ := Split(s, 2, []int{0, 1, 2, 3}, seeded(7))
	if !slices.Equal(a, b) {
		t.Fatal("Split is not deterministic in its randomness")
	}
}

// TestEnvelopeOnlyForRecipient: an envelope opens for its recipient only,
// and not under another domain, sender or header.
func TestEnvelopeOnlyForRecipient(t *testing.T) {
	rng := seeded(8)
	a, _ := NewKeyPair(rng)
	b, _ := NewKeyPair(rng)
	c, _ := NewKeyPair(rng)
	s1, _ := NewSecret(rng)
	s2, _ := NewSecret(rng)
	sh := Shares{From: 1, To: 2, MaskKey: s1, SelfMask: s2}
	env, err := testDomain.SealShares(&a, b.Public, sh, rng)
	if err != nil || len(env) != EnvelopeSize {
		t.Fatalf("seal: %d bytes, %v", len(env), err)
	}
	if got, err := testDomain.OpenShares(&b, 2, a.Public, 1, env); err != nil || got != sh {
		t.Fatalf("recipient: %v", err)
	}
	if _, err := testDomain.OpenShares(&c, 2, a.Public, 1, env); !errors.Is(err, ErrOpen) {
		t.Errorf("another peer's key: err = %v", err)
	}
	if _, err := testDomain.OpenShares(&c, 3, a.Public, 1, env); !errors.Is(err, ErrOpen) {
		t.Errorf("another peer: err = %v", err)
	}
	other := Domain{Job: testDomain.Job, Round: testDomain.Round + 1}
	if _, err := other.OpenShares(&b, 2, a.Public, 1, env); !errors.Is(err, ErrOpen) {
		t.Errorf("another round: err = %v", err)
	}
	if _, err := testDomain.OpenShares(&b, 2, c.Public, 1, env); !errors.Is(err, ErrOpen) {
		t.Errorf("another sender: err = %v", err)
	}
	// The reverse direction uses another key: b cannot replay a's
	// envelope as its own.
	if _, err := testDomain.OpenShares(&a, 1, b.Public, 2, env); err == nil {
		t.Error("reversed envelope opened")
	}
	bad := slices.Clone(env)
	bad[len(bad)-1] ^= 1
	if _, err := testDomain.OpenShares(&b, 2, a.Public, 1, bad); !errors.Is(err, ErrOpen) {
		t.Errorf("tampered: err = %v", err)
	}
}

func TestGraph(t *testing.T) {
	for _, n := range []int{2, 5, 10, 13, 100, 1000, 5000} {
		k := Degree(n, DegreeFactor)
		g, err := NewGraph(testDomain, [32]byte{1}, n, k)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			nb := g.Neighbours(i)
			if len(nb) != k {
				t.Fatalf("n=%d: %d has %d neighbours, want %d", n, i, len(nb), k)
			}
			for j, v := range nb {
				if v == i || (j > 0 && nb[j-1] >= v) || !g.Adjacent(v, i) {
					t.Fatalf("n=%d: bad neighbour list of %d: %v", n, i, nb)
				}
			}
		}
		h, _ := NewGraph(testDomain, [32]byte{1}, n, k)
		o, _ := NewGraph(testDomain, [32]byte{2}, n, k)
		same := true
		for i := range n {
			if !slices.Equal(g.Neighbours(i), h.Neighbours(i)) {
				t.Fatalf("n=%d: graph not deterministic", n)
			}
			same = same && slices.Equal(g.Neighbours(i), o.Neighbours(i))
		}
		if complete := k == n-1; same != complete {
			t.Errorf("n=%d k=%d: graphs of two seeds equal = %v", n, k, same)
		}
	}
	if _, err := NewGraph(testDomain, [32]byte{}, 100, 7); err == nil {
		t.Error("odd degree accepted")
	}
}

func TestDegree(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{1, 0}, {2, 1}, {10, 9}, {12, 11}, {13, 12}, {14, 12}, {16, 12}, {100, 20}, {1000, 30}, {1 << 20, 60}} {
		if got := Degree(tc.n, DegreeFactor); got != tc.want {
			t.Errorf("Degree(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}
