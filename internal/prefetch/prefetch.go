package prefetch

import (
	"context"
	"sync"

	"github.com/floe-fl/floe/ledger"
	"github.com/floe-fl/floe/round"
)

// Window is how many submissions are fetched and opened ahead of the one
// being folded: the fold's memory is O(Window x update), not O(cohort x
// update), and fetching overlaps folding.
const Window = 4

// Budget bounds the bytes of updates held ahead of the fold: with updates
// of up to maxUpdate bytes, WindowFor fits the window to it.
const Budget = 64 << 20

// WindowFor returns the window for updates of up to maxUpdate bytes (0:
// unknown): Window, or fewer (at least 1) so that the updates held ahead
// stay within Budget: a model of 32 MB or more gets one update opened
// ahead, so the fold's memory grows with the model, not with the window.
func WindowFor(maxUpdate uint64) int {
	if maxUpdate == 0 {
		return Window
	}
	return int(max(1, min(Window, Budget/maxUpdate)))
}

// opened is one prefetched opening.
type opened struct {
	plaintext []byte
	reason    ledger.Reason
	err       error
}

// Openings runs an Opener on the submissions of a fold in order, up to
// window of them ahead of the one the fold asks for, each in its own
// goroutine. Its Open serves them in order. Close cancels what is still
// running and waits for it: the prefetcher owns its goroutines.
type Openings struct {
	subs   []ledger.SignedSubmission
	open   round.Opener
	window int
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards the following
	results []chan opened
	next    int // the next submission to start
}

// New starts fetching the first window submissions of subs.
func New(ctx context.Context, subs []ledger.SignedSubmission, open round.Opener, window int) *Openings {
	p := &Openings{subs: subs, open: open, window: max(window, 1), results: make([]chan opened, len(subs))}
	p.ctx, p.cancel = context.WithCancel(ctx)
	for i := range p.results {
		p.results[i] = make(chan opened, 1)
	}
	p.mu.Lock()
	p.startLocked(p.window)
	p.mu.Unlock()
	return p
}

// startLocked starts fetches until n are started ahead.
func (p *Openings) startLocked(upTo int) {
	for p.next < len(p.subs) && p.next < upTo {
		i := p.next
		p.next++
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			b, reason, err := p.open(p.ctx, &p.subs[i])
			p.results[i] <- opened{b, reason, err}
		}()
	}
}

// Open is the fold's Opener: it returns submission s's opening, fetched
// ahead, and starts the one window places further. The fold asks for the
// submissions of the slice the prefetcher was given (round.Fold passes
// pointers into FoldInput.Subs), in order; any other is opened directly.
func (p *Openings) Open(ctx context.Context, s *ledger.SignedSubmission) ([]byte, ledger.Reason, error) {
	i := -1
	for j := range p.subs {
		if &p.subs[j] == s {
			i = j
			break
		}
	}
	if i < 0 {
		return p.open(ctx, s)
	}
	p.mu.Lock()
	p.startLocked(i + 1 + p.window)
	p.mu.Unlock()
	select {
	case r := <-p.results[i]:
		return r.plaintext, r.reason, r.err
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

// Close cancels the fetches still running and waits for them.
func (p *Openings) Close() {
	p.cancel()
	p.wg.Wait()
}
