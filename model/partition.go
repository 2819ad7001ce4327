package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Partitions assign example indices to clients. Each returns one ascending
// index list per client; together the lists hold every index 0..len(labels)-1
// exactly once. They are seeded: the same arguments give the same lists. They
// panic on invalid arguments (a programming error); Partition validates a
// user-supplied scheme and returns an error instead.

// PartitionIID shuffles the examples and deals them into clients parts whose
// sizes differ by at most one.
func PartitionIID(labels []int, clients int, seed uint64) [][]int {
	if clients < 1 {
		panic(fmt.Sprintf("model: PartitionIID: clients = %d", clients))
	}
	n := len(labels)
	perm := rand.New(rand.NewPCG(seed, 0x696964)).Perm(n) // "iid"
	out := make([][]int, clients)
	for c := range clients {
		lo, hi := c*n/clients, (c+1)*n/clients
		out[c] = slices.Clone(perm[lo:hi])
		slices.Sort(out[c])
	}
	return out
}

// PartitionShards is the pathological non-IID partition of the FedAvg paper
// (McMahan et al., 2017): sort the examples by label (ties by index), cut
// them into clients*shardsPerClient shards of consecutive examples (sizes
// differing by at most one), and give each client shardsPerClient shards
// chosen at random. For MNIST with 100 clients and 2 shards each, that is 200
// shards of 300 and most clients see two digits.
func PartitionShards(labels []int, clients, shardsPerClient int, seed uint64) [][]int {
	if clients < 1 || shardsPerClient < 1 || clients*shardsPerClient > len(labels) {
		panic(fmt.Sprintf("model: PartitionShards: %d clients x %d shards for %d examples", clients, shardsPerClient, len(labels)))
	}
	n := len(labels)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return labels[a] - labels[b] })
	shards := clients * shardsPerClient
	perm := rand.New(rand.NewPCG(seed, 0x7368617264)).Perm(shards) // "shard"
	out := make([][]int, clients)
	for c := range clients {
		for _, s := range perm[c*shardsPerClient : (c+1)*shardsPerClient] {
			out[c] = append(out[c], order[s*n/shards:(s+1)*n/shards]...)
		}
		slices.Sort(out[c])
	}
	return out
}

// PartitionDirichlet draws, for each class in turn, client proportions
// p ~ Dirichlet(alpha, ..., alpha) and splits that class's examples (in a
// seeded random order) among the clients at the cut points
// floor(n_class * (p_1 + ... + p_c)). Small alpha gives skewed label
// distributions, large alpha nearly IID ones. A client may receive no
// examples when alpha is small. alpha must be positive.
func PartitionDirichlet(labels []int, clients int, alpha float64, seed uint64) [][]int {
	if clients < 1 || !(alpha > 0) || math.IsInf(alpha, 0) {
		panic(fmt.Sprintf("model: PartitionDirichlet: clients = %d, alpha = %v", clients, alpha))
	}
	rng := rand.New(rand.NewPCG(seed, 0x646972)) // "dir"
	byClass := map[int][]int{}
	var classes []int
	for i, y := range labels {
		if _, ok := byClass[y]; !ok {
			classes = append(classes, y)
		}
		byClass[y] = append(byClass[y], i)
	}
	slices.Sort(classes)
	out := make([][]int, clients)
	p := make([]float64, clients)
	for _, y := range classes {
		idx := byClass[y]
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		dirichlet(rng, alpha, p)
		cum, lo := 0.0, 0
		for c := range clients {
			cum += p[c]
			hi := int(math.Floor(cum * float64(len(idx))))
			if c == clients-1 || hi > len(idx) {
				hi = len(idx)
			}
			hi = max(hi, lo)
			out[c] = append(out[c], idx[lo:hi]...)
			lo = hi
		}
	}
	for c := range out {
		slices.Sort(out[c])
		if out[c] == nil {
			out[c] = []int{}
		}
	}
	return out
}

// dirichlet fills p with a draw from the symmetric Dirichlet(alpha)
// distribution, computed from Gamma(alpha) variates in log space so that
// tiny alpha does not underflow.
func dirichlet(rng *rand.Rand, alpha float64, p []float64) {
	mx := math.Inf(-1)
	for i := range p {
		p[i] = logGamma(rng, alpha)
		mx = max(mx, p[i])
	}
	sum := 0.0
	for i := range p {
		p[i] = math.Exp(p[i] - mx)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
}

// logGamma returns the log of a Gamma(a, 1) variate (Marsaglia and Tsang,
// 2000; for a < 1 the boost Gamma(a) = Gamma(a+1) * U^(1/a)).
func logGamma(rng *rand.Rand, a float64) float64 {
	if a < 1 {
		u := rng.Float64()
		for u == 0 {
			u = rng.Float64()
		}
		return logGamma(rng, a+1) + math.Log(u)/a
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return math.Log(d * v)
		}
	}
}

