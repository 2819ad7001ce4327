// Package round holds floe's round rules, once: the state machine the
// coordinator drives, the auditor replays and the simulator steps.
//
// Machine is pure: no goroutines, clock, network or disk. Its caller (a
// driver) follows etcd-io/raft's Ready/Advance shape:
//  1. Feed inputs: Step for what arrives from outside (EvRegister, EvSubmit,
//     EvReject, and EvCommit once the driver stored a commitment), Tick for
//     the time (opening and closing rounds), Folded for a fold's result.
//     Step validates first: a refused event changes nothing and is never
//     journaled.
//  2. Ask Ready for the work, and do it in order: persist Ready.Persist to
//     the journal (fsync), then send Ready.Replies, then run Ready.Fold (see
//     Fold) and hand back the result with Folded, then sign and store
//     Ready.Commit and Step an EvCommit naming its blob.
//  3. Call Advance with the Ready just handled.
//  4. After a restart, Apply every journaled event to a New machine: the
//     state is the same, and a round closed but not committed asks for the
//     same fold again (every input of the fold is in the journal).
//
// A refused journal write is fatal to the driver: the machine's state has
// moved and the event is not durable, so the driver stops and restarts from
// the journal.
//
// The commitment of a round is a pure function of the machine's state and
// the fold's result (Machine.Commitment). It records every receipt with its
// arrival position (SubmissionRecord.Arrival) and how many came before the
// round opened (Commitment.Opened), so an auditor replays the receipts
// through the same Machine: Resume after the previous round, Apply the
// receipts in arrival order around EvStartRound, EvClose at the recorded
// time, run Fold, and compare Commitment's result with the record field by
// field. Only the coordinator's word is taken as given: when the round
// opened and closed in the arrival order, stream-level rejections
// (malformed, oversized, sender), wall-clock times and metrics.
//
// Receipts that arrive after a round closed (late ones, or early ones for
// the next round) are recorded in the next round's commitment, before its
// Opened mark. At most MaxRejectsRecorded rejections are recorded a round;
// further ones are counted in DroppedRejects.
//
// In a job with privacy "secagg" a round runs the steps of secure
// aggregation (SAStep: keys, shares, masked input, survivor signatures,
// reveal) as events of the same machine (EvKeys, EvShares, EvSubmit for
// the masked inputs, EvSurvivorSig, EvReveal, EvStep when a step ends,
// EvExclude for a member that broke the protocol). SAMember is a member's
// side; the coordinator serves each member its SAView. The fold recovers
// the secrets from the signed reveals (checked against the dealers'
// Feldman commitments), sums the masked inputs one at a time and applies
// the unmasked weighted mean through the job's FedAvg-family rule; the
// commitment's SecAggRecord holds every accepted message, so an auditor
// replays the steps and the unmasking with no key.
//
// Request and Response are the round protocol's messages
// (/floe/round/1.0.0), one of each per stream, as deterministic CBOR.
//
// The transcript tests (testdata/transcripts/*.txt, run by TestTranscripts) drive a
// Machine in one goroutine on simulated time; rewrite them with
// `go test ./round -run Transcripts -rewrite`.
package round
