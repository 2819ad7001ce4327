package model

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// Dataset is a labelled classification dataset held in memory. X is
// row-major float32, N rows of D features; Y holds N labels in [0, Classes).
type Dataset struct {
	X       []float32
	Y       []int
	N, D    int
	Classes int
}

// Validate reports an error when the dataset's fields disagree or a label is
// out of range.
func (d *Dataset) Validate() error {
	switch {
	case d.N < 0 || d.D <= 0 || d.Classes < 2:
		return fmt.Errorf("model: dataset has N=%d, D=%d, classes=%d (need N >= 0, D >= 1, classes >= 2)", d.N, d.D, d.Classes)
	case len(d.X) != d.N*d.D:
		return fmt.Errorf("model: dataset X has %d values, want N*D = %d", len(d.X), d.N*d.D)
	case len(d.Y) != d.N:
		return fmt.Errorf("model: dataset has %d labels, want N = %d", len(d.Y), d.N)
	}
	for i, y := range d.Y {
		if y < 0 || y >= d.Classes {
			return fmt.Errorf("model: label %d of example %d is outside [0, %d)", y, i, d.Classes)
		}
	}
	return nil
}

// Subset returns a new dataset holding copies of the rows idx, in that order.
// It panics if an index is out of range.
func (d *Dataset) Subset(idx []int) *Dataset {
	s := &Dataset{X: make([]float32, len(idx)*d.D), Y: make([]int, len(idx)), N: len(idx), D: d.D, Classes: d.Classes}
	for r, i := range idx {
		copy(s.X[r*d.D:(r+1)*d.D], d.X[i*d.D:(i+1)*d.D])
		s.Y[r] = d.Y[i]
	}
	return s
}

// Split shuffles the rows with seed and returns the first round(frac*N)
// of them as a and the rest as b.
func (d *Dataset) Split(frac float64, seed uint64) (a, b *Dataset) {
	perm := rand.New(rand.NewPCG(seed, 0x73706c6974)).Perm(d.N) // "split"
	k := int(math.Round(frac * float64(d.N)))
	k = max(0, min(d.N, k))
	return d.Subset(perm[:k]), d.Subset(perm[k:])
}

// LabelCounts returns the number of examples of each class.
func (d *Dataset) LabelCounts() []int {
	c := make([]int, d.Classes)
	for _, y := range d.Y {
		if y >= 0 && y < d.Classes {
			c[y]++
		}
	}
	return c
}

// CSVRowsMax bounds the number of data rows ParseCSV accepts.
const CSVRowsMax = 50_000_000

// LoadCSV reads a CSV file with a header row: every column is a numeric
// feature except labelColumn, which holds integer class labels 0..K-1.
// Classes is one more than the largest label.
func LoadCSV(path, labelColumn string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	d, err := ParseCSV(bufio.NewReader(f), labelColumn)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return d, nil
}

// ParseCSV is LoadCSV on a reader.
func ParseCSV(r io.Reader, labelColumn string) (*Dataset, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("model: csv: empty input, want a header row")
		}
		return nil, fmt.Errorf("model: csv: %w", err)
	}
	label := -1
	for i, h := range header {
		if strings.TrimSpace(h) == labelColumn {
			if label >= 0 {
				return nil, fmt.Errorf("model: csv: label column %q appears twice", labelColumn)
			}
			label = i
		}
	}
	if label < 0 {
		return nil, fmt.Errorf("model: csv: no column named %q in header %q", labelColumn, strings.Join(header, ","))
	}
	if len(header) < 2 {
		return nil, fmt.Errorf("model: csv: need at least one feature column besides %q", labelColumn)
	}
	d := &Dataset{D: len(header) - 1}
	maxLabel := -1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("model: csv: %w", err)
		}
		if d.N >= CSVRowsMax {
			return nil, fmt.Errorf("model: csv: more than %d rows", CSVRowsMax)
		}
		line, _ := cr.FieldPos(0)
		for i, s := range rec {
			s = strings.TrimSpace(s)
			if i == label {
				y, err := strconv.Atoi(s)
				if err != nil || y < 0 || y > 1<<20 {
					return nil, fmt.Errorf("model: csv: line %d: label %q is not an integer in [0, %d]", line, s, 1<<20)
				}
				d.Y = append(d.Y, y)
				maxLabel = max(maxLabel, y)
				continue
			}
			v, err := strconv.ParseFloat(s, 32)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("model: csv: line %d column %q: %q is not a finite number", line, header[i], s)
			}
			d.X = append(d.X, float32(v))
		}
		d.N++
	}
	if d.N == 0 {
		return nil, fmt.Errorf("model: csv: no data rows")
	}
	d.Classes = max(maxLabel+1, 2)
	return d, d.Validate()
}

