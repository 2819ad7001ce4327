// Package walrus is a blob.Store on the Walrus network, through its HTTP
// publisher (writes) and aggregator (reads): the decentralised store floe's
// own committee (blob/p2p) imitates. A job whose JobSpec.Store is "walrus"
// keeps its blobs there instead of on floe's storage nodes.
//
// # IDs
//
// The 32-byte ID a Store returns is the Walrus blob ID of the bytes (or of
// their manifest, below), and its text form is Walrus's: URL-safe unpadded
// base64. An ID alone is therefore enough to read the blob from any
// aggregator of the network: whoever holds a floe chain can fetch every
// blob it names (records, models, updates, optimizer state) with
// `GET /v1/blobs/{ID}` and nothing else, from a store that never saw the
// puts. The alternative, floe's own SHA-256 as the ID with the Walrus blob
// ID kept beside it, fails that test: models and records are named in the
// chain by their ID only, and a reader holding a SHA-256 has no way to find
// the Walrus blob.
//
// # Integrity
//
// A Walrus blob ID is a hash over the blob's RedStuff encoding for the
// network's shard count: a client could check bytes against it only by
// re-encoding them as Walrus does, which this package does not do. So
// integrity does not rest on the publisher or the aggregator, nor on the
// ID, but on floe's own SHA-256 hashes:
//
//   - In the chain, beside every blob ID: JobSpec.InitialModelHash,
//     Commitment.InputModelHash, OutputModelHash and StateHash, and each
//     submission's UpdateHash (of the plaintext; sealed updates are also
//     AEAD-authenticated to their job, round and participant). Records are
//     signed by the coordinator and linked by Prev. Participants and the
//     audit check every blob they read against these, so an aggregator
//     returning other bytes makes a participant refuse the model and the
//     audit fail, naming the round.
//   - In the Store: Get checks a blob this Store put (it remembers the
//     SHA-256, length and form of its last 65536 puts) against that hash,
//     and a manifest's parts against the manifest's per-part and whole
//     hashes. Bytes failing a check are an error wrapping ErrCorrupt, never
//     data. A single-part blob this Store did not put has no hash the Store
//     knows: Get returns its bytes and the caller checks them against the
//     chain, as above.
//
// # Certificates
//
// A certificate is the canonical CBOR {1: version (1), 2: SHA-256 of the
// bytes (32 bytes), 3: length, 4: true when the ID names a manifest
// (omitted otherwise)}, at most 50 bytes. VerifyCert checks its form
// (canonical, known fields, version, hash length, size limit, a non-zero
// ID) and, for a blob this Store put, that it states that blob's hash,
// length and form. It does not guarantee what floe's committee certificates
// do: those carry Ed25519 acknowledgements of n - f storage nodes that each
// verified and persisted its sliver, checkable by anyone holding the
// committee. Proving that Walrus certified a blob (and until which epoch)
// needs the certification event on Sui, which an HTTP client cannot check;
// a Walrus certificate is the putter's claim about the bytes, and
// availability is shown only by reading them.
//
// # Manifests
//
// A blob longer than the part size (the publisher's upload cap, 10 MiB on
// public publishers; WithPartSize), an empty blob, and a blob whose bytes
// start with ManifestMagic are stored as parts of at most the part size,
// each its own Walrus blob, under a manifest blob whose Walrus blob ID is
// the ID. A manifest is ManifestMagic ("floe/walrus-manifest" and a zero
// byte) followed by the canonical CBOR {1: version (1), 2: total length,
// 3: SHA-256 of the whole blob, 4: part size, 5: [{1: part's Walrus blob
// ID, 2: part's SHA-256}, ...]}; every part but the last holds exactly the
// part size, and a one-part manifest's part size is the length. Equal bytes
// and part size give an equal manifest and so an equal ID.
//
// # Callers
//
//  1. New(publisher, aggregator, opts...) builds a Store on two base URLs
//     (which may be one daemon). WithEpochs sets the storage epochs a blob
//     kept forever is bought for (Walrus sells at most 53 ahead: "forever"
//     means that many); WithEpochDuration turns shorter lifetimes into
//     epochs. Blobs kept forever are stored permanent=true, others
//     deletable=true.
//  2. Put(ctx, data, lifetime) uploads with
//     `PUT {publisher}/v1/blobs?epochs=N` and reads the answer:
//     newlyCreated (blobObject.blobId) and alreadyCertified (blobId) give
//     the ID; markedInvalid is ErrInvalid; an "error" answer or another
//     status is an *HTTPError. PutFrom(ctx, r, size, lifetime) is Put
//     streamed from an io.ReaderAt (a file): one pass hashes the whole and
//     each part, then each part is sent straight from r, so memory is O(1)
//     whatever the size (blob.PutParts uses it: participants seal and send
//     their update without joining it).
//  3. Get(ctx, id) reads `GET {aggregator}/v1/blobs/{ID}`. A 404 is
//     ErrNotFound (which wraps blob.ErrNotEnoughSlivers), except within
//     WithReadGrace (default 30s) of this Store's own put of the blob,
//     when it is retried: a read right after certification may miss while
//     the blob propagates (or a CDN caches the miss). GetTo(ctx, id, w)
//     writes the blob into an io.WriterAt a checked part at a time: memory
//     one part, whatever the size (`floe blob get --store walrus`).
//  4. Every request is retried on HTTP 429, 5xx, a broken connection and a
//     try that outlasts WithAttemptTimeout, at most WithRetry's tries,
//     waiting first, 2*first, ... up to max between them (a Retry-After
//     header is honoured up to max). Waits go through WithSleep (or
//     WithClock), so tests do not wait; ctx ends every wait.
//
// A Store is safe for concurrent use and has no goroutines. It passes
// blobtest.Run against walrustest, the in-process publisher and aggregator.
package walrus
