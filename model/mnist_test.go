package model

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var mnistCache struct {
	once        sync.Once
	train, test *Dataset
	err         error
}

// mnistOrSkip loads MNIST once per test binary, or skips the test.
func mnistOrSkip(t testing.TB) (train, test *Dataset) {
	t.Helper()
	dir, ok := FindMNIST()
	if !ok {
		t.Skipf("MNIST not found in %s (set %s to the directory holding the idx files)", dir, MNISTDirEnv)
	}
	mnistCache.once.Do(func() { mnistCache.train, mnistCache.test, mnistCache.err = LoadMNIST(dir) })
	if mnistCache.err != nil {
		t.Fatal(mnistCache.err)
	}
	return mnistCache.train, mnistCache.test
}

// TestLogRegMNIST trains logistic regression for one epoch on the full
// training set and requires 88% test accuracy.
func TestLogRegMNIST(t *testing.T) {
	train, test := mnistOrSkip(t)
	if train.N != 60000 || test.N != 10000 || train.D != 784 {
		t.Fatalf("train %d x %d, test %d", train.N, train.D, test.N)
	}
	a, _ := ParseArch("logreg")
	a, _ = a.ForData(train)
	start := time.Now()
	r, err := NewLocalTrainer(a).Train(context.Background(), a.Init(1), train, TrainConfig{Epochs: 1, BatchSize: 100, LR: 0.5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	loss, acc, err := Evaluate(a, r.Params, test)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("logreg, 1 epoch, B=100: test loss %.4f accuracy %.4f, trained in %v", loss, acc, elapsed)
	if acc < 0.88 {
		t.Fatalf("test accuracy %.4f < 0.88", acc)
	}
}

func TestMNISTCounts(t *testing.T) {
	train, test := mnistOrSkip(t)
	for _, d := range []*Dataset{train, test} {
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
		for i, c := range d.LabelCounts() {
			if c < d.N/20 {
				t.Fatalf("digit %d has only %d examples", i, c)
			}
		}
	}
	// Known first labels of the original files.
	if train.Y[0] != 5 || train.Y[1] != 0 || test.Y[0] != 7 {
		t.Fatalf("first labels %d %d / %d", train.Y[0], train.Y[1], test.Y[0])
	}
}

func idxFile(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, byte(len(dims))})
	for _, d := range dims {
		b.Write([]byte{byte(d >> 24), byte(d >> 16), byte(d >> 8), byte(d)})
	}
	b.Write(data)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// fakeMNIST writes tiny idx files: train gzipped, test raw.
func fakeMNIST(t *testing.T) (dir string, files map[string][]byte) {
	dir = t.TempDir()
	files = map[string][]byte{
		MNISTTrainImages: idxFile([]int{3, 2, 2}, []byte{0, 255, 0, 255, 1, 2, 3, 4, 9, 9, 9, 9}),
		MNISTTrainLabels: idxFile([]int{3}, []byte{1, 0, 9}),
		MNISTTestImages:  idxFile([]int{1, 2, 2}, []byte{5, 6, 7, 8}),
		MNISTTestLabels:  idxFile([]int{1}, []byte{3}),
	}
	for name, b := range files {
		if strings.HasPrefix(name, "train") {
			os.WriteFile(filepath.Join(dir, name+".gz"), gz(b), 0o644)
		} else {
			os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
	}
	return dir, files
}

func TestLoadMNISTFake(t *testing.T) {
	dir, files := fakeMNIST(t)
	train, test, err := LoadMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 3 || train.D != 4 || train.X[1] != 1 || train.Y[2] != 9 || test.N != 1 || test.Y[0] != 3 {
		t.Fatalf("train %+v test %+v", train, test)
	}
	// A matching SHA256SUMS (decompressed digests) passes.
	var sums strings.Builder
	for _, name := range []string{MNISTTrainImages, MNISTTrainLabels, MNISTTestImages, MNISTTestLabels} {
		h := sha256.Sum256(files[name])
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(h[:]), name)
	}
	sumsPath := filepath.Join(dir, "SHA256SUMS")
	os.WriteFile(sumsPath, []byte(sums.String()), 0o644)
	if _, _, err := LoadMNIST(dir); err != nil {
		t.Fatal(err)
	}
	// A corrupted file fails its digest.
	bad := append([]byte{}, files[MNISTTestImages]...)
	bad[len(bad)-1] ^= 1
	os.WriteFile(filepath.Join(dir, MNISTTestImages), bad, 0o644)
	if _, _, err := LoadMNIST(dir); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("corrupted file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, MNISTTestImages), files[MNISTTestImages], 0o644)
	// A file missing from SHA256SUMS is an error.
	os.WriteFile(sumsPath, []byte(strings.Join(strings.SplitAfter(sums.String(), "\n")[:3], "")), 0o644)
	if _, _, err := LoadMNIST(dir); err == nil || !strings.Contains(err.Error(), "not listed") {
		t.Fatalf("unlisted file: %v", err)
	}
	os.WriteFile(sumsPath, []byte("nonsense\n"), 0o644)
	if _, _, err := LoadMNIST(dir); err == nil {
		t.Fatal("malformed SHA256SUMS accepted")
	}
	os.Remove(sumsPath)
	os.Remove(filepath.Join(dir, MNISTTestLabels))
	if _, _, err := LoadMNIST(dir); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Fatalf("missing file: %v", err)
	}
	// Counts that disagree.
	os.WriteFile(filepath.Join(dir, MNISTTestLabels), idxFile([]int{2}, []byte{1, 2}), 0o644)
	if _, _, err := LoadMNIST(dir); err == nil {
		t.Fatal("image/label count mismatch accepted")
	}
	os.WriteFile(filepath.Join(dir, MNISTTestLabels), idxFile([]int{1}, []byte{10}), 0o644)
	if _, _, err := LoadMNIST(dir); err == nil {
		t.Fatal("label 10 accepted")
	}
}

func TestParseIDXRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":     nil,
		"magic":     {1, 0, 8, 1, 0, 0, 0, 0},
		"type":      {0, 0, 0x0d, 1, 0, 0, 0, 0},
		"dims":      {0, 0, 8, 0},
		"too many":  {0, 0, 8, 9},
		"short hdr": {0, 0, 8, 3, 0, 0, 0, 1},
		"short":     idxFile([]int{2, 2}, []byte{1, 2, 3}),
		"long":      idxFile([]int{1}, []byte{1, 2}),
		"huge":      idxFile([]int{1 << 20, 1 << 20}, nil),
	} {
		if _, _, err := ParseIDX(b); err == nil || !strings.HasPrefix(err.Error(), "model: idx") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseIDX(f *testing.F) {
	f.Add(idxFile([]int{1, 2, 2}, []byte{5, 6, 7, 8}))
	f.Fuzz(func(t *testing.T, b []byte) {
		dims, data, err := ParseIDX(b)
		if err != nil {
			return
		}
		n := 1
		for _, d := range dims {
			n *= d
		}
		if n != len(data) {
			t.Fatalf("dims %v but %d bytes", dims, len(data))
		}
	})
}
