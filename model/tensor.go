package model

import (
	"fmt"
	"math"
)

// Tensor is one named float32 tensor stored row-major (C order), as in a
// safetensors file. len(Data) equals the product of Shape (1 for a scalar).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
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
// the tensors' data in order.
type Params struct {
	Tensors []Tensor
}

// Len reports the total number of float32 parameters.
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

// SetFlat overwrites all parameters from src, the layout of Flatten. It
// returns an error, and changes nothing, when len(src) != p.Len().
func (p *Params) SetFlat(src []float32) error {
	if n := p.Len(); len(src) != n {
		return fmt.Errorf("model: SetFlat got %d values, params hold %d", len(src), n)
	}
	off := 0
	for i := range p.Tensors {
		off += copy(p.Tensors[i].Data, src[off:])
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
			Data:  append([]float32(nil), t.Data...),
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
// name, a negative dimension, or data whose length does not match its shape.
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
		if len(t.Data) != n {
			return fmt.Errorf("model: tensor %q has %d values, shape %v needs %d", t.Name, len(t.Data), t.Shape, n)
		}
	}
	return nil
}

// SameLayout reports an error unless p and q have the same tensors (names,
// order and shapes). Data is not compared.
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
		if len(a.Data) != len(b.Data) {
			return fmt.Errorf("model: tensor %q has %d values, want %d", a.Name, len(b.Data), len(a.Data))
		}
	}
	return nil
}

// CheckFinite reports an error naming the first NaN or infinite parameter.
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
