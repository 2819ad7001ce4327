package aggregate

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// seeded returns a generator for test data.
func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// randUpdates returns n updates of dim normal values (scale s) with
// participant IDs in ascending order and 1..100 examples.
func randUpdates(r *rand.Rand, n, dim int, s float64) []Update {
	us := make([]Update, n)
	for i := range us {
		d := make([]float32, dim)
		for j := range d {
			d[j] = float32(r.NormFloat64() * s)
		}
		us[i] = Update{Participant: fmt.Sprintf("peer-%04d", i), NumExamples: uint64(1 + r.IntN(100)), Delta: d}
	}
	return us
}

func randVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for j := range v {
		v[j] = float32(r.NormFloat64())
	}
	return v
}

func mustNew(t testing.TB, s Spec, dim int) Aggregator {
	t.Helper()
	a, err := New(s, dim)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// run adds us and finishes, returning the new model.
func run(t testing.TB, a Aggregator, global []float32, us []Update) []float32 {
	t.Helper()
	for _, u := range us {
		if err := a.Add(u); err != nil {
			t.Fatal(err)
		}
	}
	dst := make([]float32, len(global))
	if err := a.Finish(global, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func hashF32(h interface{ Write([]byte) (int, error) }, v []float32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	h.Write(b)
}

func sum256F32(v []float32) [32]byte {
	h := sha256.New()
	hashF32(h, v)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}
