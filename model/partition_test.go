package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkCover fails unless the parts hold every index in [0, n) exactly once,
// each part ascending.
func checkCover(t *testing.T, parts [][]int, n int) {
	t.Helper()
	seen := make([]bool, n)
	total := 0
	for c, p := range parts {
		if !slices.IsSorted(p) {
			t.Fatalf("client %d indices not ascending", c)
		}
		for _, i := range p {
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("index %d out of range or used twice", i)
			}
			seen[i] = true
			total++
		}
	}
	if total != n {
		t.Fatalf("%d of %d examples assigned", total, n)
	}
}

// mnistLikeLabels returns 6000 examples of each of 10 labels, interleaved.
func mnistLikeLabels() []int {
	labels := make([]int, 60000)
	for i := range labels {
		labels[i] = (i * 7) % 10
	}
	return labels
}

func TestPartitionIID(t *testing.T) {
	labels := mnistLikeLabels()
	parts := PartitionIID(labels, 7, 1)
	checkCover(t, parts, len(labels))
	for _, p := range parts {
		if len(p) != 8571 && len(p) != 8572 {
			t.Fatalf("part size %d", len(p))
		}
	}
	if !slices.Equal(parts[3], PartitionIID(labels, 7, 1)[3]) {
		t.Fatal("not deterministic")
	}
	if slices.Equal(parts[3], PartitionIID(labels, 7, 2)[3]) {
		t.Fatal("seed ignored")
	}
	checkCover(t, PartitionIID(labels[:3], 5, 1), 3) // more clients than examples
}

func TestPartitionShards(t *testing.T) {
	labels := mnistLikeLabels()
	parts := PartitionShards(labels, 100, 2, 1)
	checkCover(t, parts, len(labels))
	twoLabels := 0
	for c, p := range parts {
		if len(p) != 600 {
			t.Fatalf("client %d has %d examples, want 600", c, len(p))
		}
		// Shards of 300 consecutive sorted examples never straddle labels
		// when each label has 6000 examples: a client sees 1 or 2 labels,
		// each 300 or 600 times.
		counts := map[int]int{}
		for _, i := range p {
			counts[labels[i]]++
		}
		if len(counts) > 2 {
			t.Fatalf("client %d sees %d labels", c, len(counts))
		}
		for _, n := range counts {
			if n != 300 && n != 600 {
				t.Fatalf("client %d label count %d", c, n)
			}
		}
		if len(counts) == 2 {
			twoLabels++
		}
	}
	if twoLabels < 70 {
		t.Fatalf("only %d of 100 clients see two labels", twoLabels)
	}
	// Generalised sizes: uneven shard sizes still cover everything.
	checkCover(t, PartitionShards(labels[:1003], 7, 3, 2), 1003)
}

func TestPartitionDirichlet(t *testing.T) {
	labels := mnistLikeLabels()
	// A label's share spread: with large alpha every client's label mix is
	// near uniform; with small alpha clients concentrate on few labels.
	maxShare := func(parts [][]int) float64 {
		worst := 0.0
		for _, p := range parts {
			if len(p) == 0 {
				continue
			}
			counts := make([]int, 10)
			for _, i := range p {
				counts[labels[i]]++
			}
			worst = max(worst, float64(slices.Max(counts))/float64(len(p)))
		}
		return worst
	}
	iid := PartitionDirichlet(labels, 10, 1000, 1)
	checkCover(t, iid, len(labels))
	skew := PartitionDirichlet(labels, 10, 0.05, 1)
	checkCover(t, skew, len(labels))
	if m := maxShare(iid); m > 0.13 {
		t.Fatalf("alpha=1000: a client has %.2f of one label", m)
	}
	if m := maxShare(skew); m < 0.6 {
		t.Fatalf("alpha=0.05: largest single-label share only %.2f", m)
	}
	// Per class, the counts follow the cut points: they sum to the class size.
	for y := range 10 {
		n := 0
		for _, p := range skew {
			for _, i := range p {
				if labels[i] == y {
					n++
				}
			}
		}
		if n != 6000 {
			t.Fatalf("label %d: %d examples assigned", y, n)
		}
	}
	tiny := PartitionDirichlet(labels[:100], 20, 1e-4, 3)
	checkCover(t, tiny, 100)
	if !slices.Equal(skew[2], PartitionDirichlet(labels, 10, 0.05, 1)[2]) {
		t.Fatal("not deterministic")
	}
}

