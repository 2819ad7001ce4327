package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/floe-fl/floe/atomicfile"
)

// HeaderSizeMax is the largest safetensors JSON header accepted (the limit of
// the reference implementation, 100 MB).
const HeaderSizeMax = 100_000_000

// ErrMalformed is wrapped by every error UnmarshalSafetensors returns for bytes
// that are not a valid safetensors file.
var ErrMalformed = errors.New("model: malformed safetensors")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// dtypeSize gives the element size of every dtype the safetensors format
// names. Params hold the ones DType.Size knows; the 8-bit floats and C64
// are rejected.
var dtypeSize = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8, "C64": 8,
}

// MarshalSafetensors encodes p as a safetensors file, each tensor in its
// own dtype (F32 for the zero DType): float values converted as
// encodeFloats says (F16 and BF16 rounded to nearest, ties to even; F64
// exact), the others' Raw bytes as they are. meta, which may be nil,
// becomes the header's __metadata__. The bytes are deterministic: header
// keys are sorted, the JSON is compact and padded with spaces to a multiple
// of 8 bytes, and tensor data is packed in p's order with no gaps.
func MarshalSafetensors(p *Params, meta map[string]string) ([]byte, error) {
	return MarshalSafetensorsRoom(p, meta, 0)
}

// MarshalSafetensorsRoom is MarshalSafetensors into a buffer with room
// spare bytes of capacity after the file (for example seal.Overhead, so
// that the file can be sealed in place).
func MarshalSafetensorsRoom(p *Params, meta map[string]string, room int) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	for i := range p.Tensors {
		if p.Tensors[i].Name == "__metadata__" {
			return nil, errors.New("model: tensor name __metadata__ is reserved")
		}
	}
	header, size := marshalHeader(p, meta)
	out := make([]byte, 8+len(header)+size, 8+len(header)+size+max(room, 0))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	off := 8 + copy(out[8:], header)
	for i := range p.Tensors {
		t := &p.Tensors[i]
		if dt := t.Type(); dt.IsFloat() {
			n, _ := dt.Size()
			encodeFloats(dt, t.Data, out[off:off+n*len(t.Data)])
			off += n * len(t.Data)
		} else {
			off += copy(out[off:], t.Raw)
		}
	}
	return out, nil
}

// marshalHeader returns p's header and the size of its data buffer.
func marshalHeader(p *Params, meta map[string]string) ([]byte, int) {
	specs := make([]tensorSpec, len(p.Tensors))
	size := 0
	for i := range p.Tensors {
		t := &p.Tensors[i]
		dt := t.Type()
		n := len(t.Raw)
		if dt.IsFloat() {
			es, _ := dt.Size()
			n = es * len(t.Data)
		}
		specs[i] = tensorSpec{t.Name, string(dt), t.Shape, n}
		size += n
	}
	return buildHeader(meta, specs), size
}

// tensorSpec describes one tensor for buildHeader.
type tensorSpec struct {
	name   string
	dtype  string
	shape  []int
	nbytes int
}

