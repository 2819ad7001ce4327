package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/klauspost/reedsolomon"
	"github.com/zeebo/blake3"
	"golang.org/x/crypto/blake2b"
)

type erasureShape struct {
	N, K, F int    `json:"-"`
	Shape   string `json:"shape"` // n x k x sliver size
	// Reed-Solomon alone, one goroutine, GOMAXPROCS=1: data bytes per second.
	EncodeGBps      float64 `json:"encode_gbps_per_core"`
	ReconstructGBps float64 `json:"reconstruct_gbps_per_core"`
	LostDataShards  int     `json:"reconstruct_lost_data_shards"`
	// The blob pipeline (RS + BLAKE3 leaves + Merkle; decode re-encodes and
	// re-hashes to check the root), GOMAXPROCS=1.
	BlobEncodeGBps float64 `json:"blob_encode_gbps_per_core"`
	BlobDecodeGBps float64 `json:"blob_decode_gbps_per_core"`
}

type erasureBench struct {
	SizeMiB    int     `json:"size_mib"`
	Seconds    float64 `json:"seconds_per_figure"`
	MemcpyGBps float64 `json:"memcpy_gbps_per_core"`
	// One hash of the whole blob per figure: BLAKE3-256 (the blob
	// package's leaf, node and ID hash since format version 2), and the
	// Blake2b-256 and SHA-256 it was measured against.
	Blake3GBps   float64            `json:"blake3_gbps_per_core"`
	Blake2bGBps  float64            `json:"blake2b256_gbps_per_core"`
	SHA256GBps   float64            `json:"sha256_gbps_per_core"`
	Shapes       []erasureShape     `json:"shapes"`
	Ratios       map[string]float64 `json:"ratios"`
	Notes        string             `json:"notes"`
	GOMAXPROCS   int                `json:"gomaxprocs_restored"`
	MatrixOutput string             `json:"matrix_check"`
}

// measure runs fn until at least d has passed (and at least twice) and
// returns bytes per call * calls / elapsed, in GB/s (1e9 bytes).
func measure(d time.Duration, bytesPerCall int, fn func() error) (float64, error) {
	if err := fn(); err != nil { // warm up
		return 0, err
	}
	calls := 0
	start := time.Now()
	for calls < 2 || time.Since(start) < d {
		if err := fn(); err != nil {
			return 0, err
		}
		calls++
	}
	return float64(bytesPerCall) * float64(calls) / time.Since(start).Seconds() / 1e9, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, usagef("bad number %q in list %q", f, s)
		}
		out = append(out, v)
	}
	return out, nil
}

