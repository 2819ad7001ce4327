// Package transport builds floe's libp2p hosts; package codec frames the
// messages they carry.
//
// Callers:
//
//  1. Load or create the process identity with LoadOrCreateKey (an Ed25519
//     key in libp2p's protobuf format, file mode 0600, reused on restart).
//  2. Start a host with NewHost: TCP and QUIC, TLS and Noise (TLS 1.3
//     preferred, DefaultSecurity; both offered), yamux, explicit
//     resource-manager limits (Limits: ProtoBlob streams get a generous memory
//     budget so yamux windows can grow) and a connection manager. Hosts from
//     elsewhere (such as go-libp2p's mocknet) work with every other package.
//  3. Publish FullAddrs(h): listen multiaddrs ending in /p2p/<peer ID>.
//  4. On a stream, exchange control messages with codec.WriteMsg and
//     codec.ReadMsg: varint-length-prefixed deterministic CBOR with a size
//     limit. Set a deadline before every read (SetDeadline) and, because some
//     transports ignore deadlines, also ResetOnDone with the call's context.
//  5. Stream bulk bytes raw after a header message, with CopyBuffer; call
//     CloseWrite before reading a reply and Close or Reset every stream.
//
// Protocol IDs are ProtoBlob, ProtoRound and ProtoChain.
//
// On-disk format: a key file holds crypto.MarshalPrivateKey of an Ed25519
// key, nothing else.
package transport