// buildHeader returns the JSON header for tensors packed in the given order:
// compact, keys sorted, padded with spaces to a multiple of 8 bytes.
func buildHeader(meta map[string]string, specs []tensorSpec) []byte {
	type entry struct {
		key string
		val []byte
	}
	entries := make([]entry, 0, len(specs)+1)
	if len(meta) > 0 {
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var m bytes.Buffer
		m.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				m.WriteByte(',')
			}
			m.Write(jsonString(k))
			m.WriteByte(':')
			m.Write(jsonString(meta[k]))
		}
		m.WriteByte('}')
		entries = append(entries, entry{"__metadata__", m.Bytes()})
	}
	off := 0
	for _, t := range specs {
		var e bytes.Buffer
		fmt.Fprintf(&e, `{"dtype":%s,"shape":[`, jsonString(t.dtype))
		for j, d := range t.shape {
			if j > 0 {
				e.WriteByte(',')
			}
			fmt.Fprintf(&e, "%d", d)
		}
		end := off + t.nbytes
		fmt.Fprintf(&e, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
		entries = append(entries, entry{t.name, e.Bytes()})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	var h bytes.Buffer
	h.WriteByte('{')
	for i, e := range entries {
		if i > 0 {
			h.WriteByte(',')
		}
		h.Write(jsonString(e.key))
		h.WriteByte(':')
		h.Write(e.val)
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	return h.Bytes()
}

func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

type tensorInfo struct {
	name        string
	dtype       string
	shape       []int
	begin, end  uint64
	numElements uint64
}

// UnmarshalSafetensors decodes a safetensors file. Tensors come back in the
// order of their data offsets. Float tensors (F32, F64, F16, BF16) hold
// their values in Data as float32 (F64 rounded to nearest); integer and BOOL
// tensors hold their bytes in Raw. It rejects, with an error wrapping
// ErrMalformed, a truncated file, a header larger than HeaderSizeMax or not
// a JSON object, duplicate keys, unknown fields, an unknown or unsupported
// dtype (the 8-bit floats, C64), a shape whose size does not match its
// offsets, overlapping offsets, holes or trailing bytes in the data buffer,
// a BOOL byte other than 0 or 1, and non-string metadata.
func UnmarshalSafetensors(b []byte) (*Params, map[string]string, error) {
	infos, meta, data, err := decodeSafetensors(b)
	if err != nil {
		return nil, nil, err
	}
	p, err := paramsOf(infos, data, copyFloats)
	if err != nil {
		return nil, nil, err
	}
	return p, meta, nil
}

// copyFloats is paramsOf's floats for a Params of its own: the tensor's
// values decoded into a new slice.
func copyFloats(in tensorInfo, raw []byte) []float32 {
	d := make([]float32, in.numElements)
	decodeFloats(DType(in.dtype), raw, d)
	return d
}

// paramsOf builds the Params of a decoded file (infos sorted by offset,
// data its data buffer), the float tensors' values given by floats.
func paramsOf(infos []tensorInfo, data []byte, floats func(in tensorInfo, raw []byte) []float32) (*Params, error) {
	p := &Params{Tensors: make([]Tensor, len(infos))}
	for i, in := range infos {
		raw := data[in.begin:in.end]
		dt := DType(in.dtype)
		t := Tensor{Name: in.name, Shape: in.shape}
		if dt != F32 {
			t.DType = dt
		}
		switch _, ok := dt.Size(); {
		case !ok:
			return nil, malformed("tensor %q: unsupported dtype %s (floe reads F32, F64, F16, BF16, the integer dtypes and BOOL)", in.name, in.dtype)
		case dt.IsFloat():
			t.Data = floats(in, raw)
		default:
			if dt == BOOL {
				for j, c := range raw {
					if c > 1 {
						return nil, malformed("tensor %q: BOOL element %d is %d, not 0 or 1", in.name, j, c)
					}
				}
			}
			t.Raw = append([]byte(nil), raw...)
		}
		p.Tensors[i] = t
	}
	return p, nil
}

// decodeSafetensors checks the layout of a safetensors file and returns its
// tensors sorted by data offset, its metadata and its data buffer.
func decodeSafetensors(b []byte) ([]tensorInfo, map[string]string, []byte, error) {
	if len(b) < 8 {
		return nil, nil, nil, malformed("truncated: %d bytes, need at least 8", len(b))
	}
	hlen := binary.LittleEndian.Uint64(b[:8])
	if hlen > HeaderSizeMax {
		return nil, nil, nil, malformed("header size %d exceeds limit %d", hlen, HeaderSizeMax)
	}
	if hlen > uint64(len(b)-8) {
		return nil, nil, nil, malformed("truncated: header size %d, only %d bytes follow", hlen, len(b)-8)
	}
	header := b[8 : 8+hlen]
	data := b[8+hlen:]
	infos, meta, err := parseHeader(header)
	if err != nil {
		return nil, nil, nil, err
	}
	// Check that the data offsets tile the buffer exactly.
	sort.Slice(infos, func(i, j int) bool {
		if infos[i].begin != infos[j].begin {
			return infos[i].begin < infos[j].begin
		}
		if infos[i].end != infos[j].end {
			return infos[i].end < infos[j].end
		}
		return infos[i].name < infos[j].name
	})
	var pos uint64
	for _, in := range infos {
		if in.begin < pos {
			return nil, nil, nil, malformed("tensor %q data_offsets [%d,%d] overlap the previous tensor (ends at %d)", in.name, in.begin, in.end, pos)
		}
		if in.begin > pos {
			return nil, nil, nil, malformed("hole in data buffer before tensor %q: bytes [%d,%d) are not indexed", in.name, pos, in.begin)
		}
		pos = in.end
	}
	if pos > uint64(len(data)) {
		return nil, nil, nil, malformed("truncated: tensors need %d data bytes, file has %d", pos, len(data))
	}
	if pos < uint64(len(data)) {
		return nil, nil, nil, malformed("%d trailing bytes after the last tensor", uint64(len(data))-pos)
	}
	return infos, meta, data, nil
}

// parseHeader parses the JSON header strictly, token by token, so that
// duplicate keys and unknown fields are caught.
func parseHeader(h []byte) ([]tensorInfo, map[string]string, error) {
	if !utf8.Valid(h) {
		return nil, nil, malformed("header is not valid UTF-8")
	}
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, malformed("header does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, nil, malformed("header: %v", err)
	}
	var infos []tensorInfo
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, malformed("header: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, malformed("header: key is not a string")
		}
		if seen[key] {
			return nil, nil, malformed("duplicate key %q in header", key)
		}
		seen[key] = true
		if key == "__metadata__" {
			if meta, err = parseMeta(dec); err != nil {
				return nil, nil, err
			}
			continue
		}
		if key == "" {
			return nil, nil, malformed("empty tensor name")
		}
		in, err := parseInfo(dec, key)
		if err != nil {
			return nil, nil, err
		}
		infos = append(infos, in)
	}
	if _, err := dec.Token(); err != nil { // closing '}'
		return nil, nil, malformed("header: %v", err)
	}
	rest := h[dec.InputOffset():]
	if len(bytes.Trim(rest, " ")) != 0 {
		return nil, nil, malformed("header has %d bytes after the JSON object that are not space padding", len(rest))
	}
	return infos, meta, nil
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return malformed("header: %s: %v", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return malformed("header: %s: expected %q, got %v", what, want, tok)
	}
	return nil
}

func parseMeta(dec *json.Decoder) (map[string]string, error) {
	if err := expectDelim(dec, '{', "__metadata__"); err != nil {
		return nil, err
	}
	meta := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed("header: __metadata__: %v", err)
		}
		k, _ := tok.(string)
		if _, dup := meta[k]; dup {
			return nil, malformed("duplicate key %q in __metadata__", k)
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, malformed("header: __metadata__: %v", err)
		}
		v, ok := tok.(string)
		if !ok {
			return nil, malformed("__metadata__ value of %q is not a string", k)
		}
		meta[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, malformed("header: __metadata__: %v", err)
	}
	return meta, nil
}

