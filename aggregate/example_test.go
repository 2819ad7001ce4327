package aggregate_test

import (
	"errors"
	"fmt"

	"github.com/floe-fl/floe/aggregate"
)

func Example() {
	spec := aggregate.Spec{Rule: "fedavg"}
	agg, err := aggregate.New(spec, 3)
	if err != nil {
		panic(err)
	}
	check := aggregate.Validator{Dim: 3, NormBound: 20}
	updates := []aggregate.Update{ // ascending participant order
		{Participant: "12D3KooWA", NumExamples: 1, Delta: []float32{1, 2, 3}},
		{Participant: "12D3KooWB", NumExamples: 3, Delta: []float32{5, 6, 7}},
		{Participant: "12D3KooWC", NumExamples: 9, Delta: []float32{100, 0, 0}},
	}
	for _, u := range updates {
		var re *aggregate.RejectError
		if _, err := check.Check(u.Delta); errors.As(err, &re) {
			fmt.Println("rejected", u.Participant, re.Reason)
			continue
		}
		if err := agg.Add(u); err != nil {
			panic(err)
		}
	}
	global := []float32{0, 0, 0}
	next := make([]float32, 3)
	if err := agg.Finish(global, next); err != nil {
		panic(err)
	}
	fmt.Println(spec.Canonical(), next)
	// Output:
	// rejected 12D3KooWC norm
	// fedavg(dp_clip=0,dp_noise_multiplier=0) [4 5 6]
}

func ExampleEpsilon() {
	// 1000 rounds, 1% of participants per round, noise multiplier 1.1.
	eps, order, err := aggregate.Epsilon(0.01, 1.1, 1000, 1e-5)
	if err != nil {
		panic(err)
	}
	fmt.Printf("epsilon %.3f at order %g\n", eps, order)
	// Output: epsilon 1.712 at order 9.6
}
