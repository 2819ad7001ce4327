// Package metrics holds what floe's processes share for Prometheus: a
// registry per process and the HTTP endpoint that serves it.
//
// Library packages (coordinator, participant, blob/p2p, transport) take a
// prometheus.Registerer in their Config or options and register their own
// collectors on it; nil means no metrics. None of them touches
// prometheus.DefaultRegisterer. A command:
//  1. makes one registry with NewRegistry (Go runtime and process
//     collectors included);
//  2. passes it to every component it starts (the libp2p host through
//     transport.HostConfig.Metrics, the blob client, the coordinator or
//     participant, the storage node);
//  3. serves it with Serve on the --metrics-addr address (GET /metrics, the
//     Prometheus text format) and closes the server when it stops.
//
// The metric names, their labels and their units are listed in the README
// (section "Metrics"); they follow Prometheus conventions: counters end in
// _total, durations are histograms in seconds, sizes are in bytes.
package metrics
