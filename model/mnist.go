package model

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MNIST file names (without ".gz").
const (
	MNISTTrainImages = "train-images-idx3-ubyte"
	MNISTTrainLabels = "train-labels-idx1-ubyte"
	MNISTTestImages  = "t10k-images-idx3-ubyte"
	MNISTTestLabels  = "t10k-labels-idx1-ubyte"
)

// idxSizeMax bounds a decompressed idx file (MNIST's largest is 47 MB).
const idxSizeMax = 1 << 30

// MNISTDirEnv names the environment variable that points at the MNIST files.
const MNISTDirEnv = "FLOE_MNIST_DIR"

// FindMNIST returns the MNIST directory: $FLOE_MNIST_DIR if set, else
// ../shared/datasets/mnist relative to the directory holding go.mod (searched
// upwards from the working directory). ok reports whether the training
// images are there (gzipped or not).
func FindMNIST() (dir string, ok bool) {
	dir = os.Getenv(MNISTDirEnv)
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", false
		}
		root := wd
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				root = wd
				break
			}
			root = parent
		}
		dir = filepath.Join(root, "..", "shared", "datasets", "mnist")
	}
	for _, name := range []string{MNISTTrainImages, MNISTTrainImages + ".gz"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return dir, true
		}
	}
	return dir, false
}

// LoadMNIST reads the MNIST training and test sets from dir (the four idx
// files, each gzipped or not), checking them against dir/SHA256SUMS when it
// exists. Pixels are scaled to [0, 1]; D = 784, Classes = 10.
func LoadMNIST(dir string) (train, test *Dataset, err error) {
	sums, err := readSums(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		return nil, nil, err
	}
	if train, err = loadMNISTPair(dir, MNISTTrainImages, MNISTTrainLabels, sums); err != nil {
		return nil, nil, err
	}
	if test, err = loadMNISTPair(dir, MNISTTestImages, MNISTTestLabels, sums); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func loadMNISTPair(dir, images, labels string, sums map[string]string) (*Dataset, error) {
	ib, err := readChecked(dir, images, sums)
	if err != nil {
		return nil, err
	}
	lb, err := readChecked(dir, labels, sums)
	if err != nil {
		return nil, err
	}
	d, err := mnistFromIDX(ib, lb)
	if err != nil {
		return nil, fmt.Errorf("%w (files %s, %s in %s)", err, images, labels, dir)
	}
	return d, nil
}

func mnistFromIDX(ib, lb []byte) (*Dataset, error) {
	idims, pix, err := ParseIDX(ib)
	if err != nil {
		return nil, err
	}
	ldims, lab, err := ParseIDX(lb)
	if err != nil {
		return nil, err
	}
	if len(idims) != 3 || len(ldims) != 1 {
		return nil, fmt.Errorf("model: mnist: images have %d dimensions (want 3), labels %d (want 1)", len(idims), len(ldims))
	}
	if idims[0] != ldims[0] {
		return nil, fmt.Errorf("model: mnist: %d images but %d labels", idims[0], ldims[0])
	}
	n, d := idims[0], idims[1]*idims[2]
	ds := &Dataset{N: n, D: d, Classes: 10, X: make([]float32, n*d), Y: make([]int, n)}
	for i, p := range pix {
		ds.X[i] = float32(p) / 255
	}
	for i, l := range lab {
		if l > 9 {
			return nil, fmt.Errorf("model: mnist: label %d of example %d is not a digit", l, i)
		}
		ds.Y[i] = int(l)
	}
	return ds, nil
}

// ParseIDX decodes an idx file of unsigned bytes: a big-endian magic
// 0x000008NN (NN = number of dimensions, 1 to 4), the big-endian uint32
// dimensions, then exactly their product of bytes.
func ParseIDX(b []byte) (dims []int, data []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("model: idx: truncated header (%d bytes)", len(b))
	}
	if b[0] != 0 || b[1] != 0 {
		return nil, nil, fmt.Errorf("model: idx: bad magic %x", b[:4])
	}
	if b[2] != 0x08 {
		return nil, nil, fmt.Errorf("model: idx: element type 0x%02x is not unsigned byte (0x08)", b[2])
	}
	nd := int(b[3])
	if nd < 1 || nd > 4 {
		return nil, nil, fmt.Errorf("model: idx: %d dimensions (want 1 to 4)", nd)
	}
	if len(b) < 4+4*nd {
		return nil, nil, fmt.Errorf("model: idx: truncated header (%d bytes, need %d)", len(b), 4+4*nd)
	}
	size := uint64(1)
	for i := range nd {
		v := binary.BigEndian.Uint32(b[4+4*i:])
		dims = append(dims, int(v))
		size *= uint64(v)
		if size > idxSizeMax {
			return nil, nil, fmt.Errorf("model: idx: dimensions %v too large", dims)
		}
	}
	data = b[4+4*nd:]
	if uint64(len(data)) != size {
		return nil, nil, fmt.Errorf("model: idx: dimensions %v need %d bytes, file has %d", dims, size, len(data))
	}
	return dims, data, nil
}

// readSums parses a SHA256SUMS file; a missing file gives nil.
func readSums(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		digest, name, ok := strings.Cut(s, " ")
		name = strings.TrimPrefix(strings.TrimLeft(name, " "), "*")
		if _, err := hex.DecodeString(digest); !ok || err != nil || len(digest) != 64 || name == "" {
			return nil, fmt.Errorf("model: %s line %d: want \"SHA256HEX  NAME\"", path, line)
		}
		sums[name] = strings.ToLower(digest)
	}
	return sums, nil
}

// readChecked reads dir/name or dir/name.gz, decompressing gzip, and checks
// the digest when sums is not nil.
func readChecked(dir, name string, sums map[string]string) ([]byte, error) {
	path := filepath.Join(dir, name)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		path += ".gz"
		raw, err = os.ReadFile(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("model: mnist: neither %s nor %s.gz in %s", name, name, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	data := raw
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("model: %s: %w", path, err)
		}
		data, err = io.ReadAll(io.LimitReader(zr, idxSizeMax+1))
		if err != nil {
			return nil, fmt.Errorf("model: %s: %w", path, err)
		}
		if len(data) > idxSizeMax {
			return nil, fmt.Errorf("model: %s: decompresses to more than %d bytes", path, idxSizeMax)
		}
	}
	if sums == nil {
		return data, nil
	}
	base := filepath.Base(path)
	if want, ok := sums[name]; ok {
		if got := sha256Hex(data); got != want {
			return nil, fmt.Errorf("model: %s: SHA-256 of the decompressed data is %s, SHA256SUMS says %s", path, got, want)
		}
		return data, nil
	}
	if want, ok := sums[base]; ok && base != name {
		if got := sha256Hex(raw); got != want {
			return nil, fmt.Errorf("model: %s: SHA-256 is %s, SHA256SUMS says %s", path, got, want)
		}
		return data, nil
	}
	return nil, fmt.Errorf("model: %s is not listed in %s", base, filepath.Join(dir, "SHA256SUMS"))
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
