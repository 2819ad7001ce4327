//go:build amd64 && !noasm && !purego

#include "textflag.h"

// func axpy32SSE2(acc []float64, w float64, x []float32)
// For i < len(x) &^ 7: acc[i] = float64(w*float64(x[i])) + acc[i], using
// SSE2 CVTPS2PD (exact), MULPD and ADDPD: two IEEE double operations per
// element with round-to-nearest, the same as the pure-Go loop.
TEXT ·axpy32SSE2(SB), NOSPLIT, $0-56
	MOVQ   acc_base+0(FP), DI
	MOVSD  w+24(FP), X0
	SHUFPD $0, X0, X0
	MOVQ   x_base+32(FP), SI
	MOVQ   x_len+40(FP), CX
	SHRQ   $3, CX
	JZ     done

loop:
	CVTPS2PD (SI), X1
	CVTPS2PD 8(SI), X2
	CVTPS2PD 16(SI), X3
	CVTPS2PD 24(SI), X4
	MULPD    X0, X1
	MULPD    X0, X2
	MULPD    X0, X3
	MULPD    X0, X4
	MOVUPD   (DI), X5
	MOVUPD   16(DI), X6
	MOVUPD   32(DI), X7
	MOVUPD   48(DI), X8
	ADDPD    X5, X1
	ADDPD    X6, X2
	ADDPD    X7, X3
	ADDPD    X8, X4
	MOVUPD   X1, (DI)
	MOVUPD   X2, 16(DI)
	MOVUPD   X3, 32(DI)
	MOVUPD   X4, 48(DI)
	ADDQ     $32, SI
	ADDQ     $64, DI
	DECQ     CX
	JNZ      loop

done:
	RET

// func distLanesSSE2(l *[8]float64, x, y []float32)
// For i < len(x) &^ 7, lane i%8: l[i%8] = float64(d*d) + l[i%8] with
// d = float64(x[i]) - float64(y[i]), in coordinate order per lane. X0..X3
// hold lanes (0,1), (2,3), (4,5), (6,7).
TEXT ·distLanesSSE2(SB), NOSPLIT, $0-56
	MOVQ   l+0(FP), DI
	MOVQ   x_base+8(FP), SI
	MOVQ   x_len+16(FP), CX
	MOVQ   y_base+32(FP), DX
	MOVUPD (DI), X0
	MOVUPD 16(DI), X1
	MOVUPD 32(DI), X2
	MOVUPD 48(DI), X3
	SHRQ   $3, CX
	JZ     dldone

dlloop:
	CVTPS2PD (SI), X4
	CVTPS2PD 8(SI), X5
	CVTPS2PD 16(SI), X6
	CVTPS2PD 24(SI), X7
	CVTPS2PD (DX), X8
	CVTPS2PD 8(DX), X9
	CVTPS2PD 16(DX), X10
	CVTPS2PD 24(DX), X11
	SUBPD    X8, X4
	SUBPD    X9, X5
	SUBPD    X10, X6
	SUBPD    X11, X7
	MULPD    X4, X4
	MULPD    X5, X5
	MULPD    X6, X6
	MULPD    X7, X7
	ADDPD    X4, X0
	ADDPD    X5, X1
	ADDPD    X6, X2
	ADDPD    X7, X3
	ADDQ     $32, SI
	ADDQ     $32, DX
	DECQ     CX
	JNZ      dlloop

dldone:
	MOVUPD X0, (DI)
	MOVUPD X1, 16(DI)
	MOVUPD X2, 32(DI)
	MOVUPD X3, 48(DI)
	RET
