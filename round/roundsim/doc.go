// Package roundsim is a deterministic simulator of the round machine alone:
// a round.Machine, round.Fold and an in-memory blob store (blob/mem), in
// one goroutine, on simulated time, with participants' keys derived from
// their names. It drives the Machine exactly as coordinator.Server does
// (persist Ready's events to a journal, then reply; fold; store the
// commitment; step the commit), without a network, so tests script rounds
// event by event (round's transcript tests) and build real chains for the
// audit (audit's tests) in milliseconds.
//
// Callers:
//  1. New(Config) signs a job whose committee is the store's, stores its
//     initial model and job record, and starts the machine.
//  2. Register, Submit, Reject and Tick feed the machine; each returns what
//     the driver did (events persisted, replies sent, work made ready).
//  3. Fold runs the fold the machine asked for and hands the result back;
//     Commit signs and stores the commitment it built and steps the commit.
//     Crash loses the machine and rebuilds it from the journal.
//  4. Head, Store and JobBlob give an auditor what it needs to audit the
//     chain: audit.Run(ctx, audit.Config{Get: sim.Store().Get, Head: sim.Head()}).
package roundsim
