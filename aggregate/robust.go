package aggregate

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// robust buffers every update of the round (O(n*dim) memory) and applies
// a Byzantine-robust rule at Finish. Updates are unweighted.
type robust struct {
	name string // rule name
	rule string // canonical description
	dim  int
	p    map[string]float64

	ord   order
	rows  [][]float32 // rows[:ord.n] hold this round's updates, in participant order
	spare [][]float32 // buffers kept from earlier rounds
}

func newRobust(s Spec, p map[string]float64, dim int) *robust {
	return &robust{name: s.Rule, rule: s.Canonical(), dim: dim, p: p}
}

func (a *robust) Rule() string            { return a.rule }
func (a *robust) Dim() int                { return a.dim }
func (a *robust) Streaming() bool         { return false }
func (a *robust) Len() int                { return a.ord.n }
func (a *robust) SetNoiseSeed(_ [32]byte) {}
func (a *robust) State() []byte           { return encodeState(a.rule, a.dim, nil) }
func (a *robust) SetState(b []byte) error { return decodeState(b, a.rule, a.dim, nil) }

func (a *robust) check(ord *order, u Update) error {
	if err := ord.check(u.Participant); err != nil {
		return err
	}
	if len(u.Delta) != a.dim {
		return &RejectError{Reason: ReasonShape, Detail: fmt.Sprintf("update has %d parameters, model has %d", len(u.Delta), a.dim)}
	}
	if i := allFinite(u.Delta); i >= 0 {
		return &RejectError{Reason: ReasonNonFinite, Detail: fmt.Sprintf("parameter %d is %v", i, u.Delta[i])}
	}
	return nil
}

// Add copies u.Delta; it rejects non-finite values, which would make the
// order statistics ill-defined.
func (a *robust) Add(u Update) error {
	if err := a.check(&a.ord, u); err != nil {
		return err
	}
	a.keep(u)
	return nil
}

// AddBatch adds every update of us, or none if one is refused.
func (a *robust) AddBatch(us []Update) error {
	ord := a.ord
	for k, u := range us {
		if err := a.check(&ord, u); err != nil {
			return batchErr(k, u, err)
		}
		ord.accept(u.Participant)
	}
	for _, u := range us {
		a.keep(u)
	}
	return nil
}

func (a *robust) keep(u Update) {
	var row []float32
	if k := len(a.spare); k > 0 {
		row, a.spare = a.spare[k-1], a.spare[:k-1]
	} else {
		row = make([]float32, a.dim)
	}
	copy(row, u.Delta)
	a.rows = append(a.rows, row)
	a.ord.accept(u.Participant)
}

func (a *robust) Reset() {
	a.spare = append(a.spare, a.rows...)
	clear(a.rows)
	a.rows = a.rows[:0]
	a.ord.reset()
}

func (a *robust) Finish(global, dst []float32) error {
	defer a.Reset()
	if err := checkDst(a.dim, global, dst); err != nil {
		return err
	}
	n := len(a.rows)
	if n == 0 {
		return ErrNoUpdates
	}
	switch a.name {
	case "median":
		orderStat(dst, global, a.rows, 0, medianOf)
	case "trimmedmean":
		k := int(math.Floor(a.p["beta"] * float64(n)))
		orderStat(dst, global, a.rows, k, trimmedMeanOf)
	case "krum", "multikrum":
		f := int(a.p["f"])
		m := 1
		if a.name == "multikrum" {
			m = int(a.p["m"])
		}
		if n < 2*f+3 {
			return fmt.Errorf("aggregate: %s with f=%d needs at least %d updates, have %d", a.name, f, 2*f+3, n)
		}
		if m > n {
			return fmt.Errorf("aggregate: multikrum selects m=%d updates, have only %d", m, n)
		}
		sel := KrumSelect(a.rows, f, m)
		krumMean(dst, global, a.rows, sel)
	default:
		panic("aggregate: unknown robust rule " + a.name)
	}
	return nil
}

// Order statistics use the IEEE total order on finite values, in which -0
// sorts before +0: each float32 maps to a uint32 key that sorts the same
// way (sign bit flipped for non-negative values, all bits flipped for
// negative ones), which is also faster to sort than floats.

func f32key(v float32) uint32 {
	b := math.Float32bits(v)
	if b>>31 != 0 {
		return ^b
	}
	return b | 1<<31
}

func keyF32(k uint32) float32 {
	if k>>31 != 0 {
		return math.Float32frombits(k &^ (1 << 31))
	}
	return math.Float32frombits(^k)
}

// medianOf reports the median of sorted keys (the mean of the two middle
// values, exact in float64, for even lengths).
func medianOf(col []uint32, _ int) float64 {
	n := len(col)
	if n%2 == 1 {
		return float64(keyF32(col[n/2]))
	}
	return (float64(keyF32(col[n/2-1])) + float64(keyF32(col[n/2]))) / 2
}

// trimmedMeanOf reports the mean of sorted keys without the k smallest and
// k largest values, summed in ascending order in float64.
func trimmedMeanOf(col []uint32, k int) float64 {
	var s float64
	for _, v := range col[k : len(col)-k] {
		s += float64(keyF32(v))
	}
	return s / float64(len(col)-2*k)
}

