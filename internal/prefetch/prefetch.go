package prefetch

import (
	"context"
	"sync"

	"github.com/floe-fl/floe/blob"
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
// unknown): Window, or fewer so that the updates held ahead stay within
// Budget. Updates larger than Budget get none: each is fetched when the
// fold asks for it, so the fold holds one update at a time and its memory
// is the model's plus a constant, whatever the model's size. A window buys
// overlap, the next updates fetched and opened while this one is: at 25M
// parameters one update ahead folded a cohort of 20 in 7.7 s instead of
// 8.5 s (README), for one more update in memory.
func WindowFor(maxUpdate uint64) int { return WindowWithin(maxUpdate, Budget) }

// WindowWithin is WindowFor with budget bytes instead of Budget (0:
// Budget).
func WindowWithin(maxUpdate, budget uint64) int {
	if budget == 0 {
		budget = Budget
	}
	if maxUpdate == 0 {
		return Window
	}
	return int(min(Window, budget/maxUpdate))
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

	recycle bool

	mu      sync.Mutex // guards the following
	results []chan opened
	next    int      // the next submission to start
	free    [][]byte // with recycle: buffers of openings the fold is done with
	last    []byte   // with recycle: the opening the fold has now
}

// Option configures Openings.
type Option func(*Openings)

// Recycle makes Openings reuse the memory of openings: each fetch is
// offered (blob.WithBuffer) the buffer of an opening the fold is done
// with, which it is once it asks for the next (round.Opener). For an
// opener whose openings are its own to give (the coordinator's, which
// fetches each update for the fold alone): the fold then allocates no
// memory per update.
func Recycle() Option { return func(p *Openings) { p.recycle = true } }

// New starts fetching the first window submissions of subs.
func New(ctx context.Context, subs []ledger.SignedSubmission, open round.Opener, window int, opts ...Option) *Openings {
	p := &Openings{subs: subs, open: open, window: max(window, 0), results: make([]chan opened, len(subs))}
	for _, o := range opts {
		o(p)
	}
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
		ctx := p.ctx
		if k := len(p.free); k > 0 {
			ctx = blob.WithBuffer(ctx, p.free[k-1])
			p.free = p.free[:k-1]
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			b, reason, err := p.open(ctx, &p.subs[i])
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
	if p.recycle && cap(p.last) > 0 {
		p.free = append(p.free, p.last[:0])
	}
	p.last = nil
	p.startLocked(i + 1 + p.window)
	done := p.next == len(p.subs) // every fetch started: nothing more to recycle
	if done {
		p.free = nil
	}
	p.mu.Unlock()
	select {
	case r := <-p.results[i]:
		if p.recycle && !done {
			p.mu.Lock()
			p.last = r.plaintext
			p.mu.Unlock()
		}
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
