// Package trainer holds an example external trainer for floe: train.py, a
// standard-library Python program that follows the external-trainer contract
// of package model (see model/doc.go, "External trainers"). The test runs it
// through model.NewExternalTrainer and checks it against floe's local
// trainer; it is skipped when python3 is not installed.
//
// Use it from Go:
//
//	tr := model.NewExternalTrainer([]string{"python3", "examples/trainer/train.py"})
//	res, err := tr.Train(ctx, global, data, model.TrainConfig{Epochs: 1, BatchSize: 10, LR: 0.1})
package trainer
