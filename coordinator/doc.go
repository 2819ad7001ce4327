// Package coordinator runs a floe job's training rounds.
//
// Core is the round state machine: no goroutines, clock, network or disk. It is
// fed Events and its state says what to do next. Server is the driver around it:
//  1. Open loads (or creates, with CreateJob) the signed job in the data
//     directory and replays the journal into a fresh Core.
//  2. Server serves /floe/round/1.0.0 (one Request, one Response per stream).
//     Every state-changing input (register, submit, reject) is journaled
//     (fsynced) before it is applied and before the reply is sent.
//  3. Run opens a round when enough participants registered (the cohort is
//     drawn from a seed derived from the previous commitment), closes it when
//     every cohort member submitted or the deadline (Config.Clock) passed, and
//     then aggregates with Fold, stores the model, the optimizer state and the
//     signed commitment as blobs, and journals the commit.
//  4. Killed at any point and reopened on the same data directory, a Server
//     resumes: accepted submissions are in the journal, a round closed but not
//     committed is folded again with the same inputs (its close time is in
//     the journal), and a committed round is never committed twice.
//
// Fold is the aggregation both the coordinator and auditors run: submissions in
// participant order, opened, hash-checked, validated (shape, finite, norm),
// aggregated by the job's rule; fewer valid updates than the quorum make a
// failed round whose model is unchanged.
//
// Journal format: records of uvarint(len) || CBOR(Event) || CRC-32C; a torn
// final record is dropped on open, damage before the end is ErrJournalCorrupt.
// The data directory also holds "job" (the job blob ID then the signed job
// record) and "hpke.key" (the coordinator's HPKE key, written by the CLI).
package coordinator
