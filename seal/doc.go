// Package seal encrypts participant updates to a job's recipients.
//
// An update is encrypted once under a fresh AES-128-GCM data key, and the data
// key is wrapped with HPKE (RFC 9180, base mode, X25519 / HKDF-SHA256 /
// AES-128-GCM, via cloudflare/circl) to every recipient of the job. The
// additional data binds job, round and participant, so a sealed update cannot
// be replayed into another round or under another name.
//
// Use:
//  1. Recipients create a key with GenerateKey and publish PublicKey in the job.
//  2. A participant calls Seal(update, recipients, AAD(job, round, peer)) and
//     stores the envelope as a blob.
//  3. A recipient calls Open(envelope, name, key, the same AAD).
//
// Envelope format (deterministic CBOR, integer keys): 1 version (1), 2 suite name,
// 3 AES-GCM nonce, 4 list of wrapped keys {1 recipient name, 2 HPKE enc, 3 wrapped
// data key}, 5 ciphertext with tag.
package seal
