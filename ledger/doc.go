// Package ledger defines floe's signed records and the hash-linked chain they form.
//
// Records are deterministic CBOR (RFC 8949 Core Deterministic Encoding) with integer
// keys that never change; they hold no floats (decimals travel as text, models by
// hash). Every signature is Ed25519 by a libp2p identity over
// "domain\x00" || CBOR(record without signature), with domains
// "floe/job/v1", "floe/commitment/v1" and "floe/submission/v1".
//
// Keys: records are signed through a Signer (libp2p's crypto.PrivKey is one)
// and name their signers by Ed25519 peer ID text. ParsePeerID reads the key
// out of that text without libp2p: base58btc of the identity multihash
// 0x00 0x24 of the protobuf PublicKey {Type: Ed25519, Data: 32 bytes}, that
// is 0x00 0x24 0x08 0x01 0x12 0x20 || key. Any other signer name (RSA,
// secp256k1, hashed or CID-form peer IDs) fails with ErrSignature. The
// package imports no networking code; deps_test.go keeps it so.
//
// Stored form: a record blob is one kind byte ('J' for a SignedJob, 'C' for a
// SignedCommitment) followed by the record's CBOR. Decode accepts only the
// canonical byte form.
//
// The chain:
//  1. The coordinator signs a JobSpec; its ID is SHA-256 of the domain-prefixed
//     unsigned JobSpec. The signed job is stored as a blob.
//  2. Round r's Commitment names the job ID, r, and in Prev the blob ID of the
//     record before it (the job blob for round 1). It is signed and stored as a blob.
//  3. The chain head is the blob ID of the latest record. Walk follows Prev links
//     back to the job and checks the links and signatures.
//  4. Round r's cohort is DrawCohort(CohortSeed(job, r, prev), candidates, size),
//     which anyone holding the chain recomputes.
//  5. Model version 0 is the job's initial model; version r is round r's output
//     (a failed round outputs its input unchanged).
package ledger
