//go:build !linux

package main

import "time"

// threadCPU reports -1: this platform's per-thread CPU clock is not read,
// so benchmarks that need it report wall time only.
func threadCPU() time.Duration { return -1 }