// orderStat sets dst[j] = float32(float64(global[j]) + stat(sorted column j, k)).
func orderStat(dst, global []float32, rows [][]float32, k int, stat func([]uint32, int) float64) {
	n := len(rows)
	forChunks(len(dst), func(lo, hi int) {
		col := make([]uint32, n)
		for j := lo; j < hi; j++ {
			for r, row := range rows {
				col[r] = f32key(row[j])
			}
			slices.Sort(col)
			dst[j] = float32(float64(global[j]) + stat(col, k))
		}
	})
}

// krumBlock is the number of coordinates per cache block of the pairwise
// distance computation; a multiple of 8 so lanes stay aligned.
const krumBlock = 8192

// PairwiseSquaredDistances reports the squared L2 distance between every
// pair of rows (d[i][j] == d[j][i], d[i][i] == 0). Each distance is summed
// in float64 in the fixed lane order of Norm: coordinate c goes to lane c%8,
// each lane sums in coordinate order, lanes combine pairwise.
func PairwiseSquaredDistances(rows [][]float32) [][]float64 {
	n := len(rows)
	dim := 0
	if n > 0 {
		dim = len(rows[0])
	}
	lanes := make([][8]float64, n*n) // lanes[i*n+j] for i < j
	for b0 := 0; b0 < dim; b0 += krumBlock {
		b1 := min(b0+krumBlock, dim)
		forEach(n, max(1, min(maxWorkers, n)), func(i int) {
			x := rows[i][b0:b1]
			for j := i + 1; j < n; j++ {
				distLanes(&lanes[i*n+j], x, rows[j][b0:b1])
			}
		})
	}
	d := make([][]float64, n)
	for i := range d {
		d[i] = make([]float64, n)
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			l := &lanes[i*n+j]
			s := ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
			d[i][j], d[j][i] = s, s
		}
	}
	return d
}

// distLanes adds the squared differences of x and y to the 8 lanes; len(x)
// is a multiple of 8 except in the last block, whose tail continues the
// lane pattern.
func distLanes(l *[8]float64, x, y []float32) {
	y = y[:len(x)]
	n := 0
	if haveAxpyAsm {
		n = len(x) &^ 7
		distLanesSSE2(l, x[:n], y[:n])
	}
	distLanesGo(l, x[n:], y[n:])
}

// distLanesGo is the pure-Go reference of distLanes; len(x) may be any
// length, and element i goes to lane i%8.
func distLanesGo(l *[8]float64, x, y []float32) {
	y = y[:len(x)]
	i := 0
	for ; i+8 <= len(x); i += 8 {
		a := x[i : i+8 : i+8]
		b := y[i : i+8 : i+8]
		d0 := float64(a[0]) - float64(b[0])
		d1 := float64(a[1]) - float64(b[1])
		d2 := float64(a[2]) - float64(b[2])
		d3 := float64(a[3]) - float64(b[3])
		d4 := float64(a[4]) - float64(b[4])
		d5 := float64(a[5]) - float64(b[5])
		d6 := float64(a[6]) - float64(b[6])
		d7 := float64(a[7]) - float64(b[7])
		l[0] = float64(d0*d0) + l[0]
		l[1] = float64(d1*d1) + l[1]
		l[2] = float64(d2*d2) + l[2]
		l[3] = float64(d3*d3) + l[3]
		l[4] = float64(d4*d4) + l[4]
		l[5] = float64(d5*d5) + l[5]
		l[6] = float64(d6*d6) + l[6]
		l[7] = float64(d7*d7) + l[7]
	}
	for j := 0; i < len(x); i, j = i+1, j+1 {
		d := float64(x[i]) - float64(y[i])
		l[j] = float64(d*d) + l[j]
	}
}

// KrumScores reports each row's Krum score (Blanchard et al. 2017): the sum
// of its squared distances to its n-f-2 nearest other rows, summed in
// ascending order. It needs n >= f+3.
func KrumScores(d [][]float64, f int) []float64 {
	n := len(d)
	keep := n - f - 2
	scores := make([]float64, n)
	others := make([]float64, 0, n)
	for i := range n {
		others = others[:0]
		for j := range n {
			if j != i {
				others = append(others, d[i][j])
			}
		}
		slices.Sort(others)
		var s float64
		for _, v := range others[:keep] {
			s += v
		}
		scores[i] = s
	}
	return scores
}

// KrumSelect reports the indices of the m rows with the lowest Krum scores,
// ties broken by the lower index, in ascending index order. Krum is m = 1;
// Multi-Krum averages the m selected rows.
func KrumSelect(rows [][]float32, f, m int) []int {
	scores := KrumScores(PairwiseSquaredDistances(rows), f)
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(scores[a], scores[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	sel := idx[:m]
	slices.Sort(sel)
	return sel
}

// krumMean sets dst = global + the unweighted mean of the selected rows,
// summed in float64 in ascending index order.
func krumMean(dst, global []float32, rows [][]float32, sel []int) {
	m := float64(len(sel))
	forChunks(len(dst), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			var s float64
			for _, r := range sel {
				s += float64(rows[r][j])
			}
			dst[j] = float32(float64(global[j]) + s/m)
		}
	})
}
