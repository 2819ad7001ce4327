package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func newTestRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

func TestSynthetic(t *testing.T) {
	a, err := Synthetic(1, 1, 30, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Synthetic(1, 1, 30, 7)
	total := 0
	for k := range a {
		if err := a[k].Validate(); err != nil {
			t.Fatal(err)
		}
		if a[k].D != 60 || a[k].Classes != 10 || a[k].N < 50 {
			t.Fatalf("client %d: N=%d D=%d classes=%d", k, a[k].N, a[k].D, a[k].Classes)
		}
		if a[k].N != b[k].N {
			t.Fatal("not deterministic")
		}
		for i := range a[k].X {
			if math.Float32bits(a[k].X[i]) != math.Float32bits(b[k].X[i]) {
				t.Fatal("not deterministic")
			}
		}
		total += a[k].N
	}
	// Power law: the largest client holds far more than the median one.
	many, _ := Synthetic(0, 0, 100, 3)
	sizes := make([]int, len(many))
	for i, d := range many {
		sizes[i] = d.N
	}
	slices.Sort(sizes)
	if sizes[99] < 5*sizes[50] {
		t.Fatalf("client sizes not heavy-tailed: median %d, max %d", sizes[50], sizes[99])
	}
	c, _ := Synthetic(1, 1, 30, 8)
	if c[0].N == a[0].N && c[1].N == a[1].N {
		t.Fatal("seed ignored")
	}
	// Heterogeneity: with alpha=beta=0 clients share one mean, so label
	// distributions are more alike than with alpha=beta=1. Compare the
	// spread of client feature means.
	spread := func(sets []*Dataset) float64 {
		var ms []float64
		for _, d := range sets {
			s := 0.0
			for r := range d.N {
				s += float64(d.X[r*d.D])
			}
			ms = append(ms, s/float64(d.N))
		}
		mean, v := 0.0, 0.0
		for _, m := range ms {
			mean += m
		}
		mean /= float64(len(ms))
		for _, m := range ms {
			v += (m - mean) * (m - mean)
		}
		return v / float64(len(ms))
	}
	homo, _ := Synthetic(0, 0, 30, 7)
	hetero, _ := Synthetic(0, 5, 30, 7)
	if !(spread(hetero) > 4*spread(homo)) {
		t.Fatalf("beta does not spread feature means: %v vs %v", spread(hetero), spread(homo))
	}
	for _, bad := range [][3]float64{{-1, 0, 3}, {0, math.NaN(), 3}, {0, 0, 0}} {
		if _, err := Synthetic(bad[0], bad[1], int(bad[2]), 1); err == nil {
			t.Errorf("Synthetic%v accepted", bad)
		}
	}
}

func TestSubsetSplit(t *testing.T) {
	d := toyData(10, 3, 4, 1)
	s := d.Subset([]int{9, 0})
	if s.N != 2 || s.X[0] != d.X[27] || s.X[3] != d.X[0] || s.Y[0] != d.Y[9] {
		t.Fatal("Subset wrong")
	}
	s.X[0] = 99
	if d.X[27] == 99 {
		t.Fatal("Subset shares memory")
	}
	a, b := d.Split(0.7, 1)
	if a.N != 7 || b.N != 3 || a.Validate() != nil || b.Validate() != nil {
		t.Fatal("Split wrong")
	}
	counts := d.LabelCounts()
	n := 0
	for _, c := range counts {
		n += c
	}
	if n != 10 {
		t.Fatal("LabelCounts")
	}
}

func TestCSV(t *testing.T) {
	d, err := ParseCSV(strings.NewReader("a,label,b\n1,0,2.5\n-3,2,4e1\n"), "label")
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 2 || d.D != 2 || d.Classes != 3 || d.X[1] != 2.5 || d.X[2] != -3 || d.X[3] != 40 || d.Y[1] != 2 {
		t.Fatalf("%+v", d)
	}
	for name, in := range map[string]string{
		"empty":          "",
		"no label":       "a,b\n1,2\n",
		"no rows":        "a,label\n",
		"bad number":     "a,label\nx,1\n",
		"nan":            "a,label\nNaN,1\n",
		"bad label":      "a,label\n1,1.5\n",
		"negative label": "a,label\n1,-1\n",
		"ragged":         "a,label\n1,1,3\n",
		"only label":     "label\n1\n",
		"dup label":      "label,label\n1,1\n",
	} {
		if _, err := ParseCSV(strings.NewReader(in), "label"); err == nil || !strings.HasPrefix(err.Error(), "model: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add("a,label,b\n1,0,2.5\n-3,2,4e1\n")
	f.Add("label,x\n3,1e-3\n")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseCSV(strings.NewReader(s), "label")
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
