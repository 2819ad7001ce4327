package sims

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/floe-fl/floe/coordinator"
	"github.com/floe-fl/floe/ledger"
)

// loop runs the coordinator in s.coord until the job is done and returns why it
// stopped: nil when the job is done, else the coordinator's, a
// participant's, a fault's (a *NodesLostError) or the context's error. It
// is the only goroutine that restarts the coordinator and moves the clock:
//   - a coordinator that crashed (its crashStore stopped) is reopened from
//     its data directory alone and run again;
//   - a round whose cohort is through short of its size jumps the clock by
//     the deadline. Nothing else moves the simulated clock, so it still
//     reads the round's start and the round closes at exactly its deadline.
//
// In a secagg job, a step that waits only for members that dropped out
// jumps the clock to the step's deadline (watchSecAgg). Storage nodes die,
// are wiped and corrupted, and partitions come and go, as each round opens
// (applyFaults, from the coordinator's store: commitStore); with a
// partition that cuts off participants, watchCohorts counts them out of
// each round they miss.
//
// The caller stops the run afterwards (stop), which ends the coordinator's
// Run if it still runs.
func (s *sim) loop() error {
	ctx := s.coord.ctx
	srvDone := make(chan error, 1) // one coordinator runs at a time
	stalled := make(chan uint64)
	run := func() {
		srv := s.srv
		s.coord.Go(func(ctx context.Context) { srvDone <- srv.Run(ctx) })
		if s.o.Privacy == ledger.PrivacySecAgg {
			s.coord.Go(func(ctx context.Context) { s.watchSecAgg(ctx, srv, stalled) })
		}
		if s.plan.partitionsParticipants() {
			s.coord.Go(func(ctx context.Context) { s.watchCohorts(ctx, srv) })
		}
	}
	run()
	for {
		select {
		case err := <-srvDone:
			var crash *crashError
			if !errors.As(err, &crash) {
				return err
			}
			s.crashes = append(s.crashes, fmt.Sprintf("round %d at %s", crash.Round, crash.Point))
			if err := s.reopenCoordinator(ctx); err != nil {
				return err
			}
			run()
		case <-s.committed:
		case err := <-s.errs:
			return err
		case <-s.short:
			s.clock.Advance(s.o.Deadline)
		case dl := <-stalled:
			if d := time.UnixMilli(int64(dl)).Sub(s.clock.Now()); d > 0 {
				s.clock.Advance(d)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watchSecAgg sends the deadline of each secagg step of srv that stalls
// (waits only for members that dropped out) to stalled, once per step.
func (s *sim) watchSecAgg(ctx context.Context, srv *coordinator.Server, stalled chan<- uint64) {
	var after uint64
	for {
		at, dl, err := srv.WaitSecAggStall(ctx, after, s.gone, s.poke)
		if err != nil {
			return
		}
		after = at
		select {
		case stalled <- dl:
		case <-ctx.Done():
			return
		}
	}
}
