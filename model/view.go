package model

import (
	"encoding/binary"
	"unsafe"
)

// Zero-copy views of safetensors files. A model's F32 values in a file are
// little-endian float32s; on a little-endian machine, at a 4-byte aligned
// address, they are already the []float32 the rules work on. The views
// below alias the file's bytes instead of copying them, which for a model
// of N parameters saves 4N bytes per view: the fold of a round keeps its
// memory near the accumulator and the files it must hold anyway.

// littleEndian reports whether this machine stores a float32 as the
// safetensors format does.
var littleEndian = func() bool {
	x := uint32(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// f32View returns b as len(b)/4 float32s aliasing it, when that is
// possible: a little-endian machine, b 4-byte aligned and a multiple of 4
// bytes long. An empty b gives an empty view.
func f32View(b []byte) ([]float32, bool) {
	if !littleEndian || len(b)%4 != 0 {
		return nil, false
	}
	if len(b) == 0 {
		return []float32{}, true
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), true
}

// floatRun reports the byte range of the data buffer that holds every float
// tensor of infos (sorted by offset), when they are all F32 and consecutive
// (no integer or BOOL tensor between two of them): the file's float values,
// in Flatten's order, as one run.
func floatRun(infos []tensorInfo) (begin, end uint64, ok bool) {
	first := true
	for _, in := range infos {
		dt := DType(in.dtype)
		if !dt.IsFloat() {
			continue
		}
		if dt != F32 || (!first && in.begin != end) {
			return 0, 0, false
		}
		if first {
			begin, first = in.begin, false
		}
		end = in.end
	}
	return begin, end, true
}

// ViewSafetensors is UnmarshalSafetensors whose float values alias b
// instead of being copied, when b's float tensors are all F32, consecutive
// and aligned (see the package's views). It then also returns flat, every
// float value in Flatten's order as one slice aliasing b. The returned
// Params and flat must be treated as read-only while b is in use: writing
// them writes b. When a view is not possible it returns
// UnmarshalSafetensors' copy and a nil flat.
func ViewSafetensors(b []byte) (*Params, map[string]string, []float32, error) {
	infos, meta, data, err := decodeSafetensors(b)
	if err != nil {
		return nil, nil, nil, err
	}
	begin, end, ok := floatRun(infos)
	var flat []float32
	if ok {
		flat, ok = f32View(data[begin:end])
	}
	floats := copyFloats
	if ok {
		floats = func(in tensorInfo, _ []byte) []float32 {
			lo := (in.begin - begin) / 4
			return flat[lo : lo+in.numElements : lo+in.numElements]
		}
	}
	p, err := paramsOf(infos, data, floats)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, meta, flat, nil
}

// DecodeDeltaView is DecodeDelta returning a view of b's float values
// (aliased true) instead of a copy into dst, when they are all F32,
// consecutive and aligned; else it is DecodeDelta. A view writes through to
// b: a caller that changes the values (clipping) must own b.
func DecodeDeltaView(b []byte, global *Params, dst []float32) ([]float32, bool, error) {
	infos, _, data, err := decodeSafetensors(b)
	if err != nil {
		return dst, false, err
	}
	begin, end, ok := floatRun(infos)
	var view []float32
	if ok {
		view, ok = f32View(data[begin:end])
	}
	if !ok {
		d, err := decodeDelta(infos, data, global, dst)
		return d, false, err
	}
	if err := checkDelta(infos, data, global); err != nil {
		return dst, false, err
	}
	return view, true, nil
}

// NewSafetensorsF32 returns the file MarshalSafetensors(p, meta) would give
// with every float value left zero, and those values as one slice aliasing
// the file, in Flatten's order, for the caller to fill: the file is then
// MarshalSafetensors of p with those values, without building them twice.
// ok is false, and nothing is allocated, when p's float tensors are not
// all F32 and consecutive, or the machine cannot alias them.
func NewSafetensorsF32(p *Params, meta map[string]string) (file []byte, flat []float32, ok bool, err error) {
	return NewSafetensorsF32Into(nil, p, meta)
}

// NewSafetensorsF32Into is NewSafetensorsF32 writing the file into buf's
// memory when its capacity suffices (else into new memory): every byte but
// the float values is written, and those are left as buf held them, so the
// caller must set every one.
func NewSafetensorsF32Into(buf []byte, p *Params, meta map[string]string) (file []byte, flat []float32, ok bool, err error) {
	if err := p.Validate(); err != nil {
		return nil, nil, false, err
	}
	infos := make([]tensorInfo, len(p.Tensors))
	for i := range p.Tensors {
		t := &p.Tensors[i]
		if t.Name == "__metadata__" {
			return nil, nil, false, nil // MarshalSafetensors gives the error
		}
		infos[i] = tensorInfo{dtype: string(t.Type())}
	}
	header, size := marshalHeader(p, meta)
	// The offsets MarshalSafetensors packs the tensors at, in p's order.
	var off uint64
	for i := range p.Tensors {
		t := &p.Tensors[i]
		n := uint64(len(t.Raw))
		if t.Type().IsFloat() {
			es, _ := t.Type().Size()
			n = uint64(es * len(t.Data))
		}
		infos[i].begin, infos[i].end = off, off+n
		off += n
	}
	begin, end, ok := floatRun(infos)
	if !ok || !littleEndian {
		return nil, nil, false, nil
	}
	if n := 8 + len(header) + size; cap(buf) >= n {
		file = buf[:n]
	} else {
		file = make([]byte, n)
	}
	binary.LittleEndian.PutUint64(file, uint64(len(header)))
	data := file[8+copy(file[8:], header):]
	if flat, ok = f32View(data[begin:end]); !ok {
		return nil, nil, false, nil
	}
	for i := range p.Tensors {
		if t := &p.Tensors[i]; !t.Type().IsFloat() {
			copy(data[infos[i].begin:infos[i].end], t.Raw)
		}
	}
	return file, flat, true, nil
}
