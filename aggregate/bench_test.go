package aggregate

import (
	"fmt"
	"testing"
)

// BenchmarkFold sweeps the FedAvg fold (Add and AddBatch) against a plain
// copy of the same update buffers, which cycle through a 256 MB pool so
// that they come from memory, not cache. Run with
//
//	go test ./aggregate -run '^$' -bench Fold
func BenchmarkFold(b *testing.B) {
	for _, d := range []int{1 << 20, 10 << 20} {
		pool := make([][]float32, max(8, (256<<20)/(4*d)))
		for i := range pool {
			pool[i] = randVec(seeded(uint64(i)), d)
		}
		dst := make([]float32, d)
		b.Run(fmt.Sprintf("copy/d=%d", d), func(b *testing.B) {
			b.SetBytes(int64(4 * d * len(pool)))
			b.ReportAllocs()
			for b.Loop() {
				for _, p := range pool {
					copy(dst, p)
				}
			}
		})
		for _, k := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("fedavg/d=%d/batch=%d", d, k), func(b *testing.B) {
				a := mustNew(b, Spec{Rule: "fedavg"}, d)
				us := make([]Update, len(pool))
				for i := range us {
					us[i] = Update{Participant: fmt.Sprintf("p%04d", i), NumExamples: 3, Delta: pool[i]}
				}
				b.SetBytes(int64(4 * d * len(pool)))
				b.ReportAllocs()
				for b.Loop() {
					for i := 0; i < len(us); i += k {
						if err := a.AddBatch(us[i:min(i+k, len(us))]); err != nil {
							b.Fatal(err)
						}
					}
					a.Reset()
				}
			})
		}
	}
}

// BenchmarkRobust measures the buffered rules at N = 50, D = 1M (updates/s
// is 50 / (seconds per op)).
func BenchmarkRobust(b *testing.B) {
	const n, d = 50, 1 << 20
	us := randUpdates(seeded(1), n, d, 1)
	global := make([]float32, d)
	dst := make([]float32, d)
	for _, s := range []Spec{{Rule: "median"}, {Rule: "trimmedmean"}, {Rule: "krum", Params: map[string]float64{"f": 5}}} {
		b.Run(s.Rule, func(b *testing.B) {
			a := mustNew(b, s, d)
			b.ReportAllocs()
			for b.Loop() {
				if err := a.AddBatch(us); err != nil {
					b.Fatal(err)
				}
				if err := a.Finish(global, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
