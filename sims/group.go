package sims

import (
	"context"
	"sync"
)

// group owns goroutines: Go starts one on the group's context, stop cancels
// that context and waits until every one has returned. A goroutine of a
// group must return soon after its context ends.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newGroup(parent context.Context) *group {
	ctx, cancel := context.WithCancel(parent)
	return &group{ctx: ctx, cancel: cancel}
}

// Go runs f in a new goroutine of g.
func (g *group) Go(f func(ctx context.Context)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(g.ctx)
	}()
}

// stop cancels g's goroutines and waits for them. It may be called more
// than once.
func (g *group) stop() {
	g.cancel()
	g.wg.Wait()
}
