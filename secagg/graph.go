package secagg

import (
	"fmt"
	"math"
	"slices"
)

// DegreeFactor is floe's default c in the neighbour count
// k = c*log2(n) rounded up to an even integer.
const DegreeFactor = 3.0

// Degree returns the neighbour count for a cohort of n: ceil(c*log2(n))
// rounded up to even, or n-1 (the complete graph) when that is not less.
func Degree(n int, c float64) int {
	if n < 2 {
		return 0
	}
	k := int(math.Ceil(c * math.Log2(float64(n))))
	k += k & 1
	if k >= n-1 {
		return n - 1
	}
	return k
}

// Graph is the round's neighbour graph over participants 0..N-1: masks
// and shares flow only along its edges.
type Graph struct {
	n   int
	k   int
	adj [][]int // sorted neighbour lists
}

// NewGraph draws the graph of n participants with degree k from the
// round's public seed. With k >= n-1 it is the complete graph. Otherwise
// k must be even and it is a Harary graph H(k, n) on a shuffled ring: the
// participants are permuted by a Fisher-Yates shuffle (i from n-1 down to
// 1, j uniform in [0, i] by rejection sampling on 64-bit words) driven by
// the AES-256-CTR stream keyed with HKDF-SHA256(seed, info "graph", n, k),
// and each is joined to the k/2 nearest on either side of the ring. Anyone
// with the seed redraws the same graph.
func NewGraph(d Domain, seed [32]byte, n, k int) (*Graph, error) {
	if n < 1 || n > 1<<31-1 {
		return nil, fmt.Errorf("secagg: graph of %d participants", n)
	}
	g := &Graph{n: n, adj: make([][]int, n)}
	if k >= n-1 {
		g.k = n - 1
		for i := range g.adj {
			l := make([]int, 0, n-1)
			for j := range n {
				if j != i {
					l = append(l, j)
				}
			}
			g.adj[i] = l
		}
		return g, nil
	}
	if k < 2 || k%2 != 0 {
		return nil, fmt.Errorf("secagg: graph degree %d for %d participants: need an even degree >= 2 or >= n-1", k, n)
	}
	g.k = k
	key := kdf(seed[:], d.info("graph", []uint32{uint32(n), uint32(k)}))
	rng := newPRG(&key)
	ring := make([]int, n)
	for i := range ring {
		ring[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(rng.Uintn(uint64(i) + 1))
		ring[i], ring[j] = ring[j], ring[i]
	}
	for p, v := range ring {
		l := make([]int, 0, k)
		for off := 1; off <= k/2; off++ {
			l = append(l, ring[(p+off)%n], ring[(p-off+n)%n])
		}
		slices.Sort(l)
		g.adj[v] = l
	}
	return g, nil
}

// N returns the number of participants.
func (g *Graph) N() int { return g.n }

// K returns the degree.
func (g *Graph) K() int { return g.k }

// Neighbours returns i's neighbours in ascending order. The caller must not
// modify the slice.
func (g *Graph) Neighbours(i int) []int { return g.adj[i] }

// Adjacent reports whether i and j are neighbours.
func (g *Graph) Adjacent(i, j int) bool {
	if i < 0 || i >= g.n || j < 0 || j >= g.n {
		return false
	}
	_, ok := slices.BinarySearch(g.adj[i], j)
	return ok
}
