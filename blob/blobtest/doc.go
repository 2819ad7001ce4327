// Package blobtest is the conformance suite every blob.Store implementation
// runs, in the manner of gonum's blas/testblas.
//
// Callers:
//
//  1. In the implementation's tests, call Run(t, newStore), where newStore
//     returns a fresh, empty store (and registers its cleanup with t).
//  2. Run checks, each in its own subtest: put/get round trips of empty,
//     small and multi-stripe blobs; equal bytes get equal IDs; Get of an
//     unknown ID is an error; Get returns the caller's own copy and Put
//     does not keep the caller's slice; certificates verify for their blob
//     and not for another, nor when tampered with or truncated; bad
//     lifetimes and cancelled contexts are errors; concurrent puts and gets.
//  3. A store that also has Committee() blob.Committee (CommitteeStore) is
//     held to floe's own IDs: every ID is blob.ComputeID(data, n) and every
//     certificate passes blob.VerifyCert on that committee.
//
// Multi-stripe blobs are 4 MiB + 123 bytes: more than one
// blob.DecodeStripe per sliver on committees with fewer than 16 data
// shards.
package blobtest
