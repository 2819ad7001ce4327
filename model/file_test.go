package model

import (
	"strings"
	"testing"
)

func TestInitialArch(t *testing.T) {
	a, _ := ParseArch("mlp:4-3-2")
	builtin, _ := MarshalSafetensors(a.Init(1), a.Meta())
	mixed, _ := MarshalSafetensors(mixedParams(), nil)
	odd, _ := MarshalSafetensors(mixedParams(), map[string]string{MetaArch: "resnet18"})
	liar, _ := MarshalSafetensors(mixedParams(), map[string]string{MetaArch: "logreg:2-2"})
	ints, _ := MarshalSafetensors(&Params{Tensors: []Tensor{{Name: "n", DType: I64, Raw: make([]byte, 8)}}}, nil)
	inf := mixedParams()
	inf.Tensors[0].Data[0] = float32(1e39 * float64(len(inf.Tensors)))
	infb, _ := MarshalSafetensors(inf, nil)
	for _, c := range []struct {
		name string
		b    []byte
		want string // arch, or the error's text
		err  bool
	}{
		{"built-in", builtin, "mlp:4-3-2", false},
		{"file without arch", mixed, ArchFile, false},
		{"file with its own arch", odd, ArchFile, false},
		{"wrong built-in layout", liar, "does not have its layout", true},
		{"no float tensor", ints, "no float tensor", true},
		{"non-finite", infb, "+Inf", true},
		{"not safetensors", []byte("nope"), "malformed", true},
	} {
		got, err := InitialArch(c.b)
		if c.err {
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %q, %v; want an error with %q", c.name, got, err, c.want)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if !IsBuiltin("logreg:2-3") || IsBuiltin(ArchFile) {
		t.Fatal("IsBuiltin")
	}
}
