package main

import (
	"flag"
	"log/slog"

	"github.com/floe-fl/floe/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// metricsFlag adds --metrics-addr to fs.
func metricsFlag(fs *flag.FlagSet) *string {
	return fs.String("metrics-addr", "", "serve Prometheus metrics at http://HOST:PORT/metrics (README: Metrics); empty: none")
}

// startMetrics makes this process's registry and serves it on addr. With
// addr empty it returns a nil registry (no metrics) and a no-op stop.
func startMetrics(addr string, log *slog.Logger) (prometheus.Registerer, func(), error) {
	if addr == "" {
		return nil, func() {}, nil
	}
	reg := metrics.NewRegistry()
	srv, err := metrics.Serve(addr, reg)
	if err != nil {
		return nil, nil, err
	}
	log.Info("serving metrics", "url", "http://"+srv.Addr()+"/metrics")
	return reg, func() { srv.Close() }, nil
}
