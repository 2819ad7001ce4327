package p2p

import (
	"bytes"
	"slices"
	"testing"

	"github.com/floe-fl/floe/blob"

	"github.com/floe-fl/floe/codec"
)

func FuzzSliverFile(f *testing.F) {
	x, _ := blob.Encode([]byte("hello sliver"), 4)
	var buf bytes.Buffer
	buf.WriteString(sliverMagic)
	codec.WriteMsg(&buf, sliverMeta{ID: x.ID, Index: 1, Enc: x.Encoding, Length: x.Length, Root: x.Root, Proof: x.Proofs[1]})
	buf.Write(x.Data[1])
	f.Add(buf.Bytes())
	f.Add([]byte(sliverMagic + "\x01\xa0"))
	// A trailed store's file: the header, padding, then the sliver bytes.
	var v2 bytes.Buffer
	v2.WriteString(sliverMagic2)
	codec.WriteMsg(&v2, sliverMeta{ID: x.ID, Index: 2, Enc: x.Encoding, Length: x.Length, Root: x.Root, Proof: x.Proofs[2]})
	v2.Write(make([]byte, trailedBodyOffset-v2.Len()))
	v2.Write(x.Data[2])
	f.Add(v2.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		meta, err := readSliverHeader(r)
		if err != nil {
			return
		}
		if _, err := checkHeader(meta.ID, meta.Index, meta.Enc, meta.Length, meta.Root, meta.Proof); err != nil {
			t.Fatalf("accepted header fails its check: %v", err)
		}
	})
}

func FuzzCertRecord(f *testing.F) {
	b, _ := codec.Marshal(certRecord{Cert: blob.Certificate{ID: blob.ID{9}, Acks: []blob.Ack{{Index: 1, Sig: []byte{1, 2}}}}, ExpiresAtMs: 5})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseCertRecord(b)
		if err != nil {
			return
		}
		if len(r.Cert.Acks) > blob.MaxCommittee {
			t.Fatal("oversized record accepted")
		}
	})
}

// FuzzWireMessages feeds bytes to every decoder of ProtoBlob messages, as a
// node (requests) and as a client (replies) reads them.
func FuzzWireMessages(f *testing.F) {
	x, _ := blob.Encode([]byte("wire"), 4)
	for _, v := range []any{
		request{Op: opStore, ID: x.ID, Index: 2, Store: &storeHeader{Enc: x.Encoding, Length: x.Length, Root: x.Root, Proof: x.Proofs[2], LifetimeMs: 10}},
		request{Op: opFetch, ID: x.ID, Index: 1},
		request{Op: opStoreTrailed, Index: 3, Store: &storeHeader{Enc: x.Encoding, Length: x.Length, LifetimeMs: 10}},
		storeTrailer{Root: x.Root, Proof: x.Proofs[3]},
		request{Op: opList, ID: x.ID, HasAfter: true},
		fetchHeader{Found: true, Enc: x.Encoding, Length: x.Length, Root: x.Root, Proof: x.Proofs[0]},
		storeReply{Ack: &blob.Ack{Index: 1, Sig: []byte{1}}},
		listReply{Entries: []listEntry{{Cert: blob.Certificate{ID: x.ID}}}, More: true},
	} {
		var buf bytes.Buffer
		codec.WriteMsg(&buf, v)
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req request
		if codec.ReadMsg(bytes.NewReader(b), requestLimit, &req) == nil && req.Store != nil {
			checkHeader(req.ID, req.Index, req.Store.Enc, req.Store.Length, req.Store.Root, req.Store.Proof)
		}
		var fh fetchHeader
		if codec.ReadMsg(bytes.NewReader(b), replyLimit, &fh) == nil {
			if size, err := checkHeader(x.ID, 0, fh.Enc, fh.Length, fh.Root, fh.Proof); err == nil && size != x.Encoding.SliverSize(x.Length) {
				t.Fatal("header of another blob accepted")
			}
		}
		var sr storeReply
		_ = codec.ReadMsg(bytes.NewReader(b), replyLimit, &sr)
		var tr storeTrailer
		if codec.ReadMsg(bytes.NewReader(b), requestLimit, &tr) == nil {
			// What a trailed store checks: the blob ID follows from the root.
			if _, err := checkHeader(blob.IDFor(x.Encoding, x.Length, tr.Root), 3, x.Encoding, x.Length, tr.Root, tr.Proof); err == nil && len(tr.Proof) != len(x.Proofs[3]) {
				t.Fatal("trailer with a proof of the wrong depth accepted")
			}
		}
		var lr listReply
		if codec.ReadMsg(bytes.NewReader(b), listLimit, &lr) == nil {
			_ = slices.Clone(lr.Entries)
		}
	})
}
