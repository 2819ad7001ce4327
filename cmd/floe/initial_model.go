package main

import (
	"fmt"
	"os"

	"github.com/floe-fl/floe/job"
	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/model"
	"github.com/floe-fl/floe/round"
)

// initialModelMax bounds the initial model file the coordinator reads (4 GiB).
const initialModelMax = 4 << 30

// jobModel returns the architecture a new job records and its initial model
// (version 0). With initial_model, that is the file's bytes as they are,
// checked by model.InitialArch (the architecture is the file's floe.arch
// when it is a built-in one, else "file"). With model, the built-in
// architecture (logreg without sizes takes them from heldOut) initialized
// from the job's seed. A held-out set can only evaluate built-in
// architectures.
func jobModel(c job.Config, heldOut *model.Dataset) (string, []byte, error) {
	if c.InitialModel != "" {
		fi, err := os.Stat(c.InitialModel)
		if err != nil {
			return "", nil, fmt.Errorf("job initial_model: %w", err)
		}
		if fi.Size() > initialModelMax {
			return "", nil, fmt.Errorf("job initial_model %s: %d bytes, above the limit of %d", c.InitialModel, fi.Size(), int64(initialModelMax))
		}
		b, err := os.ReadFile(c.InitialModel)
		if err != nil {
			return "", nil, fmt.Errorf("job initial_model: %w", err)
		}
		arch, err := model.InitialArch(b)
		if err != nil {
			return "", nil, fmt.Errorf("job initial_model %s: %w", c.InitialModel, err)
		}
		if heldOut != nil && !model.IsBuiltin(arch) {
			return "", nil, usagef("--eval-dataset evaluates the built-in models only, and initial_model %s is not one (its %s is not logreg:... or mlp:...)", c.InitialModel, model.MetaArch)
		}
		return arch, b, nil
	}
	a, err := model.ParseArch(c.Model)
	if err != nil {
		return "", nil, err
	}
	if heldOut != nil && len(a.Sizes) == 0 {
		if a, err = a.ForData(heldOut); err != nil {
			return "", nil, err
		}
	}
	if _, err := a.Layout(); err != nil {
		return "", nil, fmt.Errorf("job model %q needs its dimensions (e.g. logreg:784-10): %v", c.Model, err)
	}
	b, err := model.MarshalSafetensors(a.Init(uint64(c.Seed)), round.ModelMeta(&ledger.JobSpec{Arch: a.String()}, 0))
	return a.String(), b, err
}
