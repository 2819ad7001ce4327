//go:build !(linux && (amd64 || arm64))

package p2p

import "os"

// startWriteback is a no-op here; see writeback_linux.go. The fsync before
// every ack keeps slivers durable either way.
func startWriteback(f *os.File, off, n int64) {}
