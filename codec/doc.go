// Package codec is floe's one encoding of structured bytes: deterministic
// CBOR for everything hashed, signed or sent, and varint-length-prefixed
// frames for messages on a stream. It imports no networking package, so
// ledger, audit and blob can share it with transport.
//
// Callers:
//
//  1. Encode with Marshal: RFC 8949 Core Deterministic Encoding, so equal
//     values always have equal bytes and hashes. Struct fields carry integer
//     keys (`cbor:"1,keyasint"`) that never change.
//  2. Decode with Unmarshal, which is strict: duplicate map keys, indefinite
//     lengths, unknown fields, invalid UTF-8, nesting deeper than 16 levels,
//     arrays above 1<<20 elements and maps above 1<<16 pairs are errors.
//     Callers that need canonical input re-encode and compare bytes.
//  3. On a stream, write one message with WriteMsg and read it with ReadMsg
//     and a size limit (MaxMessageSize by default). A length prefix above the
//     limit is an ErrMessageTooLarge error and nothing is allocated for the
//     body. ReadFrame returns the raw frame body instead. Neither reads past
//     the frame, so bulk bytes may follow a message on the same stream.
//
// Wire format: a frame is uvarint(len(body)) || body, where body is the
// deterministic CBOR of one message. A clean end of stream before the length
// is io.EOF.
package codec
