package coordinator

import "context"

// SmallTmpfs mounts a 64 KiB tmpfs for a test of package coordinator_test, or skips.
var SmallTmpfs = smallTmpfs

// WaitEarlyDone waits until s's early fetcher has nothing queued or in
// progress, or ctx ends.
func WaitEarlyDone(ctx context.Context, s *Server) error {
	e := s.early
	stop := context.AfterFunc(ctx, func() {
		e.mu.Lock()
		e.cv.Broadcast()
		e.mu.Unlock()
	})
	defer stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.queue) > 0 || e.busy > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		e.cv.Wait()
	}
	return nil
}
