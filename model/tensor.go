package model

import (
	"fmt"
	"math"
)

// Tensor is one named tensor stored row-major (C order), as in a
// safetensors file.
//
// A float tensor (DType F32, F64, F16 or BF16) holds its values in Data as
// float32: F16 and BF16 values widen exactly, F64 values are rounded to the
// nearest float32 (ties to even) when a file is read. len(Data) equals the
// product of Shape (1 for a scalar) and Raw is nil.
//
// Any other tensor (the integer and BOOL dtypes) holds its little-endian
// bytes, as in the file, in Raw; Data is nil. Aggregation leaves such tensors
// as the global model has them.
type Tensor struct {
	Name  string
	Shape []int
	// DType is the element type written to a file; the zero value means
	// F32, and UnmarshalSafetensors leaves it zero for F32 tensors so that
	// Params built in code and Params read back compare equal.
	DType DType
	Data  []float32
	Raw   []byte
}

// Type reports t's dtype, F32 for the zero value.
func (t *Tensor) Type() DType {
	if t.DType == "" {
		return F32
	}
	return t.DType
}

// NumElements reports the number of elements the shape describes.
func (t *Tensor) NumElements() int { return shapeSize(t.Shape) }

func shapeSize(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Params is an ordered list of named tensors: the weights of one model.
// Aggregation works on its flat view (Flatten, SetFlat), which concatenates
// the float tensors' data in order; non-float tensors are not part of it.
type Params struct {
	Tensors []Tensor
}

// Len reports the total number of float parameters: the length of the
// flat view.
func (p *Params) Len() int {
	n := 0
	for i := range p.Tensors {
		n += len(p.Tensors[i].Data)
	}
	return n
}

// Flatten copies all parameters, tensor after tensor, into dst and returns
// dst[:p.Len()]. dst is reused when its capacity suffices, else a new slice
// is allocated.
func (p *Params) Flatten(dst []float32) []float32 {
	n := p.Len()
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	off := 0
	for i := range p.Tensors {
		off += copy(dst[off:], p.Tensors[i].Data)
	}
	return dst
}

// SetFlat overwrites all float parameters from src, the layout of Flatten,
// rounding each value to its tensor's dtype (F16 and BF16 to nearest, ties
// to even, as MarshalSafetensors would; F32 and F64 keep the float32). It
// returns an error, and changes nothing, when len(src) != p.Len().
func (p *Params) SetFlat(src []float32) error {
	if n := p.Len(); len(src) != n {
		return fmt.Errorf("model: SetFlat got %d values, params hold %d", len(src), n)
	}
	off := 0
	for i := range p.Tensors {
		t := &p.Tensors[i]
		k := copy(t.Data, src[off:])
		roundTo(t.Type(), t.Data[:k])
		off += k
	}
	return nil
}

// Clone returns a deep copy of p.
func (p *Params) Clone() *Params {
	q := &Params{Tensors: make([]Tensor, len(p.Tensors))}
	for i, t := range p.Tensors {
		q.Tensors[i] = Tensor{
			Name:  t.Name,
			Shape: append([]int(nil), t.Shape...),
			DType: t.DType,
			Data:  append([]float32(nil), t.Data...),
			Raw:   append([]byte(nil), t.Raw...),
		}
	}
	return q
}

// Tensor returns the tensor with the given name, or nil.
func (p *Params) Tensor(name string) *Tensor {
	for i := range p.Tensors {
		if p.Tensors[i].Name == name {
			return &p.Tensors[i]
		}
	}
	return nil
}

// Validate reports an error when p is not well formed: an empty or duplicate
// name, a negative dimension, an unsupported dtype, data whose length does
// not match its shape and dtype (Data for float tensors, Raw for the others,
// the other one nil), or a BOOL byte other than 0 and 1.
func (p *Params) Validate() error {
	seen := make(map[string]bool, len(p.Tensors))
	for i := range p.Tensors {
		t := &p.Tensors[i]
		if t.Name == "" {
			return fmt.Errorf("model: tensor %d has an empty name", i)
		}
		if seen[t.Name] {
			return fmt.Errorf("model: duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("model: tensor %q has negative dimension %d", t.Name, d)
			}
			if d != 0 && n > math.MaxInt32/d {
				return fmt.Errorf("model: tensor %q shape %v too large", t.Name, t.Shape)
			}
			n *= d
		}
		dt := t.Type()
		size, ok := dt.Size()
		switch {
		case !ok:
			return fmt.Errorf("model: tensor %q has unsupported dtype %q", t.Name, t.DType)
		case dt.IsFloat() && t.Raw != nil:
			return fmt.Errorf("model: float tensor %q (%s) has raw bytes", t.Name, dt)
		case dt.IsFloat() && len(t.Data) != n:
			return fmt.Errorf("model: tensor %q has %d values, shape %v needs %d", t.Name, len(t.Data), t.Shape, n)
		case !dt.IsFloat() && t.Data != nil:
			return fmt.Errorf("model: %s tensor %q has float values", dt, t.Name)
		case !dt.IsFloat() && len(t.Raw) != n*size:
			return fmt.Errorf("model: tensor %q has %d bytes, shape %v of %s needs %d", t.Name, len(t.Raw), t.Shape, dt, n*size)
		}
		if dt == BOOL {
			for j, b := range t.Raw {
				if b > 1 {
					return fmt.Errorf("model: BOOL tensor %q element %d is %d, not 0 or 1", t.Name, j, b)
				}
			}
		}
	}
	return nil
}

// SameLayout reports an error unless p and q have the same tensors (names,
// order and shapes), float where p's are float. Float dtypes may differ
// (an external trainer may answer F64 for F32); SameSchema compares them
// too. Data is not compared.
func (p *Params) SameLayout(q *Params) error {
	if len(p.Tensors) != len(q.Tensors) {
		return fmt.Errorf("model: %d tensors, want %d", len(q.Tensors), len(p.Tensors))
	}
	for i := range p.Tensors {
		a, b := &p.Tensors[i], &q.Tensors[i]
		if a.Name != b.Name {
			return fmt.Errorf("model: tensor %d is %q, want %q", i, b.Name, a.Name)
		}
		if !equalShape(a.Shape, b.Shape) {
			return fmt.Errorf("model: tensor %q has shape %v, want %v", a.Name, b.Shape, a.Shape)
		}
		if a.Type().IsFloat() != b.Type().IsFloat() {
			return fmt.Errorf("model: tensor %q has dtype %s, want %s", a.Name, b.Type(), a.Type())
		}
		if len(a.Raw) != len(b.Raw) {
			return fmt.Errorf("model: tensor %q has dtype %s, want %s", a.Name, b.Type(), a.Type())
		}
		if len(a.Data) != len(b.Data) {
			return fmt.Errorf("model: tensor %q has %d values, want %d", a.Name, len(b.Data), len(a.Data))
		}
	}
	return nil
}

// SameSchema reports an error unless q has p's tensors with p's names,
// order, shapes and dtypes: the check an update must pass against the
// global model. Data is not compared.
func (p *Params) SameSchema(q *Params) error {
	if err := p.SameLayout(q); err != nil {
		return err
	}
	for i := range p.Tensors {
		if a, b := p.Tensors[i].Type(), q.Tensors[i].Type(); a != b {
			return fmt.Errorf("model: tensor %q has dtype %s, want %s", p.Tensors[i].Name, b, a)
		}
	}
	return nil
}

// CheckFinite reports an error naming the first NaN or infinite float
// parameter.
func (p *Params) CheckFinite() error {
	for i := range p.Tensors {
		for j, v := range p.Tensors[i].Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("model: tensor %q element %d is %v", p.Tensors[i].Name, j, v)
			}
		}
	}
	return nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
