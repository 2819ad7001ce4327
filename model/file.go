package model

import (
	"errors"
	"fmt"
)

// ArchFile is the architecture a job records for an initial model file that
// is not one of the built-in architectures. Such a job trains with external
// trainers only, and the coordinator's built-in evaluation skips it.
const ArchFile = "file"

// IsBuiltin reports whether arch names a built-in architecture (one that
// ParseArch accepts), which the local trainer and Evaluate can run.
func IsBuiltin(arch string) bool {
	_, err := ParseArch(arch)
	return err == nil
}

// InitialArch checks b as a job's initial model file and reports the
// architecture the job records. b must decode (UnmarshalSafetensors), hold
// at least one float parameter, and every float value must be finite. When
// its metadata's floe.arch names a built-in architecture with all its sizes,
// the file must have exactly that architecture's layout (names, order,
// shapes, F32) and InitialArch returns it; otherwise it returns ArchFile.
func InitialArch(b []byte) (string, error) {
	p, meta, err := UnmarshalSafetensors(b)
	if err != nil {
		return "", err
	}
	if p.Len() == 0 {
		return "", errors.New("model: initial model has no float tensor to aggregate")
	}
	if err := p.CheckFinite(); err != nil {
		return "", fmt.Errorf("model: initial model: %w", err)
	}
	spec, ok := meta[MetaArch]
	if !ok || spec == ArchFile {
		return ArchFile, nil
	}
	a, err := ParseArch(spec)
	if err != nil || len(a.Sizes) == 0 {
		return ArchFile, nil
	}
	want, err := a.Layout()
	if err != nil {
		return ArchFile, nil
	}
	if err := want.SameSchema(p); err != nil {
		return "", fmt.Errorf("model: initial model says %s %q but does not have its layout: %w", MetaArch, spec, err)
	}
	return a.String(), nil
}
