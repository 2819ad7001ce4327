package prefetch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floe-fl/floe/blob"
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
// updates held ahead stay within Budget; updates larger than Budget are
// not fetched ahead at all.
func TestWindowFor(t *testing.T) {
	for _, tc := range []struct {
		max  uint64
		want int
	}{{0, Window}, {1 << 20, Window}, {Budget / 4, 4}, {Budget / 3, 3}, {Budget / 2, 2}, {Budget, 1}, {Budget + 1, 0}, {400 << 20, 0}} {
		if got := WindowFor(tc.max); got != tc.want {
			t.Errorf("WindowFor(%d) = %d, want %d", tc.max, got, tc.want)
		}
	}
	for _, tc := range []struct {
		max, budget uint64
		want        int
	}{{100 << 20, 0, 0}, {100 << 20, 256 << 20, 2}, {100 << 20, 10 << 30, Window}, {0, 1, Window}, {2 << 20, 1 << 20, 0}} {
		if got := WindowWithin(tc.max, tc.budget); got != tc.want {
			t.Errorf("WindowWithin(%d, %d) = %d, want %d", tc.max, tc.budget, got, tc.want)
		}
	}
}

// TestPrefetcherWindowZero: with window 0 nothing is fetched ahead: each
// opening starts when the fold asks for it, one at a time.
func TestPrefetcherWindowZero(t *testing.T) {
	subs := prefetchSubs(6)
	var started atomic.Int64
	open := func(ctx context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
		started.Add(1)
		return []byte(s.Sub.Participant), "", nil
	}
	p := New(context.Background(), subs, open, 0)
	defer p.Close()
	if n := started.Load(); n != 0 {
		t.Fatalf("%d openings started before the fold asked", n)
	}
	for i := range subs {
		b, _, err := p.Open(context.Background(), &subs[i])
		if err != nil || string(b) != subs[i].Sub.Participant {
			t.Fatalf("opening %d: %q %v", i, b, err)
		}
		if n := started.Load(); n != int64(i+1) {
			t.Fatalf("after opening %d, %d started", i, n)
		}
	}
}

// TestPrefetcherRecycle: with Recycle, every fetch after the first
// window+1 is offered the buffer of an opening the fold is done with, and
// never one the fold still holds.
func TestPrefetcherRecycle(t *testing.T) {
	for _, window := range []int{0, 1, 3} {
		subs := prefetchSubs(12)
		var offered, fresh atomic.Int64
		var mu sync.Mutex
		held := map[*byte]bool{} // buffers the fold holds
		open := func(ctx context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
			buf := blob.TakeBuffer(ctx)
			if buf == nil {
				fresh.Add(1)
				buf = make([]byte, 0, 64)
			} else {
				offered.Add(1)
				mu.Lock()
				h := held[&buf[:1][0]]
				mu.Unlock()
				if h {
					t.Errorf("window %d: %s is offered a buffer the fold holds", window, s.Sub.Participant)
				}
			}
			return append(buf[:0], s.Sub.Participant...), "", nil
		}
		p := New(context.Background(), subs, open, window, Recycle())
		for i := range subs {
			b, _, err := p.Open(context.Background(), &subs[i])
			if err != nil || string(b) != subs[i].Sub.Participant {
				t.Fatalf("window %d, opening %d: %q %v", window, i, b, err)
			}
			mu.Lock()
			held[&b[:1][0]] = true
			mu.Unlock()
			if string(b) != subs[i].Sub.Participant {
				t.Fatalf("window %d: opening %d changed while held", window, i)
			}
			mu.Lock()
			delete(held, &b[:1][0])
			mu.Unlock()
		}
		p.Close()
		if f := fresh.Load(); f != int64(window+1) {
			t.Errorf("window %d: %d fresh buffers, want %d", window, f, window+1)
		}
		if o := offered.Load(); o != int64(len(subs)-window-1) {
			t.Errorf("window %d: %d recycled buffers, want %d", window, o, len(subs)-window-1)
		}
	}
}
