package sims

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// RoundsTo returns the number of rounds a run needs to reach a target test
// accuracy, as McMahan et al. (AISTATS 2017) count them: on the best-so-far
// accuracy, linearly interpolated between the two rounds around the
// crossing.
//
// accuracies[i] is the test accuracy after round i+1; a NaN (a round
// without an evaluation, such as a failed round) leaves the best so far
// unchanged. Let b(r) be the best accuracy of rounds 1..r and r* the first
// round with b(r*) >= target. Then:
//
//   - if no round before r* has an accuracy (r* = 1, say), the result is r*;
//   - otherwise b(r*-1) < target <= b(r*), and the result is
//     (r*-1) + (target - b(r*-1)) / (b(r*) - b(r*-1)), in (r*-1, r*].
//
// For example, best-so-far accuracies 0.95, 0.96, 0.975 reach 0.97 at
// 2 + (0.97-0.96)/(0.975-0.96) = 2.67 rounds. The bool is false, and the
// count 0, when no round reaches target or target is NaN.
func RoundsTo(accuracies []float64, target float64) (float64, bool) {
	if math.IsNaN(target) {
		return 0, false
	}
	best := math.Inf(-1) // b(r-1): the best before the round at hand
	for i, a := range accuracies {
		if math.IsNaN(a) || a <= best {
			continue
		}
		if a >= target {
			r := float64(i + 1)
			if math.IsInf(best, -1) {
				return r, true // no earlier accuracy to interpolate from
			}
			return r - 1 + (target-best)/(a-best), true
		}
		best = a
	}
	return 0, false
}

// ReadAccuracies reads a metrics.csv that floe sim wrote (columns found by
// name in the header) and returns its test accuracies by round: element
// i is round i+1's accuracy, NaN for a round that did not commit a model
// (status other than ok) or that the file leaves out. The rounds must
// increase from line to line. RoundsTo takes the result.
func ReadAccuracies(r io.Reader) ([]float64, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("sims: metrics: empty file")
	}
	if err != nil {
		return nil, fmt.Errorf("sims: metrics: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, h := range []string{"round", "status", "accuracy"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("sims: metrics: no %q column in the header", h)
		}
	}
	const roundsMax = 1 << 20
	var acc []float64
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return acc, nil
		}
		if err != nil {
			return nil, fmt.Errorf("sims: metrics: %w", err)
		}
		line, _ := cr.FieldPos(0)
		round, err := strconv.ParseUint(rec[col["round"]], 10, 64)
		if err != nil || round == 0 || round > roundsMax {
			return nil, fmt.Errorf("sims: metrics: line %d: round %q: want an integer from 1 to %d", line, rec[col["round"]], roundsMax)
		}
		if round <= uint64(len(acc)) {
			return nil, fmt.Errorf("sims: metrics: line %d: round %d after round %d", line, round, len(acc))
		}
		for uint64(len(acc)) < round-1 {
			acc = append(acc, math.NaN())
		}
		a := math.NaN()
		if rec[col["status"]] == "ok" {
			s := rec[col["accuracy"]]
			if a, err = strconv.ParseFloat(s, 64); err != nil || math.IsNaN(a) {
				return nil, fmt.Errorf("sims: metrics: line %d: accuracy %q: want a number", line, s)
			}
		}
		acc = append(acc, a)
	}
}
