// Package secagg is the cryptographic core of floe's secure aggregation
// (Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving
// Machine Learning", CCS 2017) with the sparse neighbour graph of SecAgg+
// (Bell et al., "Secure Single-Server Aggregation with (Poly)Logarithmic
// Overhead", CCS 2020): fixed-point encoding into Z_{2^k}, X25519 mask
// keys, pairwise and self masks, Shamir shares sent in encrypted envelopes,
// the neighbour graph and the unmasking of a sum with dropouts. It is pure
// and deterministic: randomness comes in as an io.Reader or a seed, and
// there is no networking, clock or goroutine.
//
// # Where it is used
//
// Package round runs the protocol (round/secagg.go: the steps as events of
// the round machine; round.SAMember: a member's side; the fold's
// unmasking), the coordinator relays the steps, and the audit replays the
// unmasking from the commitment. Signatures on the advertised keys, the
// share headers (with the Feldman commitments of SplitVerifiable), the
// survivor set and the reveals are package ledger's records.
//
// # What this package does not do yet
//
// The degree constant DegreeFactor is floe's choice, not derived from
// Bell et al.'s bounds for a stated corrupt and dropout fraction (see
// Neighbour graph). Key agreement is X25519 only (no post-quantum
// option). A dealer whose shares fail their commitment is detected by each
// holder privately (the envelope proves nothing to others), so it is not
// excluded by name; it fails a round only when fewer than t+1 of its
// holders got good shares.
//
// # Caller's contract
//
// Participants of a round are numbered 0..n-1 in the cohort's order.
// Domain{Job, Round} separates every key derived in that round.
//
//  1. Fix the Encoding at job validation: NewEncoding(cohort, maxWeight,
//     clip, fracBits) picks k = RingBits(...); Encoding.Validate(cohort)
//     checks a recorded one. Choose the degree (Degree(n, DegreeFactor))
//     and the threshold t (circl's convention: t shares reveal nothing,
//     t+1 recover; see Security).
//  2. Advertise keys: each participant draws two key pairs with NewKeyPair
//     (one to mask, one to encrypt envelopes) and a self-mask Secret with
//     NewSecret, and publishes both public keys. Everyone draws the
//     graph with NewGraph(domain, roundSeed, n, k) from the round's public
//     seed; an auditor redraws it.
//  3. Share keys: participant i calls Split (or SplitVerifiable, which
//     also returns the Feldman commitment every share can be checked
//     against: see vss.go) on its mask-key Secret
//     (KeyPair.Secret) and on its self-mask Secret with holders =
//     g.Neighbours(i) that advertised keys, and seals each neighbour's two
//     shares with Domain.SealShares for that neighbour's encryption key.
//     The coordinator relays envelopes by EnvelopeHeader and cannot read
//     them. The participants whose envelopes went out form U2; the
//     coordinator tells everyone U2.
//  4. Masked input: participant i encodes its update with
//     Encoding.Encode (a fresh secret rounding seed per update) and calls
//     Domain.Mask with its neighbours in U2 as peers (mask public keys),
//     then sends the vector. Those whose vectors arrive form U3.
//  5. Unmasking: each survivor in U3 opens its envelopes
//     (Domain.OpenShares) and reveals, as RevealedShare, the self-mask
//     share of each neighbour in U3 and the mask-key share of each
//     neighbour in U2 \ U3, never both for one owner. The coordinator
//     Recovers each Secret from t+1 shares of distinct holders (more are
//     checked for consistency).
//  6. The coordinator calls Domain.Unmask with the U3 vectors, the U3
//     self-mask Secrets, the U2 \ U3 mask-key Secrets and all mask public
//     keys, then Encoding.DecodeMean with count = |U3|. ErrWrapped means
//     the sum is not one honest inputs can produce. ExpandCount is the
//     number of mask vectors Unmask expands (its cost).
//  7. Record in the commitment what the protocol reveals anyway: public
//     keys, U2 and U3, the masked vectors' blob IDs, the recovered
//     Secrets; an auditor repeats steps 6 and gets the same sum.
//
// # Encoding
//
// With clip c, scale 2^f and weight w in [1, W], coordinate x becomes
// z = floor(t) or floor(t)+1, t = w*clip(x)*2^f, rounding up with
// probability t-floor(t) (a 53-bit uniform from AES-256-CTR keyed with
// SHA-256("floe/secagg/v1 rounding" 0x00 seed)), so E[z] = t within 2^-53.
// The vector is (z_1 .. z_d, w) mod 2^k. |z| <= B = ceil(W*c*2^f).
// RingBits returns the least k with n*max(B, W) <= 2^(k-1)-1: every sum of
// n encodings then decodes as a signed k-bit integer without wrapping.
// DecodeMean returns sum(z)/2^f/sum(w); each encoding errs by less than
// one unit, so the mean errs by less than n*2^-f/sum(w) (one update of
// weight w: less than 2^-f/w), besides clipping.
//
// # Keys, masks and PRG
//
// A Secret is a canonical 32-byte little-endian Ristretto255 scalar drawn
// from 64 random bytes (circl's HashToScalar). The X25519 private key of a
// key pair is HKDF-SHA256(Secret, info "floe/secagg/v1 x25519"), so
// sharing the Secret shares the key. Every other key is HKDF-SHA256 with
// no salt and info "floe/secagg/v1 " label 0x00 len(Job) (uint32 BE) Job
// Round (uint64 BE), then uint32 BE parts, then uint32-length-prefixed
// strings:
//
//   - pairwise mask of i < j: label "pair mask", parts i, j, strings
//     pk_i, pk_j, secret X25519(sk_i, pk_j) (circl's x25519.Shared, whose
//     weak-key result is checked: ErrWeakKey);
//   - self mask of i: label "self mask", part i, secret the self Secret;
//   - envelope i -> j: label "share envelope", parts i, j, secret X25519 of
//     the encryption keys;
//   - graph: label "graph", parts n, k, secret the round seed.
//
// A mask vector is the AES-256-CTR keystream (zero IV) of its key read as
// little-endian uint64 words, reduced mod 2^k. Participant i adds its self
// mask, adds the pair mask with each peer j > i and subtracts it for
// j < i, so pair masks cancel in the sum.
//
// # Shamir sharing
//
// Split evaluates a degree-t polynomial over the Ristretto255 scalar
// field (circl's math/polynomial) whose constant term is the Secret, at
// x = holder+1. Its coefficients come from the caller's reader, because
// circl's secretsharing.New draws Ristretto255 coefficients from
// crypto/rand whatever reader it is given; Recover uses circl's
// secretsharing.Recover (t+1 shares) and checks any further shares.
//
// # Formats
//
// Envelope (EnvelopeSize = 101 bytes): version 0x01, from (uint32 BE),
// to (uint32 BE), 12-byte nonce, AES-256-GCM ciphertext of
// MaskKey share (32) || SelfMask share (32) with its 16-byte tag. The AAD
// is the info string of label "share envelope aad" followed by the first 9
// bytes. RevealedShare (RevealedShareSize = 42 bytes): version 0x01, kind
// (1 mask key, 2 self mask), owner (uint32 BE), holder (uint32 BE), value
// (32, canonical scalar). Decoders accept only these exact forms.
//
// # Neighbour graph
//
// For n participants the degree is k = ceil(c*log2 n) rounded up to even,
// c = DegreeFactor = 3, or the complete graph when k >= n-1 (n <= 13 with
// c = 3). Bell et al. prove that a random graph of degree O(log n) keeps
// SecAgg's guarantees with high probability; their constant depends on
// the tolerated corrupt and dropout fractions and the security parameters,
// and c = 3 is floe's choice, not a value taken from the paper: it must be
// checked against their bounds before deployment. The sparse graph is a
// Harary graph H(k, n) on a seeded shuffle of the participants (see
// NewGraph), the construction Flower's SecAgg+ uses.
//
// # Security
//
// Assumptions: X25519 (CDH), HKDF-SHA256 and AES-256 as a PRF/PRG,
// AES-256-GCM as an AEAD; authenticated public keys (this package does not
// sign them: package ledger's records do); an honest-but-curious
// coordinator, or the paper's active variant with the signed adverts and
// survivor sets package round adds.
// With threshold t (t+1 shares recover) in a neighbourhood of size k:
//
//   - Honest-but-curious coordinator colluding with at most t
//     participants: no Secret of an honest participant is reconstructable,
//     and the coordinator learns only the sum of U3 (Bonawitz et al.).
//   - Correctness: every Secret needed must have t+1 surviving holders:
//     with the complete graph, at least t+1 survivors; at most k-t-1
//     dropouts among any participant's neighbours.
//   - Active coordinator (with the signed survivor set of package round,
//     the consistency check of the paper's active variant): it can
//     claim to some honest holders that u dropped and to others that u
//     survived, and so collect shares of both of u's Secrets; with n_C
//     corrupt participants it gets both only if 2(t+1) <= (n - n_C) +
//     2 n_C. Security therefore needs 2(t+1) > n + n_C (in a sparse
//     graph, n is the neighbourhood size k); for example t+1 > 2n/3
//     tolerates n_C < n/3. This bound is derived here by that counting
//     argument; check it against the paper's active-model theorem before
//     relying on it.
package secagg
