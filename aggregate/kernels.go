package aggregate

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Element-wise kernels. Each output element depends only on the same
// element of the inputs, so splitting the range into chunks and running
// them on several goroutines cannot change a single bit of the result. Every
// product that feeds an addition is wrapped in an explicit float64(...)
// conversion, which the Go specification defines as a rounding step, so the
// compiler may not fuse it into a fused multiply-add on any architecture.

// chunkElems is the number of elements per parallel chunk, and maxWorkers
// the largest number of goroutines a kernel uses. Tests vary both to show
// that results do not depend on them.
var (
	chunkElems = 1 << 16
	maxWorkers = runtime.GOMAXPROCS(0)
)

// forChunks calls fn on contiguous chunks covering [0, n), on up to
// maxWorkers goroutines, and returns when all are done.
func forChunks(n int, fn func(lo, hi int)) {
	chunks := (n + chunkElems - 1) / chunkElems
	w := maxWorkers
	if w > chunks {
		w = chunks
	}
	if w <= 1 {
		for lo := 0; lo < n; lo += chunkElems {
			fn(lo, min(lo+chunkElems, n))
		}
		return
	}
	forEach(chunks, w, func(c int) {
		lo := c * chunkElems
		fn(lo, min(lo+chunkElems, n))
	})
}

// forEach calls fn(i) for every i in [0, n) on up to workers goroutines,
// each taking the next index from a shared counter, and returns when all are
// done. Results must not depend on which goroutine runs which index.
func forEach(n, workers int, fn func(i int)) {
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// axpy32 sets acc[i] = float64(w*float64(x[i])) + acc[i] for every i.
// It panics if the lengths differ. The reference loop is
//
//	for i, v := range x {
//		acc[i] = float64(w*float64(v)) + acc[i]
//	}
func axpy32(acc []float64, w float64, x []float32) {
	if len(acc) != len(x) {
		panic("aggregate: axpy32 length mismatch")
	}
	forChunks(len(x), func(lo, hi int) { axpy32Serial(acc[lo:hi], w, x[lo:hi]) })
}

// batchBlock is the number of accumulator elements a batched fold keeps in
// cache while it applies every update of the batch, and batchCacheBytes the
// accumulator size up to which the batched fold instead makes one pass per
// update (the accumulator then stays in the last-level cache, and one long
// stream per pass beats many short ones). Both were measured on a 2-core
// EPYC with 32 MB L3; neither changes any result.
const (
	batchBlock      = 65536
	batchCacheBytes = 8 << 20
)

// axpyBatch32 applies axpy32(acc, ws[k], xs[k]) for k = 0, 1, ... in order,
// block by block, so each accumulator element is read and written once per
// batch. Per element the operations and their order are exactly those of
// the separate calls, so the bits are the same.
func axpyBatch32(acc []float64, ws []float64, xs [][]float32) {
	for _, x := range xs {
		if len(x) != len(acc) {
			panic("aggregate: axpyBatch32 length mismatch")
		}
	}
	if 8*len(acc) <= batchCacheBytes {
		for k, x := range xs {
			axpy32(acc, ws[k], x)
		}
		return
	}
	forChunks(len(acc), func(lo, hi int) {
		for b := lo; b < hi; b += batchBlock {
			e := min(b+batchBlock, hi)
			for k, x := range xs {
				axpy32Serial(acc[b:e], ws[k], x[b:e])
			}
		}
	})
}

// axpy32Serial is axpy32 on one goroutine: the SSE2 kernel (amd64 without
// the noasm or purego tags) for the multiple-of-8 prefix, Go for the rest.
// Both round each product and each sum once, in float64, so the bits are
// the same (tests compare them with the reference loop).
func axpy32Serial(acc []float64, w float64, x []float32) {
	acc = acc[:len(x)]
	n := 0
	if haveAxpyAsm {
		n = len(x) &^ 7
		axpy32SSE2(acc[:n], w, x[:n])
	}
	axpy32Go(acc[n:], w, x[n:])
}

// axpy32Go is the pure-Go reference loop, unrolled by 4.
func axpy32Go(acc []float64, w float64, x []float32) {
	acc = acc[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a := acc[i : i+4 : i+4]
		v := x[i : i+4 : i+4]
		a[0] = float64(w*float64(v[0])) + a[0]
		a[1] = float64(w*float64(v[1])) + a[1]
		a[2] = float64(w*float64(v[2])) + a[2]
		a[3] = float64(w*float64(v[3])) + a[3]
	}
	for ; i < len(x); i++ {
		acc[i] = float64(w*float64(x[i])) + acc[i]
	}
}

// sumSquares32 reports the sum of squares of x in float64 in a fixed order:
// element i goes to lane i%8, each lane sums in index order
// (s = float64(v*v) + s), and the lanes combine as
// ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)). The order never depends on the
// CPU, the chunking or the number of goroutines.
func sumSquares32(x []float32) float64 {
	var l [8]float64
	i := 0
	for ; i+8 <= len(x); i += 8 {
		v := x[i : i+8 : i+8]
		a0, a1, a2, a3 := float64(v[0]), float64(v[1]), float64(v[2]), float64(v[3])
		a4, a5, a6, a7 := float64(v[4]), float64(v[5]), float64(v[6]), float64(v[7])
		l[0] = float64(a0*a0) + l[0]
		l[1] = float64(a1*a1) + l[1]
		l[2] = float64(a2*a2) + l[2]
		l[3] = float64(a3*a3) + l[3]
		l[4] = float64(a4*a4) + l[4]
		l[5] = float64(a5*a5) + l[5]
		l[6] = float64(a6*a6) + l[6]
		l[7] = float64(a7*a7) + l[7]
	}
	for j := 0; i < len(x); i, j = i+1, j+1 {
		a := float64(x[i])
		l[j] = float64(a*a) + l[j]
	}
	return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}

// allFinite reports the index of the first NaN or infinity in x, or -1.
func allFinite(x []float32) int {
	for i, v := range x {
		// v-v is 0 for finite v and NaN for NaN and ±Inf.
		if v-v != 0 {
			return i
		}
	}
	return -1
}

// applyDelta sets dst[i] = float32(float64(global[i]) + d[i]).
func applyDelta(dst, global []float32, d []float64) {
	forChunks(len(dst), func(lo, hi int) {
		g, o, dd := global[lo:hi], dst[lo:hi], d[lo:hi]
		for i := range o {
			o[i] = float32(float64(g[i]) + dd[i])
		}
	})
}
