package aggregate

import (
	"encoding/binary"
	"fmt"
	"math"
)

const stateMagic = "floeagg\x01"

// encodeState writes the server optimizer state format of doc.go.
func encodeState(rule string, dim int, vecs [][]float64) []byte {
	n := len(stateMagic) + 4 + len(rule) + 8 + 4 + 8*dim*len(vecs)
	b := make([]byte, 0, n)
	b = append(b, stateMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(rule)))
	b = append(b, rule...)
	b = binary.LittleEndian.AppendUint64(b, uint64(dim))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vecs)))
	for _, v := range vecs {
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
	}
	return b
}

// StateInfo is the header of an encoded optimizer state.
type StateInfo struct {
	Rule    string // canonical rule description
	Dim     int    // parameters per vector
	Vectors int    // number of state vectors
}

// ParseState checks the structure of an encoded optimizer state and reports
// its header. It does not check that the values are finite.
func ParseState(b []byte) (StateInfo, error) {
	info, _, err := parseState(b)
	return info, err
}

func parseState(b []byte) (StateInfo, []byte, error) {
	var info StateInfo
	if len(b) < len(stateMagic)+4 || string(b[:len(stateMagic)]) != stateMagic {
		return info, nil, fmt.Errorf("aggregate: state does not start with the floeagg v1 magic")
	}
	b = b[len(stateMagic):]
	rl := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(rl) > 4096 || uint64(len(b)) < uint64(rl)+12 {
		return info, nil, fmt.Errorf("aggregate: state rule name length %d out of range", rl)
	}
	info.Rule = string(b[:rl])
	b = b[rl:]
	dim := binary.LittleEndian.Uint64(b)
	nv := binary.LittleEndian.Uint32(b[8:])
	b = b[12:]
	if dim > 1<<40 || nv > 8 {
		return info, nil, fmt.Errorf("aggregate: state header out of range (dim %d, vectors %d)", dim, nv)
	}
	if uint64(len(b)) != 8*dim*uint64(nv) {
		return info, nil, fmt.Errorf("aggregate: state body has %d bytes, header says %d", len(b), 8*dim*uint64(nv))
	}
	info.Dim, info.Vectors = int(dim), int(nv)
	return info, b, nil
}

// decodeState fills vecs from b after checking that b was written for the
// same rule and dimension. vecs is unchanged on error.
func decodeState(b []byte, rule string, dim int, vecs [][]float64) error {
	info, body, err := parseState(b)
	if err != nil {
		return err
	}
	if info.Rule != rule {
		return fmt.Errorf("aggregate: state is for rule %s, aggregator is %s", info.Rule, rule)
	}
	if info.Dim != dim || info.Vectors != len(vecs) {
		return fmt.Errorf("aggregate: state has %d vectors of %d, aggregator needs %d of %d", info.Vectors, info.Dim, len(vecs), dim)
	}
	for i := 0; i < len(body); i += 8 {
		x := math.Float64frombits(binary.LittleEndian.Uint64(body[i:]))
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("aggregate: state value %d is not finite", i/8)
		}
	}
	for k, v := range vecs {
		off := k * dim * 8
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(body[off+8*i:]))
		}
	}
	return nil
}