// TestDirichletShares checks the distribution of one client's share of a
// class against Dirichlet(alpha): mean 1/K, variance (1/K)(1-1/K)/(K*alpha+1).
func TestDirichletShares(t *testing.T) {
	const classes, perClass, K, alpha = 400, 1000, 5, 0.5
	labels := make([]int, classes*perClass)
	for i := range labels {
		labels[i] = i % classes
	}
	parts := PartitionDirichlet(labels, K, alpha, 9)
	checkCover(t, parts, len(labels))
	var sum, sumSq float64
	for _, p := range parts {
		counts := make([]int, classes)
		for _, i := range p {
			counts[labels[i]]++
		}
		for _, c := range counts {
			share := float64(c) / perClass
			sum += share
			sumSq += share * share
		}
	}
	n := float64(classes * K)
	mean := sum / n
	variance := sumSq/n - mean*mean
	wantVar := (1.0 / K) * (1 - 1.0/K) / (K*alpha + 1)
	if math.Abs(mean-1.0/K) > 1e-9 || math.Abs(variance-wantVar) > 0.15*wantVar {
		t.Fatalf("share mean %v (want %v), variance %v (want %v)", mean, 1.0/K, variance, wantVar)
	}
}

func TestGammaMean(t *testing.T) {
	rng := newTestRand(4)
	for _, a := range []float64{0.1, 0.5, 1, 3} {
		s := 0.0
		const n = 20000
		for range n {
			s += math.Exp(logGamma(rng, a))
		}
		if m := s / n; math.Abs(m-a) > 0.05*a+0.01 {
			t.Errorf("Gamma(%v) mean %v", a, m)
		}
	}
}

func TestPartitionScheme(t *testing.T) {
	labels := mnistLikeLabels()[:1000]
	for _, s := range []string{"iid", "shards", "shards:3", "dirichlet:0.5"} {
		parts, err := Partition(labels, 10, s, 1)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		checkCover(t, parts, 1000)
	}
	for _, s := range []string{"", "iid:2", "shards:0", "shards:x", "shards:200", "dirichlet", "dirichlet:0", "dirichlet:-1", "dirichlet:inf", "zipf"} {
		if _, err := Partition(labels, 10, s, 1); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := Partition(labels, 0, "iid", 1); err == nil {
		t.Error("0 clients accepted")
	}
}

// TestPartitionFang checks the statistics of Fang et al.'s partition on
// synthetic labels: the share of examples landing in their label's group is
// p (within a tolerance, for a fixed seed), the others spread evenly over
// the other groups, and one seed gives one partition.
func TestPartitionFang(t *testing.T) {
	labels := mnistLikeLabels() // 10 labels, 6000 each
	for _, tc := range []struct {
		workers int
		p       float64
	}{
		{10, 0.1}, {20, 0.5}, {30, 0.8}, {100, 0.5}, {13, 1}, {10, 0},
	} {
		parts := PartitionFang(labels, tc.workers, tc.p, rand.New(rand.NewPCG(1, 2)))
		checkCover(t, parts, len(labels))
		group := func(w int) int { // the group of worker w
			for g := range 10 {
				if w < (g+1)*tc.workers/10 {
					return g
				}
			}
			panic("no group")
		}
		home := 0
		other := make([]int, 10) // examples landing outside their home group, by group
		for w, p := range parts {
			for _, i := range p {
				if g := group(w); g == labels[i] {
					home++
				} else {
					other[g]++
				}
			}
		}
		frac := float64(home) / float64(len(labels))
		// The binomial standard deviation is at most 0.5/sqrt(60000) = 0.002.
		if math.Abs(frac-tc.p) > 0.01 {
			t.Errorf("workers %d p %v: %.4f of the examples in their home group", tc.workers, tc.p, frac)
		}
		want := float64(len(labels)-home) / 10
		for g, n := range other {
			if want > 0 && math.Abs(float64(n)-want) > 0.05*want {
				t.Errorf("workers %d p %v: group %d got %d examples of other labels, want about %.0f", tc.workers, tc.p, g, n, want)
			}
		}
		again := PartitionFang(labels, tc.workers, tc.p, rand.New(rand.NewPCG(1, 2)))
		for w := range parts {
			if !slices.Equal(parts[w], again[w]) {
				t.Fatalf("workers %d p %v: not deterministic for a seed", tc.workers, tc.p)
			}
		}
		t.Logf("workers %d p %.1f: %.4f in the home group", tc.workers, tc.p, frac)
	}
	a := PartitionFang(labels, 20, 0.5, rand.New(rand.NewPCG(1, 2)))
	b := PartitionFang(labels, 20, 0.5, rand.New(rand.NewPCG(3, 2)))
	if slices.Equal(a[0], b[0]) {
		t.Fatal("seed ignored")
	}
	if _, err := Partition(labels, 20, "fang:0.5", 1); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"fang", "fang:2", "fang:x", "fang:-0.1"} {
		if _, err := Partition(labels, 20, bad, 1); err == nil {
			t.Errorf("Partition %q accepted", bad)
		}
	}
	if _, err := Partition(labels, 9, "fang:0.5", 1); err == nil {
		t.Error("fewer workers than labels accepted")
	}
}