func parseUint(tok json.Token, what string) (uint64, error) {
	n, ok := tok.(json.Number)
	if !ok {
		return 0, malformed("%s: expected a number, got %v", what, tok)
	}
	s := string(n)
	if strings.ContainsAny(s, ".eE-+") {
		return 0, malformed("%s: %s is not a non-negative integer", what, s)
	}
	var v uint64
	for _, c := range s {
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, malformed("%s: %s overflows", what, s)
		}
		v = v*10 + d
	}
	return v, nil
}

func parseUintArray(dec *json.Decoder, what string, maxLen int) ([]uint64, error) {
	if err := expectDelim(dec, '[', what); err != nil {
		return nil, err
	}
	var out []uint64
	for dec.More() {
		if len(out) >= maxLen {
			return nil, malformed("%s: more than %d entries", what, maxLen)
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed("header: %s: %v", what, err)
		}
		v, err := parseUint(tok, what)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, malformed("header: %s: %v", what, err)
	}
	return out, nil
}

func parseInfo(dec *json.Decoder, name string) (tensorInfo, error) {
	in := tensorInfo{name: name}
	if err := expectDelim(dec, '{', fmt.Sprintf("tensor %q", name)); err != nil {
		return in, err
	}
	var haveDtype, haveShape, haveOffsets bool
	var shape, offsets []uint64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return in, malformed("header: tensor %q: %v", name, err)
		}
		field, _ := tok.(string)
		what := fmt.Sprintf("tensor %q %s", name, field)
		switch field {
		case "dtype":
			if haveDtype {
				return in, malformed("tensor %q: duplicate dtype", name)
			}
			haveDtype = true
			tok, err := dec.Token()
			if err != nil {
				return in, malformed("header: %s: %v", what, err)
			}
			s, ok := tok.(string)
			if !ok {
				return in, malformed("%s: not a string", what)
			}
			in.dtype = s
		case "shape":
			if haveShape {
				return in, malformed("tensor %q: duplicate shape", name)
			}
			haveShape = true
			if shape, err = parseUintArray(dec, what, 64); err != nil {
				return in, err
			}
		case "data_offsets":
			if haveOffsets {
				return in, malformed("tensor %q: duplicate data_offsets", name)
			}
			haveOffsets = true
			if offsets, err = parseUintArray(dec, what, 2); err != nil {
				return in, err
			}
		default:
			return in, malformed("tensor %q: unknown field %q", name, field)
		}
	}
	if _, err := dec.Token(); err != nil {
		return in, malformed("header: tensor %q: %v", name, err)
	}
	if !haveDtype || !haveShape || !haveOffsets {
		return in, malformed("tensor %q: needs dtype, shape and data_offsets", name)
	}
	size, known := dtypeSize[in.dtype]
	if !known {
		return in, malformed("tensor %q: unknown dtype %q", name, in.dtype)
	}
	if len(offsets) != 2 {
		return in, malformed("tensor %q: data_offsets needs 2 entries, has %d", name, len(offsets))
	}
	in.begin, in.end = offsets[0], offsets[1]
	if in.end < in.begin {
		return in, malformed("tensor %q: data_offsets [%d,%d] end before begin", name, in.begin, in.end)
	}
	// The element count must fit the byte span; compute it without overflow.
	n := uint64(1)
	in.shape = make([]int, len(shape))
	for i, d := range shape {
		if d > math.MaxInt32 {
			return in, malformed("tensor %q: dimension %d too large", name, d)
		}
		in.shape[i] = int(d)
		if d != 0 && n > (1<<40)/d {
			return in, malformed("tensor %q: shape %v too large", name, shape)
		}
		n *= d
	}
	if n*uint64(size) != in.end-in.begin {
		return in, malformed("tensor %q: shape %v of %s needs %d bytes, data_offsets [%d,%d] span %d", name, shape, in.dtype, n*uint64(size), in.begin, in.end, in.end-in.begin)
	}
	in.numElements = n
	return in, nil
}

