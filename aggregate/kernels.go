package aggregate

import (
	"runtime"
	"sync"
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
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				c := next
				next++
				mu.Unlock()
				if c >= chunks {
					return
				}
				lo := c * chunkElems
				fn(lo, min(lo+chunkElems, n))
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
	if w == 1 {
		forChunks(len(x), func(lo, hi int) { add32(acc[lo:hi], x[lo:hi]) })
		return
	}
	forChunks(len(x), func(lo, hi int) { axpy32Serial(acc[lo:hi], w, x[lo:hi]) })
}

func axpy32Serial(acc []float64, w float64, x []float32) {
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

// add32 sets acc[i] = float64(x[i]) + acc[i]; identical to axpy32 with w = 1
// because 1*v is exact.
func add32(acc []float64, x []float32) {
	acc = acc[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a := acc[i : i+4 : i+4]
		v := x[i : i+4 : i+4]
		a[0] += float64(v[0])
		a[1] += float64(v[1])
		a[2] += float64(v[2])
		a[3] += float64(v[3])
	}
	for ; i < len(x); i++ {
		acc[i] += float64(x[i])
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
