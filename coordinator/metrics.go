package coordinator

import (
	"strconv"
	"time"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/metrics"
	"github.com/floe-fl/floe/round"
	"github.com/prometheus/client_golang/prometheus"
)

// Round phases timed by floe_round_phase_seconds.
const (
	phaseCollecting = "collecting" // the round open, until it closes
	phaseFolding    = "folding"    // fetch, open, validate, aggregate, store the model, evaluate
	phaseCommitting = "committing" // sign, store and journal the commitment
)

// serverMetrics are the coordinator's Prometheus metrics (see the README's
// Metrics section); a nil *serverMetrics records nothing.
type serverMetrics struct {
	rounds      *prometheus.CounterVec   // status
	phase       *prometheus.HistogramVec // phase
	submissions *prometheus.CounterVec   // status, reason
	updateBytes prometheus.Counter
	early       *prometheus.CounterVec // result
	journalSync prometheus.Histogram
	roundMetric *prometheus.GaugeVec // name
	round       prometheus.Gauge
}

func newServerMetrics(reg prometheus.Registerer) (*serverMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &serverMetrics{
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "floe_rounds_total",
			Help: "Rounds committed, by outcome (ok, failed)."}, []string{"status"}),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "floe_round_phase_seconds",
			Help: "Duration of round phases (collecting, folding, committing).", Buckets: metrics.PhaseBuckets}, []string{"phase"}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "floe_submissions_total",
			Help: "Submissions and stream-level rejections recorded in commitments, by status and reason."}, []string{"status", "reason"}),
		updateBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_update_bytes_total",
			Help: "Bytes of update blobs the coordinator fetched to fold (sealed size)."}),
		early: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "floe_early_fetch_total",
			Help: "Updates the coordinator fetched as they arrived (--early-fetch-mib), by result: spilled, used, failed, skipped, corrupt."}, []string{"result"}),
		journalSync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "floe_journal_sync_seconds",
			Help: "Latency of the journal's fsyncs.", Buckets: metrics.LatencyBuckets}),
		roundMetric: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "floe_round_metric",
			Help: "Evaluation metrics of the last committed round that has them, by name."}, []string{"name"}),
		round: prometheus.NewGauge(prometheus.GaugeOpts{Name: "floe_round",
			Help: "The last committed round (0 before the first)."}),
	}
	if err := metrics.Register(reg, m.rounds, m.phase, m.submissions, m.updateBytes, m.early, m.journalSync, m.roundMetric, m.round); err != nil {
		return nil, err
	}
	// Series that exist before the first round, so dashboards and alerts
	// see zeros instead of nothing.
	for _, st := range []ledger.Status{ledger.StatusOK, ledger.StatusFailed} {
		m.rounds.WithLabelValues(string(st))
	}
	for _, p := range []string{phaseCollecting, phaseFolding, phaseCommitting} {
		m.phase.WithLabelValues(p)
	}
	return m, nil
}

// phaseDone records a phase that lasted d.
func (m *serverMetrics) phaseDone(phase string, d time.Duration) {
	if m != nil {
		m.phase.WithLabelValues(phase).Observe(d.Seconds())
	}
}

// updateFetched counts the bytes of one update blob.
func (m *serverMetrics) updateFetched(n int) {
	if m != nil {
		m.updateBytes.Add(float64(n))
	}
}

// earlyFetch counts an early fetch's result (earlySpilled and the others).
func (m *serverMetrics) earlyFetch(result string) {
	if m != nil {
		m.early.WithLabelValues(result).Inc()
	}
}

// committed records a committed round: its outcome, its recorded
// submissions, its number and its evaluation metrics.
func (m *serverMetrics) committed(c *ledger.Commitment) {
	if m == nil {
		return
	}
	m.rounds.WithLabelValues(string(c.Status)).Inc()
	for _, s := range c.Submissions {
		m.submissions.WithLabelValues(string(s.Status), string(s.Reason)).Inc()
	}
	m.round.Set(float64(c.Round))
	if len(c.Metrics) > 0 {
		m.roundMetric.Reset()
		for _, mt := range c.Metrics {
			if v, err := strconv.ParseFloat(mt.Value, 64); err == nil {
				m.roundMetric.WithLabelValues(mt.Name).Set(v)
			}
		}
	}
}

// syncTimer times the journal file's fsyncs.
type syncTimer struct {
	appendFile
	h prometheus.Histogram
}

func (t syncTimer) Sync() error {
	start := time.Now()
	err := t.appendFile.Sync()
	t.h.Observe(time.Since(start).Seconds())
	return err
}

// timeSyncs makes j report the latency of its fsyncs to m.
func (m *serverMetrics) timeSyncs(j *Journal) {
	if m != nil {
		j.f = syncTimer{appendFile: j.f, h: m.journalSync}
	}
}

// trackPhaseLocked notes a change of the machine's phase seen by Run, and
// times the collecting phase on the configured clock.
func (s *Server) trackPhaseLocked() {
	p := s.m.Phase()
	if p == s.lastPhase && !s.phaseSince.IsZero() {
		return
	}
	now := s.cfg.Clock.Now()
	if s.lastPhase == round.PhaseCollecting && !s.phaseSince.IsZero() {
		s.metrics.phaseDone(phaseCollecting, now.Sub(s.phaseSince))
	}
	if p == round.PhaseCollecting {
		s.roundSince = now
	}
	s.lastPhase, s.phaseSince = p, now
}
