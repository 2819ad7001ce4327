// Package coordinator runs a floe job's training rounds: the driver around
// the round rules of package round.
//
// Server drives a round.Machine:
//  1. Open loads (or creates, with CreateJob) the signed job in the data
//     directory and applies the journal to a fresh Machine. A data
//     directory whose job has committed rounds (its "head" file names one)
//     but whose journal is missing or empty is refused (ErrJournalLost):
//     starting over would commit those rounds again under new heads.
//  2. Server serves /floe/round/1.0.0 (one Request, one Response per stream).
//     Each input is stepped into the Machine, which refuses what does not
//     fit its state; what it takes is journaled (fsynced) before the reply
//     is sent.
//  3. Run ticks the Machine (it opens a round when enough participants
//     registered, drawing the cohort from a seed derived from the previous
//     commitment, and closes it when every cohort member submitted or the
//     deadline on Config.Clock passed), runs the fold the Machine asks for
//     (round.Fold), stores the model and the optimizer state, hands the
//     result back, signs and stores the commitment the Machine builds, and
//     journals the commit. After each commit it rewrites the data
//     directory's "head" file and Config.HeadFile.
//  4. Store errors in a fold or a commit are retried until ctx ends (an
//     update blob still unreadable after three tries is recorded as
//     missing), except one wrapping blob.ErrStopped (the store will not
//     serve again): Run returns it at once, and a Server restarted on the
//     data directory folds the round again.
//  5. A journal write or fsync that fails stops the server: the journal is
//     cut back to its last whole record, every request is answered with an
//     error and Run returns the error. Restarted on the same data directory,
//     a Server resumes from the journal with nothing acknowledged lost: a
//     round closed but not committed is folded again with the same inputs,
//     and a committed round is never committed twice.
//
// Journal format: records of uvarint(len) || CBOR(round.Event) || CRC-32C;
// a torn final record is dropped on open, damage before the end is
// ErrJournalCorrupt. The data directory also holds "job" (the job blob ID
// then the signed job record), "head" (the last committed head) and
// "hpke.key" (the coordinator's HPKE key, written by the CLI).
package coordinator
