// Package mem is an in-memory blob.Store for tests: blobs live in a map,
// but their IDs and certificates are the real ones, so code under test sees
// exactly what it would get from floe's own committee (blob/p2p).
//
// Callers:
//
//  1. New(opts...) builds a store for a committee of WithCommitteeSize(n)
//     members (default 4) whose Ed25519 keys are drawn from WithSeed(seed)
//     (default 1), so equal options give equal certificates. WithClock
//     injects the clock that lifetimes are measured by (default clock.Real).
//  2. Put(ctx, data, lifetime) returns blob.ComputeID(data, n) and the CBOR
//     of a blob.Certificate acknowledged by all n members. A blob put again
//     keeps the longer of its lifetimes (0: forever), as storage nodes do.
//  3. Get returns a copy of the bytes until the blob's lifetime has passed
//     on the clock, and then an error wrapping blob.ErrNotEnoughSlivers, as
//     for a blob that was never stored.
//  4. VerifyCert checks certificates against Committee(), the store's
//     committee; blob.VerifyCert does the same for anyone holding it.
//
// A Store is safe for concurrent use. It copies data in and out, and drops
// expired blobs as it meets them. It passes blobtest.Run.
package mem
