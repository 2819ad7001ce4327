package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/floe-fl/floe/aggregate"
)

// benchAggregate measures the aggregation rules against a plain memory copy
// taken in the same run. Updates come from a seeded generator; timed loops
// only call Add and Finish.
func benchAggregate(args []string) (any, error) {
	fs := newFlagSet("bench aggregate", "[--quick] [--batch K] [--seed N]", `  floe bench aggregate
      FedAvg at N=100 x D=1M and D=10M, peak heap at D=10M for N=10 and 200, robust rules at N=50 x D=1M
  floe bench aggregate --quick
      the same at a tenth of the sizes (N and D), in a few seconds`)
	quick := fs.Bool("quick", false, "smaller sizes (D/10, N/10 for the heap figure)")
	batch := fs.Int("batch", 8, "updates per AddBatch call in the batched FedAvg figure")
	seed := fs.Uint64("seed", 1, "seed of the update generator")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, usagef("unexpected arguments %q", fs.Args())
	}
	if *batch < 1 || *batch > 64 {
		return nil, usagef("--batch must be in 1..64, got %d", *batch)
	}
	dSmall, dLarge, nAvg, nRobust := 1_000_000, 10_000_000, 100, 50
	nHeapLo, nHeapHi := 10, 200
	if *quick {
		dSmall, dLarge, nAvg, nRobust = 100_000, 1_000_000, 100, 50
		nHeapLo, nHeapHi = 10, 40
	}
	gen := &updateGen{r: rand.New(rand.NewPCG(*seed, 0x5eed))}

	out := map[string]any{
		"config": map[string]any{
			"quick": *quick, "seed": *seed, "gomaxprocs": runtime.GOMAXPROCS(0),
			"goos": runtime.GOOS, "goarch": runtime.GOARCH, "go": runtime.Version(),
		},
	}
	ratios := map[string]float64{}

	// Per size, FedAvg as GB/s of update bytes consumed (N*D*4 / time of the
	// Adds and the Finish), with one Add per update and with AddBatch of
	// --batch updates, beside the memory-copy baseline: copy() of the same
	// update buffers into one destination, one goroutine, GB/s of source
	// bytes. The updates cycle through a pool of distinct seeded buffers of
	// at least 256 MB, so neither figure is served from the CPU caches and
	// generation stays out of the timed loops.
	var avg []map[string]any
	for _, d := range []int{dSmall, dLarge} {
		pool := make([][]float32, max(*batch, (256<<20)/(4*d)))
		if len(pool) > nAvg {
			pool = pool[:nAvg]
		}
		for i := range pool {
			pool[i] = make([]float32, d)
			gen.fill(pool[i])
		}
		mc := memcpyGBps(pool)
		single, err := fedavgThroughput(pool, nAvg, d, 1)
		if err != nil {
			return nil, err
		}
		batched, err := fedavgThroughput(pool, nAvg, d, *batch)
		if err != nil {
			return nil, err
		}
		avg = append(avg, map[string]any{
			"n": nAvg, "d": d, "update_bytes": 4 * d * nAvg, "pool_buffers": len(pool), "memcpy_gbps": mc,
			"add": single, "add_batch": batched,
		})
		ratios[fmt.Sprintf("fedavg_n%d_d%s_vs_memcpy", nAvg, human(d))] = batched["gbps"].(float64) / mc
		ratios[fmt.Sprintf("fedavg_unbatched_n%d_d%s_vs_memcpy", nAvg, human(d))] = single["gbps"].(float64) / mc
		pool = nil
		runtime.GC()
	}
	out["fedavg"] = avg

	// Peak heap at D_large: updates generated one at a time into one reused
	// buffer, as a coordinator opening blobs one by one.
	lo, err := fedavgPeakHeap(gen, nHeapLo, dLarge)
	if err != nil {
		return nil, err
	}
	hi, err := fedavgPeakHeap(gen, nHeapHi, dLarge)
	if err != nil {
		return nil, err
	}
	out["peak_heap"] = []map[string]any{lo, hi}
	ratios[fmt.Sprintf("peak_heap_n%d_vs_n%d", nHeapHi, nHeapLo)] = float64(hi["peak_heap_bytes"].(uint64)) / float64(lo["peak_heap_bytes"].(uint64))

	// Robust rules at N = 50, D = D_small, beside FedAvg at the same size.
	base, err := rulePerf(gen, aggregate.Spec{Rule: "fedavg"}, nRobust, dSmall)
	if err != nil {
		return nil, err
	}
	rob := []map[string]any{base}
	for _, s := range []aggregate.Spec{
		{Rule: "median"},
		{Rule: "trimmedmean", Params: map[string]float64{"beta": 0.1}},
		{Rule: "krum", Params: map[string]float64{"f": 5}},
	} {
		r, err := rulePerf(gen, s, nRobust, dSmall)
		if err != nil {
			return nil, err
		}
		rob = append(rob, r)
		ratios[s.Rule+"_vs_fedavg_updates_per_s"] = r["updates_per_s"].(float64) / base["updates_per_s"].(float64)
	}
	out["rules"] = rob
	out["ratios"] = ratios
	return out, nil
}

