// Package job is floe's one way to define a training job: the YAML job file
// the coordinator reads, and the signed ledger.JobSpec built from it. The
// coordinator command and the simulator both build their jobs here, so both
// get the same defaults and the same checks.
//
// The caller's contract:
//  1. Start from Default() (Parse and Load do), set or read the fields, and
//     call Validate, which reports the first bad field and modifies nothing.
//  2. Call Spec with what only the running coordinator knows (its peer ID,
//     its HPKE key, the resolved model architecture, the storage committee).
//     Spec validates the Config, builds the JobSpec, and checks it with
//     CheckSpec before returning it: a job that fails is never signed.
//  3. Anyone holding a JobSpec (coordinator on resume, participants,
//     auditors) checks it with ledger.JobSpec.Validate, or with CheckSpec,
//     which adds what needs package aggregate: the rule description is
//     canonical and its parameters can be met by a round of quorum updates.
//
// Defaults (Default): privacy sealed, deadline 60s, aggregation fedavg,
// min_participants 1, update_lifetime "" (forever); quorum 0 means half the
// cohort, rounded up. Numbers that reach the signed record as decimal text
// (train.lr, train.mu, train.weight_decay, norm_bound) are written by package
// decimal in their shortest round-trip form; zero optional ones are omitted.
//
// Rule feasibility, for n = quorum (the fewest updates a round aggregates):
// krum and multikrum need n >= 2f+3 and multikrum needs m <= n; trimmedmean
// needs 2*floor(beta*n) < n.
package job
