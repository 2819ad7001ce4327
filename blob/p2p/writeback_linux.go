//go:build linux && (amd64 || arm64)

package p2p

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to start writing f's dirty pages in
// [off, off+n) to disk without waiting for them (sync_file_range with
// SYNC_FILE_RANGE_WRITE), so that the fsync before an ack has less left to
// flush. It is only a hint: errors are ignored, and the fsync that follows
// reports any failure to write.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 2
	sc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = sc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
	})
}