// PartitionFang is the non-IID partition of Fang et al., "Local Model
// Poisoning Attacks to Byzantine-Robust Federated Learning" (USENIX
// Security 2020), Section 5.1: the workers form L groups, L the number of
// labels (the largest label plus one), group g holding workers
// [g*workers/L, (g+1)*workers/L). An example of label l goes to group l
// with probability p and otherwise to one of the other L-1 groups chosen
// uniformly; within its group it goes to a worker chosen uniformly. p = 1/L
// is IID; larger p is more skewed (the paper's default is 0.5). The
// examples are dealt in index order from rng, so one seeded rng gives one
// partition. It panics unless 2 <= L <= workers, p is in [0, 1] and every
// label is non-negative.
func PartitionFang(labels []int, workers int, p float64, rng *rand.Rand) [][]int {
	L := 0
	for _, y := range labels {
		if y < 0 {
			panic(fmt.Sprintf("model: PartitionFang: negative label %d", y))
		}
		L = max(L, y+1)
	}
	if L < 2 || workers < L || !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("model: PartitionFang: %d workers, %d labels, p = %v", workers, L, p))
	}
	out := make([][]int, workers)
	for i, y := range labels {
		g := y
		if rng.Float64() >= p {
			g = rng.IntN(L - 1) // one of the other groups
			if g >= y {
				g++
			}
		}
		lo, hi := g*workers/L, (g+1)*workers/L
		w := lo + rng.IntN(hi-lo)
		out[w] = append(out[w], i)
	}
	for c := range out {
		if out[c] == nil {
			out[c] = []int{}
		}
	}
	return out
}

// Partition splits labels among clients by a scheme given as text: "iid",
// "shards" (2 shards a client), "shards:S", "dirichlet:ALPHA" or "fang:P"
// (PartitionFang with an rng seeded by seed). Unlike the Partition*
// functions it returns an error for bad arguments.
func Partition(labels []int, clients int, scheme string, seed uint64) ([][]int, error) {
	if clients < 1 {
		return nil, fmt.Errorf("model: partition: clients must be at least 1, got %d", clients)
	}
	name, arg, hasArg := strings.Cut(scheme, ":")
	switch name {
	case "iid":
		if hasArg {
			return nil, fmt.Errorf("model: partition %q: iid takes no argument", scheme)
		}
		return PartitionIID(labels, clients, seed), nil
	case "shards":
		s := 2
		if hasArg {
			var err error
			if s, err = strconv.Atoi(arg); err != nil || s < 1 {
				return nil, fmt.Errorf("model: partition %q: shards per client must be a positive integer", scheme)
			}
		}
		if clients*s > len(labels) {
			return nil, fmt.Errorf("model: partition %q: %d clients x %d shards exceed %d examples", scheme, clients, s, len(labels))
		}
		return PartitionShards(labels, clients, s, seed), nil
	case "dirichlet":
		a, err := strconv.ParseFloat(arg, 64)
		if !hasArg || err != nil || !(a > 0) || math.IsInf(a, 0) {
			return nil, fmt.Errorf("model: partition %q: want dirichlet:ALPHA with ALPHA > 0", scheme)
		}
		return PartitionDirichlet(labels, clients, a, seed), nil
	case "fang":
		p, err := strconv.ParseFloat(arg, 64)
		if !hasArg || err != nil || !(p >= 0 && p <= 1) {
			return nil, fmt.Errorf("model: partition %q: want fang:P with P in [0, 1]", scheme)
		}
		return partitionFang(labels, clients, p, seed)
	}
	return nil, fmt.Errorf("model: unknown partition scheme %q (want iid, shards[:S], dirichlet:ALPHA or fang:P)", scheme)
}

// partitionFang is PartitionFang with its rng from seed, its arguments
// checked.
func partitionFang(labels []int, workers int, p float64, seed uint64) ([][]int, error) {
	L := 0
	for _, y := range labels {
		if y < 0 {
			return nil, fmt.Errorf("model: partition fang: negative label %d", y)
		}
		L = max(L, y+1)
	}
	if L < 2 || workers < L {
		return nil, fmt.Errorf("model: partition fang: needs at least as many workers as labels (%d), have %d", L, workers)
	}
	return PartitionFang(labels, workers, p, rand.New(rand.NewPCG(seed, 0x66616e67))), nil // "fang"
}
