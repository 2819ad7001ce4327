package prefetch

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floe-fl/floe/ledger"
)

func prefetchSubs(n int) []ledger.SignedSubmission {
	subs := make([]ledger.SignedSubmission, n)
	for i := range subs {
		subs[i].Sub.Participant = fmt.Sprintf("p%03d", i)
	}
	return subs
}

// TestPrefetcherInOrderBounded: the prefetcher serves every opening in
// order, the same as opening one after another, with at most window+1
// openings running at once; Close joins them.
func TestPrefetcherInOrderBounded(t *testing.T) {
	subs := prefetchSubs(20)
	var running, peak atomic.Int64
	open := func(ctx context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer running.Add(-1)
		switch s.Sub.Participant {
		case "p003":
			return nil, ledger.ReasonBlobMissing, nil
		case "p007":
			return nil, "", errors.New("store stopped")
		}
		return []byte(s.Sub.Participant), "", nil
	}
	p := New(context.Background(), subs, open, 4)
	for i := range subs {
		b, reason, err := p.Open(context.Background(), &subs[i])
		want := subs[i].Sub.Participant
		switch {
		case want == "p003" && reason != ledger.ReasonBlobMissing:
			t.Fatalf("%s: reason %q", want, reason)
		case want == "p007" && err == nil:
			t.Fatalf("%s: no error", want)
		case want != "p003" && want != "p007" && (string(b) != want || err != nil || reason != ""):
			t.Fatalf("%s: got %q %q %v", want, b, reason, err)
		}
	}
	p.Close()
	if pk := peak.Load(); pk > 5 {
		t.Fatalf("%d openings ran at once, window 4", pk)
	}
	if running.Load() != 0 {
		t.Fatal("openings still running after Close")
	}
}

// TestPrefetcherClose: closing a prefetcher with openings still blocked
// cancels them and waits for them.
func TestPrefetcherClose(t *testing.T) {
	subs := prefetchSubs(8)
	var done atomic.Int64
	open := func(ctx context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		<-ctx.Done()
		done.Add(1)
		return nil, "", ctx.Err()
	}
	p := New(context.Background(), subs, open, 3)
	p.Close()
	if done.Load() != 3 {
		t.Fatalf("%d openings returned by Close, want the 3 started", done.Load())
	}
}

// BenchmarkFoldOpen compares opening a round's 20 submissions one after
// another with prefetching Window ahead, each opening taking 2 ms (a
// blob read's latency) and the fold 1 ms per update.
func BenchmarkFoldOpen(b *testing.B) {
	subs := prefetchSubs(20)
	open := func(ctx context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		time.Sleep(2 * time.Millisecond)
		return nil, "", nil
	}
	fold := func() { time.Sleep(time.Millisecond) }
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			for i := range subs {
				open(context.Background(), &subs[i])
				fold()
			}
		}
	})
	b.Run(fmt.Sprintf("prefetch=%d", Window), func(b *testing.B) {
		for b.Loop() {
			p := New(context.Background(), subs, open, Window)
			for i := range subs {
				p.Open(context.Background(), &subs[i])
				fold()
			}
			p.Close()
		}
	})
}

// TestWindowFor: the window shrinks with the update size so that the
// updates held ahead stay within Budget, and never below one.
func TestWindowFor(t *testing.T) {
	for _, tc := range []struct {
		max  uint64
		want int
	}{{0, Window}, {1 << 20, Window}, {Budget / 4, 4}, {Budget / 3, 3}, {Budget / 2, 2}, {Budget, 1}, {400 << 20, 1}} {
		if got := WindowFor(tc.max); got != tc.want {
			t.Errorf("WindowFor(%d) = %d, want %d", tc.max, got, tc.want)
		}
	}
}
