package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Architecture kinds.
const (
	KindLogReg = "logreg"
	KindMLP    = "mlp"
)

// MetaArch is the safetensors metadata key under which Arch.Meta records the
// architecture spec.
const MetaArch = "floe.arch"

// Arch describes a built-in model: multinomial logistic regression or a
// fully connected network with ReLU hidden layers, both with a softmax
// cross-entropy loss. Sizes lists the layer widths from input to classes;
// it is empty for "logreg" until WithDims or ForData fills it in.
type Arch struct {
	Kind  string
	Sizes []int
}

// ParseArch parses "logreg", "logreg:IN-CLASSES" or "mlp:IN-H1-...-CLASSES"
// (at least one hidden layer), e.g. "mlp:784-200-200-10" for the FedAvg 2NN.
func ParseArch(spec string) (Arch, error) {
	kind, dims, hasDims := strings.Cut(strings.TrimSpace(spec), ":")
	a := Arch{Kind: kind}
	switch kind {
	case KindLogReg, KindMLP:
	default:
		return Arch{}, fmt.Errorf("model: unknown architecture %q (want logreg, logreg:IN-CLASSES or mlp:IN-H1-...-CLASSES)", spec)
	}
	if !hasDims {
		if kind == KindMLP {
			return Arch{}, fmt.Errorf("model: architecture %q needs its layer sizes, e.g. mlp:784-200-200-10", spec)
		}
		return a, nil
	}
	for _, f := range strings.Split(dims, "-") {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 || n > 1<<24 {
			return Arch{}, fmt.Errorf("model: architecture %q: bad layer size %q", spec, f)
		}
		a.Sizes = append(a.Sizes, n)
	}
	if err := a.check(); err != nil {
		return Arch{}, err
	}
	return a, nil
}

func (a Arch) check() error {
	switch a.Kind {
	case KindLogReg:
		if len(a.Sizes) != 2 {
			return fmt.Errorf("model: logreg needs 2 sizes (inputs, classes), got %v", a.Sizes)
		}
	case KindMLP:
		if len(a.Sizes) < 3 {
			return fmt.Errorf("model: mlp needs inputs, at least one hidden layer and classes, got %v", a.Sizes)
		}
	default:
		return fmt.Errorf("model: unknown architecture kind %q", a.Kind)
	}
	for _, n := range a.Sizes {
		if n <= 0 {
			return fmt.Errorf("model: layer sizes must be positive, got %v", a.Sizes)
		}
	}
	if a.Sizes[len(a.Sizes)-1] < 2 {
		return fmt.Errorf("model: need at least 2 classes, got %v", a.Sizes)
	}
	return nil
}

// String returns the spec ParseArch accepts.
func (a Arch) String() string {
	if len(a.Sizes) == 0 {
		return a.Kind
	}
	parts := make([]string, len(a.Sizes))
	for i, n := range a.Sizes {
		parts[i] = strconv.Itoa(n)
	}
	return a.Kind + ":" + strings.Join(parts, "-")
}

// WithDims returns a with its input and class counts set. For a "logreg"
// without sizes it fills them in; otherwise it checks that they agree.
func (a Arch) WithDims(inputs, classes int) (Arch, error) {
	if len(a.Sizes) == 0 {
		if a.Kind != KindLogReg {
			return Arch{}, fmt.Errorf("model: architecture %q has no sizes", a.Kind)
		}
		b := Arch{Kind: a.Kind, Sizes: []int{inputs, classes}}
		return b, b.check()
	}
	if err := a.check(); err != nil {
		return Arch{}, err
	}
	if a.Sizes[0] != inputs || a.Sizes[len(a.Sizes)-1] != classes {
		return Arch{}, fmt.Errorf("model: architecture %s expects %d inputs and %d classes, data has %d and %d",
			a, a.Sizes[0], a.Sizes[len(a.Sizes)-1], inputs, classes)
	}
	return a, nil
}

// ForData is WithDims with the dataset's feature and class counts.
func (a Arch) ForData(d *Dataset) (Arch, error) { return a.WithDims(d.D, d.Classes) }

// Layers reports the number of weight layers.
func (a Arch) Layers() int { return len(a.Sizes) - 1 }

// NumParams reports the number of parameters; 784-200-200-10 has 199,210.
func (a Arch) NumParams() int {
	n := 0
	for l := 1; l < len(a.Sizes); l++ {
		n += a.Sizes[l]*a.Sizes[l-1] + a.Sizes[l]
	}
	return n
}

// FLOPsPerExample reports the multiply-adds (times two) of the matrix
// products of one training step per example: the forward pass, the weight
// gradients, and the input gradients of every layer but the first.
func (a Arch) FLOPsPerExample() float64 {
	var f float64
	for l := 1; l < len(a.Sizes); l++ {
		w := float64(a.Sizes[l] * a.Sizes[l-1])
		f += 2 * w // forward
		f += 2 * w // weight gradient
		if l > 1 {
			f += 2 * w // input gradient
		}
	}
	return f
}

// ArchFromMeta returns the architecture recorded in a model file's metadata
// by Arch.Meta.
func ArchFromMeta(meta map[string]string) (Arch, error) {
	spec, ok := meta[MetaArch]
	if !ok {
		return Arch{}, fmt.Errorf("model: metadata has no %q entry", MetaArch)
	}
	return ParseArch(spec)
}

// Meta returns safetensors metadata that records the architecture.
func (a Arch) Meta() map[string]string { return map[string]string{MetaArch: a.String()} }

// Layout returns zero-valued Params with the architecture's tensors, in
// order: fc1.weight [H1, IN], fc1.bias [H1], fc2.weight, ... (the layout of
// PyTorch nn.Linear layers).
func (a Arch) Layout() (*Params, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	p := &Params{}
	for l := 1; l < len(a.Sizes); l++ {
		in, out := a.Sizes[l-1], a.Sizes[l]
		p.Tensors = append(p.Tensors,
			Tensor{Name: fmt.Sprintf("fc%d.weight", l), Shape: []int{out, in}, Data: make([]float32, out*in)},
			Tensor{Name: fmt.Sprintf("fc%d.bias", l), Shape: []int{out}, Data: make([]float32, out)})
	}
	return p, nil
}

// Init returns seeded initial parameters: every weight and bias of a layer
// with fan-in n is drawn uniformly from [-1/sqrt(n), 1/sqrt(n)] (PyTorch's
// nn.Linear default). The same seed gives the same bits. Init panics if the
// architecture is incomplete (a "logreg" without WithDims): that is a
// programming error.
func (a Arch) Init(seed uint64) *Params {
	p, err := a.Layout()
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x696e6974)) // "init"
	for i := range p.Tensors {
		t := &p.Tensors[i]
		fanIn := a.Sizes[i/2]
		bound := 1 / math.Sqrt(float64(fanIn))
		for j := range t.Data {
			t.Data[j] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	return p
}

// CheckParams reports an error unless p has exactly the architecture's layout.
func (a Arch) CheckParams(p *Params) error {
	want, err := a.Layout()
	if err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("model: nil params")
	}
	if err := want.SameLayout(p); err != nil {
		return fmt.Errorf("model: params do not fit %s: %w", a, err)
	}
	return nil
}
