// Package participant is floe's edge agent.
//
// A participant:
//  1. connects to the coordinator over /floe/round/1.0.0, fetches and verifies
//     the signed job, and registers with its number of local examples;
//  2. long-polls for a task; for each task it fetches the round's input model
//     from the blob store and checks it against the task's hash;
//  3. trains locally (model.Trainer: built in, or an external program), writes
//     the delta (local minus global weights) as a safetensors update file;
//  4. seals the update to the job's recipients (privacy "sealed"), stores it as
//     a blob, and submits a signed submission with the blob's certificate;
//  5. repeats until the coordinator says the job is done; when the coordinator
//     is unreachable it reconnects with exponential backoff.
package participant
