package sims

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/floe-fl/floe/aggregate"
	"github.com/floe-fl/floe/model"
)

// TestLocalStepsFullParticipation runs Fang et al.'s training setting: every
// participant in every round (cohort = participants), one local SGD step of
// 32 examples instead of an epoch.
func TestLocalStepsFullParticipation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := smallOptions(t)
	o.Participants, o.Cohort, o.LocalSteps, o.Batch = 6, 6, 1, 32
	res, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rounds {
		if r.Cohort != 6 || r.Accepted != 6 {
			t.Fatalf("round %d: cohort %d, accepted %d, want 6 and 6", r.Round, r.Cohort, r.Accepted)
		}
	}
	if err := res.Audit.Err(); err != nil {
		t.Fatal(err)
	}
	o.LocalSteps, o.Out = 0, t.TempDir()
	epochs, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if epochs.Head == res.Head {
		t.Fatal("one local step and one epoch made the same chain")
	}
}

// honestUpdates returns h seeded updates of d parameters, with a common
// drift so that the benign direction is not noise alone.
func honestUpdates(h, d int, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	drift := make([]float64, d)
	for j := range drift {
		drift[j] = rng.NormFloat64() * 0.5
	}
	out := make([][]float32, h)
	for i := range out {
		out[i] = make([]float32, d)
		for j := range out[i] {
			out[i][j] = float32(drift[j] + 0.3*rng.NormFloat64())
		}
	}
	out[0][3] = 0 // a coordinate where every honest update is 0
	for i := range out {
		out[i][3] = 0
	}
	return out
}

// TestFangTrimReference checks the trimmed-mean attack against the paper's
// rule written out naively: per coordinate the direction, the benign
// extremes and the interval, drawn in the same order.
func TestFangTrimReference(t *testing.T) {
	for _, tc := range []struct{ h, c, d int }{{8, 2, 40}, {5, 3, 17}, {2, 1, 9}} {
		honest := honestUpdates(tc.h, tc.d, uint64(tc.h))
		got := fangTrim(honest, tc.c, 2, rand.New(rand.NewPCG(9, 9)))
		rng := rand.New(rand.NewPCG(9, 9))
		for k := 0; k < tc.c; k++ {
			for j := 0; j < tc.d; j++ {
				var col []float64
				sum := 0.0
				for i := 0; i < tc.h; i++ {
					col = append(col, float64(honest[i][j]))
					sum += float64(honest[i][j])
				}
				sort.Float64s(col)
				wmin, wmax := col[0], col[len(col)-1]
				var lo, hi float64
				if sum < 0 { // s_j = -1: craft above the benign maximum
					if wmax > 0 {
						lo, hi = wmax, 2*wmax
					} else {
						lo, hi = wmax, wmax/2
					}
				} else { // s_j = 1 (or 0): craft below the benign minimum
					if wmin > 0 {
						lo, hi = wmin/2, wmin
					} else {
						lo, hi = 2*wmin, wmin
					}
				}
				want := float32(lo + rng.Float64()*(hi-lo))
				if got[k][j] != want {
					t.Fatalf("h=%d c=%d: attacker %d coordinate %d = %v, want %v", tc.h, tc.c, k, j, got[k][j], want)
				}
				v := float64(got[k][j])
				if sum < 0 && v < wmax-1e-6 || sum > 0 && v > wmin+1e-6 {
					t.Fatalf("coordinate %d: %v is not beyond the benign extremes [%v, %v] against the direction", j, v, wmin, wmax)
				}
			}
		}
		if got[0][3] != 0 {
			t.Fatalf("a coordinate all honest updates leave at 0 got %v", got[0][3])
		}
	}
}

