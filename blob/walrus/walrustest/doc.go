// Package walrustest is an in-process Walrus publisher and aggregator on
// loopback HTTP, for tests and `floe sim --store walrus`. It answers the
// documented HTTP API:
//
//   - PUT /v1/blobs?epochs=N[&permanent=true|&deletable=true] with the body
//     as the blob: a JSON "newlyCreated" answer (blobObject with blobId,
//     size, storage.endEpoch) the first time, "alreadyCertified" (blobId,
//     event, endEpoch) when the blob is stored long enough already;
//     "markedInvalid" and "error" answers and HTTP 413 above its upload cap
//     (MaxUpload, default 10 MiB, like public publishers).
//   - GET /v1/blobs/{blobId}: the bytes, or 404 with an "error" answer.
//
// Its blob IDs are BlobID(data), a SHA-256 under a domain prefix, not
// Walrus's RedStuff IDs: clients must treat IDs as opaque, as floe does.
//
// Callers:
//
//  1. New() starts a server; URL is both the publisher and the aggregator.
//     Close stops it.
//  2. Faults, each for the next requests of its kind: FailPuts and FailGets
//     (an HTTP status with an "error" answer, e.g. 429 or 503), Drop (close
//     the connection without an answer), Slow (answer after a delay, or not
//     at all if the client goes away first), Lag (each newly certified blob
//     answers 404 to its first reads, as an aggregator behind a CDN right
//     after certification), AnswerNextPut ("markedInvalid" or "error" in a
//     200), and Corrupt (every read of the blob answers other bytes).
//  3. Puts, Gets and Len report what the server saw and holds;
//     AdvanceEpochs moves the network's epoch, expiring blobs.
//
// A Server is safe for concurrent use.
package walrustest