// ReadSafetensors reads at most limit bytes from r and decodes them. A
// stream longer than limit is an error.
func ReadSafetensors(r io.Reader, limit int64) (*Params, map[string]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("model: reading safetensors: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, nil, fmt.Errorf("model: safetensors larger than the limit of %d bytes", limit)
	}
	return UnmarshalSafetensors(b)
}

// ReadSafetensorsFile reads and decodes a safetensors file.
func ReadSafetensorsFile(path string) (*Params, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	p, meta, err := UnmarshalSafetensors(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return p, meta, nil
}

// WriteSafetensorsFile writes p atomically: to a temporary file in the same
// directory, synced, then renamed over path.
func WriteSafetensorsFile(path string, p *Params, meta map[string]string) error {
	b, err := MarshalSafetensors(p, meta)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

// writeFileAtomic writes b to path with atomicfile.WriteFile, with the mode
// (0600) the model writer has always used.
func writeFileAtomic(path string, b []byte) error {
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	return nil
}

// ErrSchema reports an update whose tensors are not the global model's:
// other names, order, shapes or dtypes (what Params.SameSchema refuses).
var ErrSchema = errors.New("model: update's tensors differ from the global model's")

// DecodeDelta decodes an update file against the global model straight
// into dst (reused when its capacity suffices): the float values of its
// tensors as float32, in the layout of Flatten, without building a Params.
// It gives what UnmarshalSafetensors, SameSchema against global and
// Flatten give together, and the same verdicts: an error wrapping
// ErrMalformed for a file UnmarshalSafetensors refuses, ErrSchema for one
// whose tensors SameSchema refuses. The update's integer and BOOL tensors
// are checked, not read.
func DecodeDelta(b []byte, global *Params, dst []float32) ([]float32, error) {
	infos, _, data, err := decodeSafetensors(b)
	if err != nil {
		return dst, err
	}
	return decodeDelta(infos, data, global, dst)
}

// decodeDelta is DecodeDelta of a decoded file (infos sorted by offset,
// data its data buffer).
func decodeDelta(infos []tensorInfo, data []byte, global *Params, dst []float32) ([]float32, error) {
	if err := checkDelta(infos, data, global); err != nil {
		return dst, err
	}
	n := global.Len()
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	off := 0
	for _, in := range infos {
		if dt := DType(in.dtype); dt.IsFloat() {
			k := int(in.numElements)
			decodeFloats(dt, data[in.begin:in.end], dst[off:off+k])
			off += k
		}
	}
	return dst, nil
}

// checkDelta gives DecodeDelta's verdicts on a decoded update file (infos
// sorted by offset, data its data buffer) against global: those of
// UnmarshalSafetensors first, then SameSchema's.
func checkDelta(infos []tensorInfo, data []byte, global *Params) error {
	for _, in := range infos {
		dt := DType(in.dtype)
		if _, ok := dt.Size(); !ok {
			return malformed("tensor %q: unsupported dtype %s (floe reads F32, F64, F16, BF16, the integer dtypes and BOOL)", in.name, in.dtype)
		}
		if dt == BOOL {
			for j, c := range data[in.begin:in.end] {
				if c > 1 {
					return malformed("tensor %q: BOOL element %d is %d, not 0 or 1", in.name, j, c)
				}
			}
		}
	}
	if len(infos) != len(global.Tensors) {
		return fmt.Errorf("%w: %d tensors, want %d", ErrSchema, len(infos), len(global.Tensors))
	}
	for i, in := range infos {
		g := &global.Tensors[i]
		if in.name != g.Name || !equalShape(in.shape, g.Shape) || DType(in.dtype) != g.Type() {
			return fmt.Errorf("%w: tensor %d is %q %s %v, want %q %s %v", ErrSchema, i, in.name, in.dtype, in.shape, g.Name, g.Type(), g.Shape)
		}
	}
	return nil
}
