//go:build !amd64 || noasm || purego

package aggregate

const haveAxpyAsm = false

func axpy32SSE2(acc []float64, w float64, x []float32) {
	n := len(x) &^ 7
	axpy32Go(acc[:n], w, x[:n])
}

func distLanesSSE2(l *[8]float64, x, y []float32) {
	n := len(x) &^ 7
	distLanesGo(l, x[:n], y[:n])
}
