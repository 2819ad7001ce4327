// Package sims runs a whole floe federation in one process, with the same
// code as the separate processes: storage nodes, a coordinator and
// participants on real libp2p hosts (TCP on loopback) or on go-libp2p's
// in-memory mocknet. Round deadlines run on a simulated clock in both: once
// every cohort member has submitted or dropped out, time jumps to the deadline.
//
// Use:
//  1. Fill Options (DefaultOptions gives the README's default simulation) and
//     call Run. Everything is derived from Options.Seed.
//  2. Run starts the storage nodes, creates the job, starts the coordinator and
//     the participants, and reports each committed round to OnRound.
//  3. It returns the chain head and per-round statistics. Under Options.Out it
//     leaves each storage node's key and data (nodes/I/key, nodes/I/data), the
//     committee file (committee), the chain head (head), the coordinator's
//     key and data (coordinator/) and, for sealed jobs, the HPKE key of the
//     job's auditor recipient (auditor.hpke). A run first clears these.
//  4. Faults: Options.Faults, a list of faults each with its schedule
//     (faults.go: dropouts at a phase, including each secagg step,
//     stragglers, storage nodes killed, wiped and repaired or corrupted,
//     coordinator crashes at named points, message loss, delay and
//     duplication, partitions that heal), and the older shorthands
//     Dropout, Crashes (the coordinator stops at a crash point and is
//     reopened from its data directory) and DeadNodes; Attackers mount
//     Attack (attacks.go). After a run, checks.go's checkers compare the
//     chain with what happened: the audit, the aggregate against a naive
//     reference of the rule, nothing acknowledged lost; RunWithClean also
//     runs the same seed without faults and reports its accuracy beside.
//  5. Store "walrus" keeps the job's blobs on Walrus instead: Run starts an
//     in-process Walrus publisher and aggregator (blob/walrus/walrustest,
//     closed on every way out of Run, after everything that uses it) unless
//     Publisher and Aggregator name one; the job says store walrus and has no
//     committee, there are no storage nodes (nor DeadNodes), the coordinator
//     and each participant use their own walrus.Store client, crashes are
//     injected by the same wrapper around the coordinator's, and the final
//     audit reads the chain from the aggregator through a fresh client.
//  6. Unless NoAudit, Run audits the finished chain from its head alone and
//     returns the report.
//
// Crashes are injected through the coordinator's blob store, its only I/O
// once a round has closed: with Crashes, the coordinator's store is a
// wrapper (crashStore) that follows a seeded plan of rounds and points. At
// "closed" the first Get or Put of the round fails, before anything of the
// round is stored; at "stored" the Put of the round's commitment record is
// done and then fails. Each failure is a crashError wrapping
// blob.ErrStopped, so the coordinator's Run returns it at once; the round
// loop recognises it, records "round R at POINT" in Result.Crashes and
// reopens the coordinator from its data directory alone. The coordinator's
// production Config has no simulation hook.
//
// Goroutines: Run starts one per participant (participant.Run) and one for
// the coordinator's Run loop (one at a time: a crashed coordinator's loop has
// returned before it is reopened), each owned by a group that cancels it and
// waits for it. Run's own goroutine runs the round loop (loop.go): it
// restarts the coordinator, kills storage nodes and moves the simulated
// clock. On every way out Run stops the coordinator's loop, closes the
// coordinator (answering the participants' long polls), waits for the
// participants, then closes the storage nodes and the network: no goroutine
// of a run outlives Run.
//
// Files: sims.go (Options, Result, Run), scenario.go (Scenario: Options
// as a strict YAML file, LoadScenario, ScenarioFrom), job.go (data sets, the job built
// through package job), nodes.go (network, storage nodes, committee),
// walrus.go (the Walrus server and clients of Store walrus),
// coordinator.go (the coordinator and its commit statistics),
// participants.go (participants, their dropouts and attacks), faults.go
// (the faults list and its plan), checks.go (the checkers), attacks.go
// (attacks), loop.go (the round loop), group.go (goroutine ownership).
//
// Secagg runs (Privacy "secagg") wait at every step for the members that
// did not drop out; when a step waits only for members that did, the loop
// moves the simulated clock to the step's deadline (watchSecAgg).
//
// With Net "memory" the run is reproducible bit for bit: keys, data, training,
// sealing randomness and the clock all come from the seed, and certificates
// wait for every storage node, so two runs with one seed give one chain head.
package sims