func benchErasure(args []string) (any, error) {
	fs := newFlagSet("bench erasure", "[--size-mib N] [--n 4,7,10] [--seconds S]",
		"  floe bench erasure\n  floe bench erasure --size-mib 16 --n 7 --seconds 0.5")
	sizeMiB := fs.Int("size-mib", 64, "blob size in MiB")
	ns := fs.String("n", "4,7,10", "committee sizes")
	secs := fs.Float64("seconds", 1, "minimum measuring time per figure")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *sizeMiB <= 0 || *secs <= 0 {
		return nil, usagef("--size-mib and --seconds must be positive")
	}
	committees, err := parseInts(*ns)
	if err != nil {
		return nil, err
	}
	d := time.Duration(*secs * float64(time.Second))
	size := *sizeMiB << 20
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}

	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	out := erasureBench{SizeMiB: *sizeMiB, Seconds: *secs, GOMAXPROCS: prev, Ratios: map[string]float64{},
		Notes: "all figures with GOMAXPROCS=1 (per core); GB/s = 1e9 bytes of blob data per second; memcpy copies the blob once"}
	dst := make([]byte, size)
	if out.MemcpyGBps, err = measure(d, size, func() error { copy(dst, data); return nil }); err != nil {
		return nil, err
	}
	if out.Blake3GBps, err = measure(d, size, func() error { blake3.Sum256(data); return nil }); err != nil {
		return nil, err
	}
	if out.Blake2bGBps, err = measure(d, size, func() error { blake2b.Sum256(data); return nil }); err != nil {
		return nil, err
	}
	if out.SHA256GBps, err = measure(d, size, func() error { sha256.Sum256(data); return nil }); err != nil {
		return nil, err
	}
	matrixOK := true
	for _, n := range committees {
		enc, err := blob.EncodingFor(n)
		if err != nil {
			return nil, err
		}
		k := int(enc.K)
		ss := int(enc.SliverSize(uint64(size)))
		sh := erasureShape{N: n, K: k, F: (n - 1) / 3, Shape: fmt.Sprintf("%dx%dx%s", n, k, humanBytes(ss))}
		rs, err := reedsolomon.New(k, n-k, reedsolomon.WithMaxGoroutines(1))
		if err != nil {
			return nil, err
		}
		ref, err := blob.Encode(data, n)
		if err != nil {
			return nil, err
		}
		shards := make([][]byte, n)
		for i := range shards {
			shards[i] = append([]byte(nil), ref.Data[i]...)
		}
		for i := k; i < n; i++ {
			clear(shards[i])
		}
		// Same matrix as the blob package: parity must come out identical.
		if err := rs.Encode(shards); err != nil {
			return nil, err
		}
		for i := range shards {
			if !bytes.Equal(shards[i], ref.Data[i]) {
				matrixOK = false
			}
		}
		if sh.EncodeGBps, err = measure(d, size, func() error { return rs.Encode(shards) }); err != nil {
			return nil, err
		}
		lost := min(k, n-k)
		sh.LostDataShards = lost
		work := make([][]byte, n)
		if sh.ReconstructGBps, err = measure(d, size, func() error {
			copy(work, shards)
			for i := range lost {
				work[i] = work[i][:0] // keep capacity: no allocation
			}
			return rs.ReconstructData(work)
		}); err != nil {
			return nil, err
		}
		if sh.BlobEncodeGBps, err = measure(d, size, func() error { _, err := blob.Encode(data, n); return err }); err != nil {
			return nil, err
		}
		present := make([]bool, n)
		for i := lost; i < n; i++ {
			present[i] = true
		}
		if sh.BlobDecodeGBps, err = measure(d, size, func() error {
			got, err := ref.Decode(present)
			if err == nil && len(got) != size {
				err = errors.New("bench: decode returned a wrong length")
			}
			return err
		}); err != nil {
			return nil, err
		}
		out.Shapes = append(out.Shapes, sh)
		key := fmt.Sprintf("n%d", n)
		out.Ratios["encode_vs_memcpy_"+key] = round3(sh.EncodeGBps / out.MemcpyGBps)
		out.Ratios["reconstruct_vs_memcpy_"+key] = round3(sh.ReconstructGBps / out.MemcpyGBps)
		out.Ratios["blob_encode_vs_memcpy_"+key] = round3(sh.BlobEncodeGBps / out.MemcpyGBps)
		out.Ratios["blob_decode_vs_memcpy_"+key] = round3(sh.BlobDecodeGBps / out.MemcpyGBps)
	}
	out.MatrixOutput = "reedsolomon default matrix reproduces blob.Encode parity"
	if !matrixOK {
		return nil, errors.New("bench erasure: reedsolomon.New output differs from blob.Encode: matrix mismatch")
	}
	out.Ratios["blake2b_vs_memcpy"] = round3(out.Blake2bGBps / out.MemcpyGBps)
	out.Ratios["blake3_vs_memcpy"] = round3(out.Blake3GBps / out.MemcpyGBps)
	out.Ratios["blake3_vs_blake2b"] = round3(out.Blake3GBps / out.Blake2bGBps)
	out.Ratios["sha256_vs_blake2b"] = round3(out.SHA256GBps / out.Blake2bGBps)
	for i := range out.Shapes {
		s := &out.Shapes[i]
		s.EncodeGBps, s.ReconstructGBps = round3(s.EncodeGBps), round3(s.ReconstructGBps)
		s.BlobEncodeGBps, s.BlobDecodeGBps = round3(s.BlobEncodeGBps), round3(s.BlobDecodeGBps)
	}
	out.MemcpyGBps, out.Blake2bGBps = round3(out.MemcpyGBps), round3(out.Blake2bGBps)
	out.Blake3GBps, out.SHA256GBps = round3(out.Blake3GBps), round3(out.SHA256GBps)
	return out, nil
}

func round3(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 4, 64), 64)
	return v
}

func humanBytes(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
