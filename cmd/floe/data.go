package main

import (
	"flag"
	"fmt"
	"math"

	"github.com/floe-fl/floe/model"
)

// dataFlags select a participant's local data, or a held-out set.
type dataFlags struct {
	dataset, path, partition, labelColumn string
	clients, index                        int
	seed                                  uint64
	alpha, beta                           float64
	prefix                                string // of the flag names, for errors
}

func (d *dataFlags) register(fs *flag.FlagSet, prefix string) {
	d.prefix = prefix
	fs.StringVar(&d.dataset, prefix+"dataset", "", "dataset: synthetic, mnist or csv")
	fs.StringVar(&d.path, prefix+"data", defaultMNISTDir(), "MNIST directory, or CSV file for --"+prefix+"dataset csv")
	fs.StringVar(&d.labelColumn, prefix+"label-column", "label", "CSV label column")
	fs.StringVar(&d.partition, prefix+"partition", "iid", "partition of the training set: iid, shards[:S] or dirichlet:ALPHA")
	fs.IntVar(&d.clients, prefix+"clients", 10, "number of partitions (demo datasets)")
	fs.IntVar(&d.index, prefix+"index", 0, "this participant's partition index in [0, clients)")
	fs.Uint64Var(&d.seed, prefix+"data-seed", 1, "seed of the synthetic data and the partition")
	fs.Float64Var(&d.alpha, prefix+"alpha", 1, "Synthetic alpha")
	fs.Float64Var(&d.beta, prefix+"beta", 1, "Synthetic beta")
}

// local returns this participant's training data.
func (d *dataFlags) local() (*model.Dataset, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if d.index < 0 || d.index >= d.clients {
		return nil, usagef("--index %d outside [0, %d)", d.index, d.clients)
	}
	switch d.dataset {
	case "csv":
		return model.LoadCSV(d.path, d.labelColumn)
	case "synthetic":
		train, _, err := model.SyntheticFederated(d.alpha, d.beta, d.clients, d.seed)
		if err != nil {
			return nil, err
		}
		return train[d.index], nil
	case "mnist":
		train, _, err := model.LoadMNIST(d.path)
		if err != nil {
			return nil, err
		}
		parts, err := model.Partition(train.Y, d.clients, d.partition, d.seed)
		if err != nil {
			return nil, err
		}
		return train.Subset(parts[d.index]), nil
	case "":
		return nil, usagef("--dataset is required (synthetic, mnist or csv)")
	}
	return nil, usagef("unknown dataset %q (synthetic, mnist or csv)", d.dataset)
}

// heldOut returns the evaluation set, or nil when no dataset is named.
func (d *dataFlags) heldOut() (*model.Dataset, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	switch d.dataset {
	case "":
		return nil, nil
	case "csv":
		return model.LoadCSV(d.path, d.labelColumn)
	case "synthetic":
		_, test, err := model.SyntheticFederated(d.alpha, d.beta, d.clients, d.seed)
		return test, err
	case "mnist":
		_, test, err := model.LoadMNIST(d.path)
		return test, err
	}
	return nil, fmt.Errorf("unknown dataset %q (synthetic, mnist or csv)", d.dataset)
}

// check reports a bad number among the data flags as a usage error.
func (d *dataFlags) check() error {
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	switch {
	case d.clients < 1:
		return usagef("--%sclients must be at least 1, got %d", d.prefix, d.clients)
	case !finite(d.alpha) || d.alpha < 0 || !finite(d.beta) || d.beta < 0:
		return usagef("--%salpha and --%sbeta must be finite and >= 0, got %g and %g", d.prefix, d.prefix, d.alpha, d.beta)
	}
	return nil
}