// Synthetic parameters of the FedProx paper.
const (
	SyntheticFeatures = 60
	SyntheticClasses  = 10
)

// Synthetic generates the Synthetic(alpha, beta) federated dataset of the
// FedProx paper (Li et al., 2020), one Dataset per client, following the
// paper's generator: for client k, u_k ~ N(0, alpha) and B_k ~ N(0, beta)
// (alpha and beta are standard deviations); W_k in R^{10x60} and b_k in
// R^10 have entries ~ N(u_k, 1); the feature mean v_k has entries
// ~ N(B_k, 1); x ~ N(v_k, Sigma) with Sigma diagonal, Sigma_jj = j^-1.2;
// y = argmax(softmax(W_k x + b_k)). Client k has floor(lognormal(4, 2)) + 50
// examples (the power law of the paper's code), capped at 10^6 + 50. The same seed gives the same
// data, bit for bit.
func Synthetic(alpha, beta float64, clients int, seed uint64) ([]*Dataset, error) {
	if !(alpha >= 0) || !(beta >= 0) || math.IsInf(alpha, 0) || math.IsInf(beta, 0) {
		return nil, fmt.Errorf("model: synthetic: alpha and beta must be finite and non-negative, got %v, %v", alpha, beta)
	}
	if clients < 1 || clients > 1_000_000 {
		return nil, fmt.Errorf("model: synthetic: clients must be in [1, 1000000], got %d", clients)
	}
	const dim, classes = SyntheticFeatures, SyntheticClasses
	rng := rand.New(rand.NewPCG(seed, 0x73796e7468)) // "synth"
	counts := make([]int, clients)
	for k := range counts {
		n := math.Exp(4 + 2*rng.NormFloat64())
		counts[k] = int(min(n, 1e6)) + 50 // cap only guards against absurd tails
	}
	u := make([]float64, clients)
	bk := make([]float64, clients)
	for k := range u {
		u[k] = alpha * rng.NormFloat64()
	}
	for k := range bk {
		bk[k] = beta * rng.NormFloat64()
	}
	sd := make([]float64, dim)
	for j := range sd {
		sd[j] = math.Sqrt(math.Pow(float64(j+1), -1.2))
	}
	out := make([]*Dataset, clients)
	W := make([]float64, classes*dim)
	b := make([]float64, classes)
	v := make([]float64, dim)
	x := make([]float64, dim)
	for k := range clients {
		for j := range v {
			v[j] = bk[k] + rng.NormFloat64()
		}
		for i := range W {
			W[i] = u[k] + rng.NormFloat64()
		}
		for i := range b {
			b[i] = u[k] + rng.NormFloat64()
		}
		d := &Dataset{N: counts[k], D: dim, Classes: classes, X: make([]float32, counts[k]*dim), Y: make([]int, counts[k])}
		for r := range counts[k] {
			for j := range x {
				x[j] = v[j] + sd[j]*rng.NormFloat64()
				d.X[r*dim+j] = float32(x[j])
			}
			best, bestV := 0, math.Inf(-1)
			for c := range classes {
				s := b[c]
				for j, xj := range x {
					s += W[c*dim+j] * xj
				}
				if s > bestV {
					best, bestV = c, s
				}
			}
			d.Y[r] = best
		}
		out[k] = d
	}
	return out, nil
}
