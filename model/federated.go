package model

// SyntheticFederated returns Synthetic(alpha, beta) clients split as in the
// FedProx paper: each client keeps a seeded 80% of its examples for training,
// and the other 20% of every client together form the held-out test set.
func SyntheticFederated(alpha, beta float64, clients int, seed uint64) (train []*Dataset, test *Dataset, err error) {
	sets, err := Synthetic(alpha, beta, clients, seed)
	if err != nil {
		return nil, nil, err
	}
	held := make([]*Dataset, len(sets))
	for i, d := range sets {
		sets[i], held[i] = d.Split(0.8, seed+uint64(i))
	}
	return sets, Concat(held...), nil
}

// Concat returns the rows of ds, in order, as one dataset. The datasets must
// share D and Classes; Concat panics otherwise (a programming error).
func Concat(ds ...*Dataset) *Dataset {
	out := &Dataset{D: ds[0].D, Classes: ds[0].Classes}
	for _, d := range ds {
		if d.D != out.D || d.Classes != out.Classes {
			panic("model: Concat of datasets with different shapes")
		}
		out.X = append(out.X, d.X...)
		out.Y = append(out.Y, d.Y...)
		out.N += d.N
	}
	return out
}
