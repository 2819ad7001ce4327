package aggregate

import (
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"testing"
)

// goldenSpecs covers every rule, DP noise included.
var goldenSpecs = []Spec{
	{Rule: "fedavg"},
	{Rule: "fedavg", Params: map[string]float64{"dp_clip": 0.5, "dp_noise_multiplier": 1.1}},
	{Rule: "fedavgm", Params: map[string]float64{"eta": 0.7}},
	{Rule: "fedadam", Params: map[string]float64{"dp_clip": 2, "dp_noise_multiplier": 0.3}},
	{Rule: "fedyogi"},
	{Rule: "fedadagrad", Params: map[string]float64{"beta1": 0.5}},
	{Rule: "median"},
	{Rule: "trimmedmean", Params: map[string]float64{"beta": 0.2}},
	{Rule: "krum", Params: map[string]float64{"f": 2}},
	{Rule: "multikrum", Params: map[string]float64{"f": 2, "m": 5}},
}

// goldenDigest runs three seeded rounds of every rule in goldenSpecs and
// hashes every output model and optimizer state, plus AddGaussianNoise.
func goldenDigest(t testing.TB) string {
	const dim, n = 20011, 12 // odd sizes exercise every kernel's tail
	h := sha256.New()
	for si, s := range goldenSpecs {
		r := seeded(uint64(100 + si))
		a := mustNew(t, s, dim)
		global := randVec(r, dim)
		for round := range 3 {
			us := randUpdates(r, n, dim, 0.05)
			var seed [32]byte
			seed[0], seed[1] = byte(si), byte(round)
			a.SetNoiseSeed(seed)
			global = run(t, a, global, us)
			hashF32(h, global)
			h.Write(a.State())
		}
	}
	v := make([]float32, 100003)
	AddGaussianNoise(v, 0.25, [32]byte{7})
	hashF32(h, v)
	return hex.EncodeToString(h.Sum(nil))
}

// TestMetamorphicChunking: the bytes do not depend on the chunk size or the
// number of goroutines, and are the same run after run.
func TestMetamorphicChunking(t *testing.T) {
	defer func(c, w int) { chunkElems, maxWorkers = c, w }(chunkElems, maxWorkers)
	var first string
	for _, cfg := range []struct{ chunk, workers int }{
		{1 << 16, runtime.GOMAXPROCS(0)}, {1 << 16, runtime.GOMAXPROCS(0)}, {1000, 1}, {7, 3}, {1 << 20, 8}, {4096, 16},
	} {
		chunkElems, maxWorkers = cfg.chunk, cfg.workers
		d := goldenDigest(t)
		if first == "" {
			first = d
		} else if d != first {
			t.Fatalf("chunk=%d workers=%d: digest %s, first run %s", cfg.chunk, cfg.workers, d, first)
		}
	}
}

// goldenSHA256 is the digest of goldenDigest on amd64 with gonum's
// assembly kernels. The same value must come out of
//
//	go test ./aggregate -run TestGolden
//	go test -tags noasm ./aggregate -run TestGolden
//
// (gonum's pure-Go kernels) and of any other platform. A change here
// changes committed results: it breaks the replay of every recorded round.
const goldenSHA256 = "47817b6819988b843f1df2d4f12ecde1cfd01eac1f273b3c6c09e772395c8eaf"

func TestGoldenBytes(t *testing.T) {
	if got := goldenDigest(t); got != goldenSHA256 {
		t.Fatalf("aggregation digest %s, golden %s (noasm build: %v)", got, goldenSHA256, noasmBuild)
	}
}

func TestKrumTiesBreakByIndex(t *testing.T) {
	rows := [][]float32{{0}, {1}, {2}, {3}, {4}, {100}}
	// Scores with f=1: 14, 6, 6, 6, 14, huge: the tie goes to index 1.
	if sel := KrumSelect(rows, 1, 1); len(sel) != 1 || sel[0] != 1 {
		t.Fatalf("KrumSelect = %v, want [1]", sel)
	}
	if sel := KrumSelect(rows, 1, 2); len(sel) != 2 || sel[0] != 1 || sel[1] != 2 {
		t.Fatalf("KrumSelect m=2 = %v, want [1 2]", sel)
	}
}