func human(d int) string {
	if d%1_000_000 == 0 {
		return fmt.Sprintf("%dm", d/1_000_000)
	}
	return fmt.Sprintf("%dk", d/1000)
}

// updateGen fills buffers with seeded pseudo-normal-ish values (uniform sums,
// cheap to generate), scaled like model deltas.
type updateGen struct{ r *rand.Rand }

func (g *updateGen) fill(v []float32) {
	for i := 0; i < len(v); i += 2 {
		x := g.r.Uint64()
		v[i] = (float32(uint32(x)>>8)*(1.0/(1<<24)) - 0.5) * 0.01
		if i+1 < len(v) {
			v[i+1] = (float32(uint32(x>>32)>>8)*(1.0/(1<<24)) - 0.5) * 0.01
		}
	}
}

// memcpyGBps reports the best of 3 rates of copying every pool buffer in
// turn into one destination.
func memcpyGBps(pool [][]float32) float64 {
	dst := make([]float32, len(pool[0]))
	copy(dst, pool[0]) // fault in pages
	best := 0.0
	for range 3 {
		t0 := time.Now()
		for _, b := range pool {
			copy(dst, b)
		}
		gbps := float64(len(pool)*4*len(dst)) / time.Since(t0).Seconds() / 1e9
		best = math.Max(best, gbps)
	}
	return best
}

func peerName(i int) string { return fmt.Sprintf("peer-%06d", i) }

func fedavgThroughput(pool [][]float32, n, d, batch int) (map[string]any, error) {
	global := make([]float32, d)
	dst := make([]float32, d)
	a, err := aggregate.New(aggregate.Spec{Rule: "fedavg"}, d)
	if err != nil {
		return nil, err
	}
	us := make([]aggregate.Update, 0, batch)
	best := math.Inf(1)
	for rep := range 3 {
		t0 := time.Now()
		for i := 0; i < n; i += batch {
			us = us[:0]
			for k := i; k < min(i+batch, n); k++ {
				us = append(us, aggregate.Update{Participant: peerName(k), NumExamples: uint64(1 + (k+rep)%50), Delta: pool[k%len(pool)]})
			}
			if err := a.AddBatch(us); err != nil {
				return nil, err
			}
		}
		if err := a.Finish(global, dst); err != nil {
			return nil, err
		}
		best = math.Min(best, time.Since(t0).Seconds())
	}
	bytes := float64(n) * float64(d) * 4
	return map[string]any{
		"batch": batch, "seconds": best, "gbps": bytes / best / 1e9, "updates_per_s": float64(n) / best,
	}, nil
}

// heapBytes reports the bytes of live and not-yet-swept heap objects.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func totalAlloc() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func fedavgPeakHeap(g *updateGen, n, d int) (map[string]any, error) {
	runtime.GC()
	base := heapBytes()
	alloc0 := totalAlloc()
	a, err := aggregate.New(aggregate.Spec{Rule: "fedavg"}, d)
	if err != nil {
		return nil, err
	}
	buf := make([]float32, d)
	global := make([]float32, d)
	dst := make([]float32, d)
	peak := heapBytes()
	for i := range n {
		g.fill(buf)
		if err := a.Add(aggregate.Update{Participant: peerName(i), NumExamples: 10, Delta: buf}); err != nil {
			return nil, err
		}
		peak = max(peak, heapBytes())
	}
	if err := a.Finish(global, dst); err != nil {
		return nil, err
	}
	peak = max(peak, heapBytes())
	allocated := totalAlloc() - alloc0
	runtime.KeepAlive(a)
	return map[string]any{
		"n": n, "d": d, "peak_heap_bytes": peak - base, "allocated_bytes": allocated,
		"model_bytes": 4 * d,
	}, nil
}

func rulePerf(g *updateGen, s aggregate.Spec, n, d int) (map[string]any, error) {
	bufs := make([][]float32, n)
	for i := range bufs {
		bufs[i] = make([]float32, d)
		g.fill(bufs[i])
	}
	global := make([]float32, d)
	dst := make([]float32, d)
	a, err := aggregate.New(s, d)
	if err != nil {
		return nil, err
	}
	best := math.Inf(1)
	for range 2 {
		t0 := time.Now()
		for i := range n {
			if err := a.Add(aggregate.Update{Participant: peerName(i), NumExamples: 10, Delta: bufs[i]}); err != nil {
				return nil, err
			}
		}
		if err := a.Finish(global, dst); err != nil {
			return nil, err
		}
		best = math.Min(best, time.Since(t0).Seconds())
	}
	return map[string]any{
		"rule": s.Canonical(), "n": n, "d": d, "seconds": best, "updates_per_s": float64(n) / best,
	}, nil
}
