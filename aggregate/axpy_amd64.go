//go:build amd64 && !noasm && !purego

package aggregate

// haveAxpyAsm reports whether axpy32SSE2 is the assembly kernel.
const haveAxpyAsm = true

// axpy32SSE2 sets acc[i] = float64(w*float64(x[i])) + acc[i] for
// i < len(x) &^ 7 (len(acc) >= len(x)), in SSE2 assembly.
//
//go:noescape
func axpy32SSE2(acc []float64, w float64, x []float32)

// distLanesSSE2 is distLanes for the first len(x) &^ 7 elements, in SSE2
// assembly (len(y) >= len(x)).
//
//go:noescape
func distLanesSSE2(l *[8]float64, x, y []float32)
