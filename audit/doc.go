// Package audit replays a round-commitment chain and reports whether every
// model version is exactly what the recorded inputs and rule produce, naming
// the first round that does not hold and why.
//
// An auditor holds a chain head and a way to read blobs, and trusts neither
// the coordinator nor the storage nodes: every record's bytes are checked
// against the blob ID they were read as, and every model, state and update
// against the hash a signature covers.
//
// # Callers
//
//  1. Build a Config: Get reads blobs (p2p.Client.Get, blob.Store.Get
//     or any ledger.Getter), Head is the chain head. For a sealed job, Key and
//     Name (default "auditor") are the auditor's HPKE key and its recipient
//     name in the job; without them the audit still runs but cannot replay
//     aggregations, and says so. A secagg job needs no key: its records
//     hold what the unmasking needs. From > 1 replays from round From only.
//  2. Call Run(ctx, cfg). It walks from the head back to the job record, then
//     applies every round in order: State.Needs names the models and states
//     a round needs, Run reads them (at most Fetchers at a time) into an
//     Entry, and State.Apply checks the round and returns the next State
//     and the round's Row. Apply does no I/O but through Entry.Updates,
//     which its replay calls for the update blobs a few at a time ahead of
//     the fold (package prefetch), each with its submission's length limit:
//     an audit's memory is O(window x update), not O(cohort x update).
//  3. Read the Report: per-round rows (round, status, submissions, rule,
//     verdict, checks made and skipped with the reason) and a final Verdict:
//     "verified" (every check held), "incomplete" (none failed, some could
//     not be made) or "failed" with Failure, a *CheckError naming the round,
//     the check and the evidence (expected and found). Report.Err returns
//     nil only for "verified". WriteText prints the table and the verdict;
//     WriteJSON prints one JSON document. Run itself fails only when the
//     audit could not run (bad Config, ctx done).
//
// # Checks
//
// Round 0 is the job record: its bytes match its blob ID, its signature by
// the coordinator it names, a parseable rule, a known privacy mode and a
// committee. For each round r, in order:
//
//   - record: the record's bytes match its blob ID (blob.ComputeID on the
//     job's committee size), and it decodes canonically as a commitment;
//   - signature: the job's coordinator signed the record; link: round number
//     r (at most the job's rounds), the job ID, Prev = the previous record's
//     blob, time not running backwards; job: the round's rule is the job's;
//   - cohort: the seed is ledger.CohortSeed(job, r, prev), candidates are
//     sorted, distinct and at least the job's minimum, and the cohort is
//     ledger.DrawCohort of them;
//   - input: the input model is round r-1's output (the job's initial model
//     for r = 1), and its bytes match its hash;
//   - order: the submissions the aggregation saw (accepted, or rejected with
//     a reason round.Fold gives) come first, in strictly ascending
//     participant order, then the rejections made at receipt;
//   - the receipts are replayed through the coordinator's own rules: a
//     round.Machine resumed after round r-1 with the round's candidates
//     registered is fed every recorded receipt in its recorded order
//     (SubmissionRecord.Arrival), those before Commitment.Opened before the
//     round opens; submission: each aggregated submission is one the rules
//     accept (a valid participant signature, this job and round, a cohort
//     member, examples, declared size and metrics within bounds, a
//     certificate for the job's store); receipt: each rejection made at
//     receipt is the one the rules give at that point, and the positions
//     are distinct; the stream-level reasons (sender, malformed, oversized,
//     and in a secagg round a masked input the coordinator could not fetch
//     as signed) cannot be checked from a record and are noted;
//   - quorum: an ok round had at least max(quorum, 1) valid updates, a
//     failed one fewer (or a rule that could not run on them, whose reason
//     the replay recomputes), with the rules' reason text, its model and
//     aggregator state unchanged and no noise seed; shares: each accepted
//     update's share is round.Share of its examples;
//   - update: each aggregated update blob is readable, within its declared
//     size (a longer one is refused unread), and, through the replay,
//     matches its signed plaintext hash;
//   - replay: round.Fold run on the same job, round, input model,
//     aggregator state, noise seed and submissions gives every submission the
//     recorded fate and share and the recorded round status; then the
//     commitment round.Machine.Commitment builds from the replayed round is
//     compared with the record field by field; metrics: the participant
//     metrics are the example-weighted means of what the aggregated
//     submissions reported (round.WeightedMetrics);
//   - model: the output model's bytes match the committed hash and the
//     replayed model; state: likewise for the aggregator state;
//   - secagg (privacy "secagg"): the round's protocol is replayed through
//     the same machine with no key of the auditor's. After the round opens,
//     each step's exclusions and recorded messages are applied in protocol
//     order and the step ended: the key adverts; the share headers (the
//     record keeps no envelopes: the machine checks a stripped batch by its
//     signed count); the masked inputs, which are the receipts; the
//     signatures on the survivor set; the reveals; then the round closes.
//     Every recorded message must be one the rules take (its sender's
//     signature, the step, the protocol's form), or the audit names the
//     round and the member. round.Fold, given the secagg record the machine
//     rebuilt from those messages, recovers every secret from the signed
//     reveals, unmasks the sum one masked input at a time and applies it;
//     the commitment's SecAggRecord, recovered secrets included, and its
//     output model must be what that gives, bit for bit. A round that
//     failed in the protocol (a step short of members, secrets that cannot
//     be recovered) replays to the same reason.
//
// Without plaintext (a sealed job, and no key of a recipient) the update,
// replay, model and state checks are reported as skipped, with the reason;
// everything else is still checked. Evaluation metrics are not checked (the
// held-out set is not in the chain), and round times only for their order:
// the report says so.
//
// Limits: a commitment is trusted to list every submission that arrived
// (an omitted one leaves no trace in the chain); when a submission arrived
// ("late: round closed" for a submission of the round) is the coordinator's
// word; in a secagg round, so is when each step ended (a submission
// refused as not expected at its step, or late, is checked only for what
// does not depend on the step: sender, signature, job, round, duplicate,
// cohort), and so are the exclusions (ledger.SecAggExclusion: the refused
// message is not kept; the audit checks only that the step waited for the
// member and that the reason is one the rules exclude for); an update recorded as "update blob unavailable" is replayed as such
// (the report notes when the auditor could read it); a participant that wraps a different data key to
// the auditor than to the coordinator makes the replay disagree.
// Memory: every record of the chain (a few KB each) and one round's update
// blobs at a time (cohort x update size), plus the current model and state.
package audit