// naiveKrum reports the index Krum selects: the lowest sum of squared
// distances to the n-f-2 nearest others.
func naiveKrum(rows [][]float32, f int) int {
	best, bestScore := -1, math.Inf(1)
	for i := range rows {
		var ds []float64
		for l := range rows {
			if l != i {
				var s float64
				for j := range rows[i] {
					x := float64(rows[i][j]) - float64(rows[l][j])
					s += x * x
				}
				ds = append(ds, s)
			}
		}
		sort.Float64s(ds)
		var score float64
		for _, v := range ds[:len(rows)-f-2] {
			score += v
		}
		if score < bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// TestFangKrumReference checks the Krum attack against the paper's bound
// on lambda and binary search, written out naively.
func TestFangKrumReference(t *testing.T) {
	for _, tc := range []struct{ h, c, f, d int }{{8, 2, 2, 30}, {7, 3, 3, 12}, {12, 2, 1, 50}} {
		honest := honestUpdates(tc.h, tc.d, uint64(tc.d))
		got, lambda, err := fangKrum(honest, tc.c, tc.f, 1e-3, rand.New(rand.NewPCG(4, 4)))
		if err != nil {
			t.Fatal(err)
		}
		m, d := tc.h+tc.c, float64(tc.d)
		s := make([]float64, tc.d)
		for j := range s {
			sum := 0.0
			for _, u := range honest {
				sum += float64(u[j])
			}
			if sum > 0 {
				s[j] = 1
			} else if sum < 0 {
				s[j] = -1
			}
		}
		minSum, maxNorm := math.Inf(1), 0.0
		for i := range honest {
			var ds []float64
			for l := range honest {
				if l == i {
					continue
				}
				var q float64
				for j := range honest[i] {
					x := float64(honest[i][j]) - float64(honest[l][j])
					q += x * x
				}
				ds = append(ds, math.Sqrt(q))
			}
			sort.Float64s(ds)
			sum := 0.0
			for _, v := range ds[:m-tc.c-2] {
				sum += v
			}
			minSum = math.Min(minSum, sum)
			var n float64
			for _, v := range honest[i] {
				n += float64(v) * float64(v)
			}
			maxNorm = math.Max(maxNorm, math.Sqrt(n))
		}
		want := minSum/(float64(m-2*tc.c-1)*math.Sqrt(d)) + maxNorm/math.Sqrt(d)
		rng := rand.New(rand.NewPCG(4, 4))
		off := make([][]float64, tc.c)
		for k := 1; k < tc.c; k++ {
			off[k] = make([]float64, tc.d)
			for j := range off[k] {
				off[k][j] = (2*rng.Float64() - 1) * 1e-3 / math.Sqrt(d)
			}
		}
		craft := func(lambda float64) [][]float32 {
			out := make([][]float32, tc.c)
			for k := range out {
				out[k] = make([]float32, tc.d)
				for j := range out[k] {
					v := -lambda * s[j]
					if k > 0 {
						v += off[k][j]
					}
					out[k][j] = float32(v)
				}
			}
			return out
		}
		for want >= 1e-5 && naiveKrum(append(slices.Clone(honest), craft(want)...), tc.f) < tc.h {
			want /= 2
		}
		if math.Abs(lambda-want) > 1e-9*want {
			t.Fatalf("h=%d c=%d: lambda %v, want %v", tc.h, tc.c, lambda, want)
		}
		ref := craft(want)
		for k := range got {
			for j := range got[k] {
				if math.Abs(float64(got[k][j]-ref[k][j])) > 1e-6 {
					t.Fatalf("attacker %d coordinate %d = %v, want %v", k, j, got[k][j], ref[k][j])
				}
			}
			var q float64
			for j := range got[k] {
				x := float64(got[k][j]) - float64(got[0][j])
				q += x * x
			}
			if math.Sqrt(q) > 1e-3*(1+1e-3) {
				t.Fatalf("attacker %d is %v from the first crafted update, above eps", k, math.Sqrt(q))
			}
		}
		sel := aggregate.KrumSelect(append(slices.Clone(honest), got...), tc.f, 1)[0]
		t.Logf("h=%d c=%d f=%d: lambda %.4g, Krum selects row %d (crafted from %d)", tc.h, tc.c, tc.f, lambda, sel, tc.h)
	}
	if _, _, err := fangKrum(honestUpdates(3, 5, 1), 2, 2, 1e-3, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Fatal("m-2c-1 = 0 accepted")
	}
}

// TestLIEReference checks "A Little Is Enough" against its formula: z_max
// from the normal table, and mean + z_max * standard deviation per
// coordinate.
func TestLIEReference(t *testing.T) {
	for _, tc := range []struct {
		n, m int
		z    float64 // Phi^-1((n-s)/n), s = floor(n/2+1) - m
	}{
		{10, 2, 0.2533471},   // s = 4, Phi^-1(0.6)
		{50, 12, 0.5828415},  // s = 14, Phi^-1(0.72)
		{20, 5, 0.5244005},   // s = 6, Phi^-1(0.7)
		{100, 24, 1.0364334}, // s = 27, Phi^-1(0.73)... see below
	} {
		s := tc.n/2 + 1 - tc.m
		q := float64(tc.n-s) / float64(tc.n)
		z, err := lieZ(tc.n, tc.m)
		if err != nil {
			t.Fatal(err)
		}
		if tc.n == 100 {
			tc.z = math.Sqrt2 * math.Erfinv(2*q-1) // q = 0.73: checked by the CDF below
		}
		if math.Abs(z-tc.z) > 1e-6 || math.Abs(0.5*math.Erfc(-z/math.Sqrt2)-q) > 1e-12 {
			t.Fatalf("n=%d m=%d: z_max %v, want %v (Phi(z) = %v, want %v)", tc.n, tc.m, z, tc.z, 0.5*math.Erfc(-z/math.Sqrt2), q)
		}
		honest := honestUpdates(tc.n-tc.m, 20, uint64(tc.n))
		got, err := lie(honest, tc.n, tc.m)
		if err != nil {
			t.Fatal(err)
		}
		for j := range got {
			var mu, v float64
			for _, u := range honest {
				mu += float64(u[j])
			}
			mu /= float64(len(honest))
			for _, u := range honest {
				v += (float64(u[j]) - mu) * (float64(u[j]) - mu)
			}
			want := float32(mu + tc.z*math.Sqrt(v/float64(len(honest))))
			if math.Abs(float64(got[j]-want)) > 1e-6 {
				t.Fatalf("n=%d m=%d coordinate %d = %v, want %v", tc.n, tc.m, j, got[j], want)
			}
		}
	}
	if _, err := lieZ(10, 6); err == nil {
		t.Fatal("6 attackers of 10 accepted")
	}
}

func TestGaussianAndLabelFlip(t *testing.T) {
	d := make([]float32, 200000)
	gaussianUpdate(d, rand.New(rand.NewPCG(1, 2)))
	var mean, sq float64
	for _, v := range d {
		mean += float64(v)
		sq += float64(v) * float64(v)
	}
	mean /= float64(len(d))
	variance := sq/float64(len(d)) - mean*mean
	if math.Abs(mean) > 0.2 || math.Abs(variance-200) > 4 {
		t.Fatalf("mean %v variance %v, want 0 and 200", mean, variance)
	}
	e := make([]float32, len(d))
	gaussianUpdate(e, rand.New(rand.NewPCG(1, 2)))
	if !slices.Equal(d, e) {
		t.Fatal("not deterministic for a seed")
	}
	ds := &model.Dataset{N: 4, D: 1, Classes: 10, X: []float32{1, 2, 3, 4}, Y: []int{0, 9, 3, 5}}
	f := flipLabels(ds)
	if !slices.Equal(f.Y, []int{9, 0, 6, 4}) || !slices.Equal(ds.Y, []int{0, 9, 3, 5}) || !slices.Equal(f.X, ds.X) {
		t.Fatalf("flipped %v (original now %v)", f.Y, ds.Y)
	}
}

// attackRun runs a seeded federation of n participants (full
// participation, trimmed mean with beta) for 10 rounds, with c of them
// mounting attack ("clean": none), and returns its final error rate after
// checking that its chain audits.
func attackRun(ctx context.Context, t *testing.T, n, c int, beta float64, attack string) float64 {
	o := DefaultOptions()
	o.Logger = testLogger(t)
	o.Net, o.Privacy, o.Out = "memory", "plain", t.TempDir()
	o.Participants, o.Cohort, o.Rounds, o.Attackers, o.Attack = n, n, 10, c, attack
	o.Rule = aggregate.Spec{Rule: "trimmedmean", Params: map[string]float64{"beta": beta}}
	if attack == "clean" {
		o.Attackers, o.Attack = 0, AttackSignFlip
	}
	res, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatalf("%s: %v", attack, err)
	}
	if err := res.Audit.Err(); err != nil {
		t.Fatalf("%s: the attacked chain does not audit: %v", attack, err)
	}
	e := 1 - res.Rounds[len(res.Rounds)-1].Accuracy
	t.Logf("%d participants, %d attackers, trimmed mean beta=%g, seed %d: %-10s error rate %.4f", n, c, beta, o.Seed, attack, e)
	return e
}

// TestAttacksUnderTrimmedMean runs seeded federations clean and under
// attack, with trimmed mean, and checks the ordering the papers report:
// Fang's trimmed-mean attack and "A Little Is Enough" raise the error rate
// well above the clean run's, sign flipping (which trimming removes) does
// not, and every attacked chain audits. "A Little Is Enough" needs many
// attackers to matter (its z_max is 0.25 for 2 of 10): it is checked with
// 8 of 20.
func TestAttacksUnderTrimmedMean(t *testing.T) {
	if testing.Short() {
		t.Skip("several simulations")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const margin = 0.1
	clean := attackRun(ctx, t, 10, 2, 0.2, "clean")
	rates := map[string]float64{}
	for _, a := range []string{AttackSignFlip, AttackFangTrim, AttackLIE, AttackGaussian, AttackLabelFlip} {
		rates[a] = attackRun(ctx, t, 10, 2, 0.2, a)
	}
	if rates[AttackFangTrim] < clean+margin {
		t.Errorf("fang-trim error rate %.4f, not above the clean %.4f + %g", rates[AttackFangTrim], clean, margin)
	}
	if rates[AttackSignFlip] > clean+margin {
		t.Errorf("signflip error rate %.4f, above the clean %.4f + %g: trimming should remove it", rates[AttackSignFlip], clean, margin)
	}
	clean20 := attackRun(ctx, t, 20, 8, 0.4, "clean")
	if lie20 := attackRun(ctx, t, 20, 8, 0.4, AttackLIE); lie20 < clean20+margin {
		t.Errorf("lie error rate %.4f with 8 of 20 attackers, not above the clean %.4f + %g", lie20, clean20, margin)
	}
}

// TestFangTrimPartialReference checks the partial-knowledge trimmed-mean
// attack against its definition on a small case: every crafted value lies
// in [mu+3sigma, mu+4sigma] for a coordinate whose estimated direction is
// negative, [mu-4sigma, mu-3sigma] otherwise, with mu, sigma and the
// direction from the attackers' own honest updates only.
func TestFangTrimPartialReference(t *testing.T) {
	est := [][]float32{{1, -2, 0.5}, {3, -1, 0.5}, {2, -3, 0.5}}
	mu := []float64{2, -2, 0.5}
	sigma := []float64{math.Sqrt(2.0 / 3), math.Sqrt(2.0 / 3), 0}
	out := fangTrimPartial(est, 4, rand.New(rand.NewPCG(1, 2)))
	if len(out) != 4 {
		t.Fatalf("%d crafted updates, want 4", len(out))
	}
	for k, u := range out {
		for j, v := range u {
			lo, hi := mu[j]-4*sigma[j], mu[j]-3*sigma[j] // direction >= 0
			if j == 1 {
				lo, hi = mu[j]+3*sigma[j], mu[j]+4*sigma[j] // direction < 0
			}
			if float64(v) < lo-1e-6 || float64(v) > hi+1e-6 {
				t.Errorf("attacker %d coordinate %d: %g outside [%g, %g]", k, j, v, lo, hi)
			}
		}
	}
}

// TestPartialKnowledgeAttacks: the partial-knowledge attacks run in a
// seeded federation (trimmed mean against fang-trim-partial, Krum against
// fang-krum-partial), their chains audit, and the options refuse too few
// attackers to estimate from.
func TestPartialKnowledgeAttacks(t *testing.T) {
	if testing.Short() {
		t.Skip("two simulations")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clean := attackRun(ctx, t, 10, 3, 0.3, "clean")
	partial := attackRun(ctx, t, 10, 3, 0.3, AttackFangTrimPartial)
	t.Logf("trimmed mean: clean %.4f, fang-trim-partial %.4f", clean, partial)
	o := DefaultOptions()
	o.Logger = testLogger(t)
	o.Net, o.Privacy, o.Out = "memory", "plain", t.TempDir()
	o.Participants, o.Cohort, o.Quorum, o.Rounds, o.Attackers, o.Attack = 10, 10, 10, 3, 3, AttackFangKrumPartial
	o.Rule = aggregate.Spec{Rule: "krum", Params: map[string]float64{"f": 3}}
	res, err := Run(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Audit.Err(); err != nil {
		t.Fatalf("fang-krum-partial chain does not audit: %v", err)
	}
	o.Attackers, o.Attack = 1, AttackFangTrimPartial
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "at least 2 attackers") {
		t.Fatalf("one partial-knowledge attacker accepted: %v", err)
	}
}

// TestAttackerSets: "first" makes participants 0..K-1 the attackers,
// "spread" K participants one every n/K; both number them 0..K-1.
func TestAttackerSets(t *testing.T) {
	for _, tc := range []struct {
		set  string
		n, c int
		want []int
	}{
		{AttackersFirst, 10, 3, []int{0, 1, 2}},
		{"", 10, 3, []int{0, 1, 2}},
		{AttackersSpread, 10, 3, []int{0, 3, 6}},
		{AttackersSpread, 100, 20, []int{0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95}},
		{AttackersSpread, 7, 7, []int{0, 1, 2, 3, 4, 5, 6}},
		{AttackersSpread, 5, 0, nil},
	} {
		o := DefaultOptions()
		o.Participants, o.Attackers, o.AttackerSet = tc.n, tc.c, tc.set
		var got []int
		for i := range tc.n {
			if k, ok := o.attackerOf(i); ok {
				if k != len(got) {
					t.Fatalf("%s %d of %d: participant %d is attacker %d, want %d", tc.set, tc.c, tc.n, i, k, len(got))
				}
				got = append(got, i)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %d of %d: attackers %v, want %v", tc.set, tc.c, tc.n, got, tc.want)
		}
	}
}

// TestKrumEstimateSelectUnweighted: with as many updates as the round has
// (every estimate stands for itself), the partial-knowledge view of Krum
// is Krum.
func TestKrumEstimateSelectUnweighted(t *testing.T) {
	for seed := range uint64(20) {
		all := honestUpdates(12, 9, seed+1)
		for _, f := range []int{1, 2, 4} {
			if got, want := krumEstimateSelect(all, 9, 12, f), aggregate.KrumSelect(all, f, 1)[0]; got != want {
				t.Fatalf("seed %d f %d: krumEstimateSelect = %d, Krum selects %d", seed, f, got, want)
			}
		}
	}
}

// TestFangKrumPartialWinsRealRound: the partial-knowledge Krum attack,
// crafted from 20 of 80 benign updates, is selected by Krum over all 80
// and the 20 crafted ones (Fang et al.'s MNIST setting: 100 workers, c = f
// = 20), in at least 7 of 10 rounds of mini-batch-like updates (8 now).
// Before the search weighted the estimates as the benign updates they
// stand for, it kept the largest lambda, which Krum over the real round
// rejected: 0 of 10.
func TestFangKrumPartialWinsRealRound(t *testing.T) {
	const h, c, f, d = 80, 20, 20, 50
	wins := 0
	for seed := range uint64(10) {
		// Mini-batch gradients: a common drift smaller than each
		// update's noise, as in one SGD step of 32 examples.
		rng := rand.New(rand.NewPCG(seed, 1))
		drift := make([]float64, d)
		for j := range drift {
			drift[j] = 0.1 * rng.NormFloat64()
		}
		benign := make([][]float32, h)
		for i := range benign {
			benign[i] = make([]float32, d)
			for j := range benign[i] {
				benign[i][j] = float32(drift[j] + 0.3*rng.NormFloat64())
			}
		}
		crafted, _, err := fangKrumM(benign[:c], c, f, h+c, fangKrumEps, rand.New(rand.NewPCG(seed, 9)))
		if err != nil {
			t.Fatal(err)
		}
		if aggregate.KrumSelect(append(slices.Clone(benign), crafted...), f, 1)[0] >= h {
			wins++
		}
	}
	if wins < 7 {
		t.Fatalf("the crafted update won Krum in %d of 10 rounds, want at least 7", wins)
	}
}
