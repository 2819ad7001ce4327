package main

import (
	"context"
	"log/slog"
	"time"
)

// doneLinger is how long a coordinator whose job is finished keeps serving
// before it exits, answering every registration and task poll with "done".
// Participants back off at most 5 s between attempts (participant.Run), so
// one that was retrying when the last round committed reaches the coordinator
// within this window, learns that the job is over and exits instead of
// retrying a coordinator that is gone.
const doneLinger = 12 * time.Second

// lingerDone waits doneLinger, or until ctx ends.
func lingerDone(ctx context.Context, log *slog.Logger) {
	log.Info("job done; answering participants for a while before exiting", "seconds", doneLinger.Seconds())
	t := time.NewTimer(doneLinger)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
