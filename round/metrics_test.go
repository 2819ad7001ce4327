package round

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/floe-fl/floe/decimal"
	"github.com/floe-fl/floe/ledger"
)

// TestMetricsOf: a trainer's metrics as a submission carries them
// are sorted, finite, canonical, within their bounds, at most
// MaxSubmissionMetrics of them.
func TestMetricsOf(t *testing.T) {
	in := map[string]float64{
		"train_loss": 0.123456789, "accuracy": 0.5, "nan": math.NaN(), "inf": math.Inf(1),
		strings.Repeat("n", ledger.MaxMetricText+1): 1,
	}
	for i := 0; i < 20; i++ {
		in["m"+string(rune('a'+i))] = float64(i)
	}
	got := MetricsOf(in)
	if len(got) != ledger.MaxSubmissionMetrics {
		t.Fatalf("%d metrics, want %d", len(got), ledger.MaxSubmissionMetrics)
	}
	if !slices.IsSortedFunc(got, func(a, b ledger.Metric) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatalf("not sorted: %v", got)
	}
	for _, m := range got {
		if m.Name == "nan" || m.Name == "inf" || len(m.Name) > ledger.MaxMetricText {
			t.Fatalf("metric %q kept", m.Name)
		}
		if d, err := decimal.Parse(m.Value); err != nil || d.String() != m.Value || len(m.Value) > ledger.MaxMetricText {
			t.Fatalf("metric %s=%q is not a bounded canonical decimal (%v)", m.Name, m.Value, err)
		}
	}
	if got[0] != (ledger.Metric{Name: "accuracy", Value: "0.5"}) {
		t.Fatalf("first metric %v", got[0])
	}
	if v := MetricsOf(map[string]float64{"train_loss": 0.123456789}); v[0].Value != "0.123457" {
		t.Fatalf("6 significant digits: %q", v[0].Value)
	}
}
