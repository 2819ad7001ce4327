// Package p2p is floe's own blob store committee over libp2p: storage nodes,
// the client that writes and reads blobs on them, repair, expiry and the
// wire protocol, and Store, the blob.Store adapter of a Client. Encoding,
// IDs, Merkle proofs and certificates are package blob's; this package moves
// slivers and signs acks. It works over any libp2p host (real or mocknet).
//
// # Callers
//
// Hosts may be real (transport.NewHost) or go-libp2p's mocknet; members need
// Ed25519 identities (mocknet.AddPeer with an Ed25519 key, not GenPeer's
// ECDSA), since acks are verified from the key inlined in the peer ID.
//
//  1. Storage nodes: NewNode(h, dir) serves transport.ProtoBlob on h. A
//     store verifies the sliver against the blob ID while streaming it to a
//     temporary file (on Linux starting the kernel's writeback every 4 MiB,
//     so little is left to flush at the end), fsyncs it, renames it into place, fsyncs the directory,
//     and only then signs an Ack: Ed25519 over "floe/blob-ack/v1" followed by
//     the deterministic CBOR of (ID, index, node peer ID, lifetime ms).
//     Memory per transfer is one 1 MiB buffer plus the transport's window.
//  2. Writers: NewClient(h, committee).Put(ctx, data) sends sliver i to
//     member i in parallel with per-node deadlines, hashing each sliver
//     while it sends it and sending the blob's root and the sliver's proof
//     after its bytes (opStoreTrailed) once every leaf is known, and
//     returns the ID and a
//     Certificate once n - f distinct members acked (WithWaitAll: once all
//     answered). For slivers of QuorumFirstMin bytes or more (without
//     WithWaitAll) the last f members' writes start only as others return,
//     so the n - f the put returns on do not share the client's bandwidth
//     with them; they finish in the background. Acks are sorted by index. The certificate is then pushed to
//     every member, so that nodes can list it for repair. PutFrom(ctx, r,
//     size) does the same for bytes read once from an io.ReaderAt (a file)
//     without holding them, and gives the same ID. Nodes accept both store
//     forms (opStore, with the commitment first, from older clients);
//     clients of this version need nodes that know opStoreTrailed.
//  3. Anyone holding a certificate checks it with blob.Certificate.Verify
//     or blob.VerifyCert; neither needs this package.
//  4. Readers: Get asks k members (data slivers first), and one more for
//     each that fails or stalls for the hedge delay (WithReadAll: all at
//     once); it verifies slivers as they arrive, decodes from the first k
//     valid ones (cancelling the rest), re-encodes and checks the root and
//     zero padding. When those k are the data slivers (a healthy
//     committee), the re-encoding runs stripe by stripe while they arrive,
//     so the check mostly overlaps the transfer. Asking k first instead of all n was measured: on a
//     loaded machine the n - k extra transfers cost more than half of a
//     read's CPU time. A blob whose slivers verify but
//     do not form the committed codeword gives blob.ErrInconsistentEncoding and
//     never data; fewer than k valid slivers give *NotEnoughSliversError.
//     GetTo(ctx, id, w) reads the same way into a ReadWriterAt (a file),
//     verifying and re-encoding stripe by stripe, without holding the blob.
//     Stat verifies every member's sliver and reports its state.
//  5. Repair: Node.Repair(ctx, committee) lists certificates held by the
//     other members, and rebuilds this node's missing slivers of certified
//     blobs from k others.
//  6. Expiry: Put with WithLifetime(d) asks nodes to drop the blob d after
//     storing it, by the node's Clock (WithClock injects one). Expired
//     slivers are never served; CollectGarbage (or WithGCInterval) deletes
//     them.
//  7. Store{Client: c} is c as a blob.Store (Put with a lifetime, Get,
//     VerifyCert on c's committee); it passes blobtest.Run on loopback hosts.
//
// # On-disk format
//
// A node's data directory holds:
//
//	slivers/<ID>.<index>  "FLOESLV1", a varint-length-prefixed CBOR header
//	                      {1: ID, 2: index, 3: encoding {1: version, 2: matrix,
//	                      3: n, 4: k, 5: hash}, 4: length, 5: root, 6: proof (sibling
//	                      hashes, leaf level first), 7: expiry in Unix ms or 0},
//	                      then the s sliver bytes. A sliver stored with
//	                      opStoreTrailed starts "FLOESLV2" with the same
//	                      header, zero-padded to 4096 bytes, then the s
//	                      sliver bytes (the header is written last).
//	certs/<ID>.cert       CBOR {1: certificate {1: ID, 2: lifetime ms,
//	                      3: acks [{1: index, 2: signature}]}, 2: expiry ms}.
//	tmp/                  partial writes; emptied when the node starts.
//
// Memory: a node streams every sliver through one 1 MiB buffer (plus the
// transport's stream window), whatever its size. Put and Get hold whole
// blobs: Put the n slivers (n/k times the blob, in a buffer recycled by
// later Puts once every write to the nodes finished), Get the blob plus
// n - k stripes of 256 KiB (its consistency check re-encodes stripe by
// stripe); so does Repair, for one blob. PutFrom and GetTo (floe blob put
// and get) hold O(n) stripes of blob.StreamStripe (256 KiB) bytes, plus
// the transport's stream windows, whatever the blob's size: PutFrom reads
// its io.ReaderAt once, encoding stripe by stripe, hashing every stripe as
// it is produced and sending stripe j of every sliver (feedDepth stripes
// queued per member), the commitment after the bytes; and
// GetTo writes verified sliver bytes at their offsets in its
// ReadWriterAt and re-encodes the parity stripe by stripe from what it
// wrote; parity slivers it needs instead of data slivers go to a temporary
// file. Measured (TestStreamMemoryBound, a client process alone putting
// and getting 128 MiB on n = 7): peak RSS about 52 MiB, of which 24 MiB
// before the put, and the same at 32 or 256 MiB.
//
// Every file is written to a temporary name, fsynced, renamed and its
// directory fsynced, so a node killed at any instant keeps every sliver it
// acknowledged.
//
// # Wire
//
// One request per transport.ProtoBlob stream: a varint-length-prefixed CBOR
// request {1: op, 2: ID, 3: index, 4: store header, 5: certificate, 6: has
// cursor}; a store is followed by the raw sliver bytes, a fetch reply by the
// raw sliver bytes. Ops: 1 store, 2 fetch, 3 push certificate, 4 list
// certificates (pages of 128 after a cursor ID), 5 trailed store: a
// request with no blob ID and a header with no root or proof, the raw
// sliver bytes, then a trailer {1: root, 2: proof}; the node derives the
// ID, checks the proof against the bytes it hashed, and answers as for 1.
package p2p
