package participant

import (
	"time"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/metrics"
	"github.com/floe-fl/floe/round"
	"github.com/prometheus/client_golang/prometheus"
)

// participantMetrics are a participant's Prometheus metrics (README:
// Metrics); a nil *participantMetrics records nothing.
type participantMetrics struct {
	submissions *prometheus.CounterVec // status, reason
	updateBytes prometheus.Counter
	train       prometheus.Histogram
	round       prometheus.Gauge
}

func newParticipantMetrics(reg prometheus.Registerer) (*participantMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &participantMetrics{
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "floe_submissions_total",
			Help: "This participant's submissions, by the coordinator's answer (accepted, rejected) and reason."}, []string{"status", "reason"}),
		updateBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_update_bytes_total",
			Help: "Bytes of update blobs this participant stored (sealed size)."}),
		train: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "floe_train_seconds",
			Help: "Time of local training, per round.", Buckets: metrics.PhaseBuckets}),
		round: prometheus.NewGauge(prometheus.GaugeOpts{Name: "floe_round",
			Help: "The last round this participant submitted to."}),
	}
	if err := metrics.Register(reg, m.submissions, m.updateBytes, m.train, m.round); err != nil {
		return nil, err
	}
	m.submissions.WithLabelValues(string(ledger.StatusAccepted), "")
	return m, nil
}

func (m *participantMetrics) trained(d time.Duration) {
	if m != nil {
		m.train.Observe(d.Seconds())
	}
}

func (m *participantMetrics) uploaded(n int) {
	if m != nil {
		m.updateBytes.Add(float64(n))
	}
}

func (m *participantMetrics) submitted(r uint64, resp *round.Response) {
	if m == nil {
		return
	}
	status := ledger.StatusAccepted
	if resp.Status != round.RespOK {
		status = ledger.StatusRejected
	}
	m.submissions.WithLabelValues(string(status), string(resp.Reason)).Inc()
	m.round.Set(float64(r))
}
