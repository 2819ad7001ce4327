package round

import (
	"maps"
	"slices"
	"strconv"

	"github.com/floe-fl/floe/decimal"
	"github.com/floe-fl/floe/ledger"
)

// MetricsOf returns named figures (a trainer's or an evaluator's) as
// records carry them: finite values only, as canonical decimals of at most
// 6 significant digits, names of at most ledger.MaxMetricText bytes,
// sorted, the first ledger.MaxSubmissionMetrics of them.
func MetricsOf(m map[string]float64) []ledger.Metric {
	var out []ledger.Metric
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if name == "" || len(name) > ledger.MaxMetricText || len(out) == ledger.MaxSubmissionMetrics {
			continue
		}
		v, err := strconv.ParseFloat(strconv.FormatFloat(m[name], 'g', 6, 64), 64)
		if err != nil {
			continue
		}
		d, err := decimal.FromFloat(v)
		if err != nil || len(d.String()) > ledger.MaxMetricText {
			continue
		}
		out = append(out, ledger.Metric{Name: name, Value: d.String()})
	}
	return out
}
