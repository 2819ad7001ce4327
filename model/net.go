package model

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// num is the element type of a network: float32 for training, float64 for
// the gradient checks in the tests.
type num interface{ ~float32 | ~float64 }

type gemmFunc[T num] func(tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

var impl gonum.Implementation

// network holds the weights (views) and the preallocated buffers of one
// model for mini-batches of up to maxB rows. All matrices are row-major.
// Layer l (1-based) has weight w[l] of shape [sizes[l], sizes[l-1]] and bias
// b[l]; act[l] holds its output (after ReLU for hidden layers, logits then
// probabilities for the last), delta[l] the loss gradient with respect to
// its pre-activation.
type network[T num] struct {
	sizes  []int
	maxB   int
	gemm   gemmFunc[T]
	w, b   [][]T
	dw, db [][]T
	act    [][]T
	delta  [][]T
	ones   []T
}

func newNetwork[T num](sizes []int, maxB int, gemm gemmFunc[T], withGrad bool) *network[T] {
	L := len(sizes) - 1
	n := &network[T]{
		sizes: sizes, maxB: maxB, gemm: gemm,
		w: make([][]T, L+1), b: make([][]T, L+1),
		act: make([][]T, L+1),
	}
	for l := 1; l <= L; l++ {
		n.act[l] = make([]T, maxB*sizes[l])
	}
	if withGrad {
		n.dw, n.db = make([][]T, L+1), make([][]T, L+1)
		n.delta = make([][]T, L+1)
		for l := 1; l <= L; l++ {
			n.dw[l] = make([]T, sizes[l]*sizes[l-1])
			n.db[l] = make([]T, sizes[l])
			n.delta[l] = make([]T, maxB*sizes[l])
		}
		n.ones = make([]T, maxB)
		for i := range n.ones {
			n.ones[i] = 1
		}
	}
	return n
}

// bind points the network's weights at data laid out as Arch.Layout.
func (n *network[T]) bind(tensors [][]T) {
	for l := 1; l < len(n.sizes); l++ {
		n.w[l], n.b[l] = tensors[2*(l-1)], tensors[2*(l-1)+1]
	}
}

// forward computes act[1..L] for the nb rows of x (nb x sizes[0]).
func (n *network[T]) forward(x []T, nb int) {
	L := len(n.sizes) - 1
	in := x
	for l := 1; l <= L; l++ {
		k, m := n.sizes[l-1], n.sizes[l]
		z := n.act[l][:nb*m]
		for r := 0; r < nb; r++ {
			copy(z[r*m:(r+1)*m], n.b[l])
		}
		// Z = A(l-1) * W^T + Z
		n.gemm(blas.NoTrans, blas.Trans, nb, m, k, 1, in, k, n.w[l], k, 1, z, m)
		if l < L {
			for i, v := range z {
				if v < 0 {
					z[i] = 0
				}
			}
		}
		in = z
	}
}

// softmaxLoss turns the logits in act[L] into probabilities and returns the
// summed cross-entropy and the number of rows whose arg-max is the label.
// When grad is true it also sets delta[L] = (P - onehot(y)) * scale.
func (n *network[T]) softmaxLoss(y []int, nb int, grad bool, scale T) (loss float64, correct int) {
	L := len(n.sizes) - 1
	c := n.sizes[L]
	z := n.act[L][:nb*c]
	for r := 0; r < nb; r++ {
		row := z[r*c : (r+1)*c]
		best := 0
		for j := 1; j < c; j++ {
			if row[j] > row[best] {
				best = j
			}
		}
		if best == y[r] {
			correct++
		}
		mx := float64(row[best])
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v) - mx)
		}
		loss += math.Log(sum) - (float64(row[y[r]]) - mx)
		if grad {
			d := n.delta[L][r*c : (r+1)*c]
			for j, v := range row {
				p := math.Exp(float64(v)-mx) / sum
				if j == y[r] {
					p--
				}
				d[j] = T(p) * scale
			}
		}
	}
	return loss, correct
}

// backward computes dw and db from delta[L], for the input rows x.
func (n *network[T]) backward(x []T, nb int) {
	for l := len(n.sizes) - 1; l >= 1; l-- {
		k, m := n.sizes[l-1], n.sizes[l]
		in := x
		if l > 1 {
			in = n.act[l-1][:nb*k]
		}
		d := n.delta[l][:nb*m]
		// dW = delta^T * A(l-1); db = delta^T * 1
		n.gemm(blas.Trans, blas.NoTrans, m, k, nb, 1, d, m, in, k, 0, n.dw[l], k)
		n.gemm(blas.Trans, blas.NoTrans, m, 1, nb, 1, d, m, n.ones[:nb], 1, 0, n.db[l], 1)
		if l > 1 {
			// delta(l-1) = (delta * W) masked by ReLU'(A(l-1))
			prev := n.delta[l-1][:nb*k]
			n.gemm(blas.NoTrans, blas.NoTrans, nb, k, m, 1, d, m, n.w[l], k, 0, prev, k)
			for i, a := range in {
				if a <= 0 {
					prev[i] = 0
				}
			}
		}
	}
}

// step applies one SGD step: w -= lr * (g + wd*w + mu*(w - w0)). w0 is nil
// when mu is zero.
func (n *network[T]) step(lr, wd, mu T, w0 [][]T) {
	for l := 1; l < len(n.sizes); l++ {
		for pi, pair := range [2][2][]T{{n.w[l], n.dw[l]}, {n.b[l], n.db[l]}} {
			w, g := pair[0], pair[1]
			if mu != 0 {
				ref := w0[2*(l-1)+pi]
				for i := range w {
					w[i] -= lr * (g[i] + wd*w[i] + mu*(w[i]-ref[i]))
				}
			} else if wd != 0 {
				for i := range w {
					w[i] -= lr * (g[i] + wd*w[i])
				}
			} else {
				for i := range w {
					w[i] -= lr * g[i]
				}
			}
		}
	}
}

func float32Gemm() gemmFunc[float32] { return impl.Sgemm }
func float64Gemm() gemmFunc[float64] { return impl.Dgemm }
