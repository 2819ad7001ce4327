package p2p

import (
	"errors"
	"time"

	"github.com/floe-fl/floe/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// nodeMetrics are a storage node's counters; a nil *nodeMetrics counts
// nothing.
type nodeMetrics struct {
	stored, served, repaired, invalid prometheus.Counter
}

// WithNodeMetrics registers the node's metrics on reg:
// floe_slivers_stored_total, floe_slivers_served_total,
// floe_slivers_repaired_total and floe_slivers_invalid_total.
func WithNodeMetrics(reg prometheus.Registerer) NodeOption {
	return func(o *nodeConfig) error {
		if reg == nil {
			return errors.New("blob: nil metrics registerer")
		}
		m := &nodeMetrics{
			stored: prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_slivers_stored_total",
				Help: "Slivers this storage node verified and stored durably for a client."}),
			served: prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_slivers_served_total",
				Help: "Slivers this storage node served whole to a reader."}),
			repaired: prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_slivers_repaired_total",
				Help: "Missing slivers this storage node rebuilt from the committee and stored."}),
			invalid: prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_slivers_invalid_total",
				Help: "Slivers sent to this storage node that did not match their proof (refused)."}),
		}
		if err := metrics.Register(reg, m.stored, m.served, m.repaired, m.invalid); err != nil {
			return err
		}
		o.metrics = m
		return nil
	}
}

func (m *nodeMetrics) sliverStored() {
	if m != nil {
		m.stored.Inc()
	}
}

func (m *nodeMetrics) sliverServed() {
	if m != nil {
		m.served.Inc()
	}
}

func (m *nodeMetrics) sliverRepaired() {
	if m != nil {
		m.repaired.Inc()
	}
}

func (m *nodeMetrics) sliverInvalid() {
	if m != nil {
		m.invalid.Inc()
	}
}

// clientMetrics are a blob client's latencies and byte counts; a nil
// *clientMetrics records nothing.
type clientMetrics struct {
	putSeconds, getSeconds prometheus.Histogram
	putBytes, getBytes     prometheus.Counter
	errors                 *prometheus.CounterVec
}

// WithClientMetrics registers the client's metrics on reg:
// floe_blob_put_seconds and floe_blob_get_seconds (histograms of successful
// operations), floe_blob_put_bytes_total and floe_blob_get_bytes_total
// (blob bytes, before erasure coding), and floe_blob_errors_total{op}.
func WithClientMetrics(reg prometheus.Registerer) ClientOption {
	return func(o *clientConfig) error {
		if reg == nil {
			return errors.New("blob: nil metrics registerer")
		}
		m := &clientMetrics{
			putSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "floe_blob_put_seconds",
				Help: "Time of successful blob puts, until the availability certificate.", Buckets: metrics.LatencyBuckets}),
			getSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "floe_blob_get_seconds",
				Help: "Time of successful blob gets, slivers verified and decoded.", Buckets: metrics.LatencyBuckets}),
			putBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_blob_put_bytes_total",
				Help: "Bytes of blobs stored (before erasure coding)."}),
			getBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "floe_blob_get_bytes_total",
				Help: "Bytes of blobs read (after decoding)."}),
			errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "floe_blob_errors_total",
				Help: "Blob puts and gets that failed, by operation."}, []string{"op"}),
		}
		if err := metrics.Register(reg, m.putSeconds, m.getSeconds, m.putBytes, m.getBytes, m.errors); err != nil {
			return err
		}
		o.metrics = m
		return nil
	}
}

// put records a put that started at start, of n bytes, ending with err.
func (m *clientMetrics) put(start time.Time, n int, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.errors.WithLabelValues("put").Inc()
		return
	}
	m.putSeconds.Observe(time.Since(start).Seconds())
	m.putBytes.Add(float64(n))
}

// get records a get that started at start, of n bytes, ending with err.
func (m *clientMetrics) get(start time.Time, n int, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.errors.WithLabelValues("get").Inc()
		return
	}
	m.getSeconds.Observe(time.Since(start).Seconds())
	m.getBytes.Add(float64(n))
}
