//go:build linux

package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU returns the CPU time of the calling OS thread so far,
// clock_gettime(CLOCK_THREAD_CPUTIME_ID), or -1 where that clock is
// unavailable. (getrusage's RUSAGE_THREAD figure only advances at the
// scheduler's tick, too coarse for a step of a few microseconds.)
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return -1
	}
	return time.Duration(ts.Nano())
}
