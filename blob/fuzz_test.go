package blob

import (
	"bytes"
	"slices"
	"testing"

	"github.com/floe-fl/floe/codec"
)

func FuzzParseID(f *testing.F) {
	f.Add("4mpn5NH2_l-8daCqViQfT2Ly9VOcOTw99wrov_tSTrY")
	f.Add("")
	f.Add("4mpn5NH2_l-8daCqViQfT2Ly9VOcOTw99wrov_tSTrZ")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q) round-trips to %q", s, id.String())
		}
	})
}

func FuzzParseCommittee(f *testing.F) {
	f.Add([]byte("# c\n/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWPWeh54RdUT92yFTG7FqtpPHeW8RthLRTNah8ByPj1RL6 # one\n\n/ip4/127.0.0.1/udp/4002/quic-v1/p2p/12D3KooWHNN3nnw3XGg5rHUuE2Sw4icX25C7gU6PGvYw1aDcZRPD\n"))
	f.Add([]byte("/ip4/1.2.3.4/tcp/1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommittee(b)
		if err != nil {
			return
		}
		back, err := ParseCommittee(c.Format())
		if err != nil {
			t.Fatalf("formatted committee does not parse: %v", err)
		}
		if back.N() != c.N() {
			t.Fatalf("round trip: %d members, want %d", back.N(), c.N())
		}
		for i := range c.Members {
			if back.Members[i].ID != c.Members[i].ID {
				t.Fatalf("member %d changed", i)
			}
		}
	})
}

func FuzzParseCertificate(f *testing.F) {
	c := Certificate{ID: ID{1, 2, 3}, LifetimeMs: 60000, Acks: []Ack{{Index: 0, Sig: bytes.Repeat([]byte{7}, 64)}, {Index: 2, Sig: []byte{1}}}}
	b, _ := c.Marshal()
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCertificate(b)
		if err != nil {
			return
		}
		m, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseCertificate(m)
		if err != nil {
			t.Fatalf("re-encoded certificate does not parse: %v", err)
		}
		m2, _ := c2.Marshal()
		if !bytes.Equal(m, m2) {
			t.Fatal("certificate encoding is not stable")
		}
	})
}

func FuzzSliverFile(f *testing.F) {
	x, _ := encode([]byte("hello sliver"), 4)
	var buf bytes.Buffer
	buf.WriteString(sliverMagic)
	codec.WriteMsg(&buf, sliverMeta{ID: x.id, Index: 1, Enc: x.enc, Length: x.length, Root: x.root, Proof: x.proofs[1]})
	buf.Write(x.slivers[1])
	f.Add(buf.Bytes())
	f.Add([]byte(sliverMagic + "\x01\xa0"))
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
	b, _ := codec.Marshal(certRecord{Cert: Certificate{ID: ID{9}, Acks: []Ack{{Index: 1, Sig: []byte{1, 2}}}}, ExpiresAtMs: 5})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseCertRecord(b)
		if err != nil {
			return
		}
		if len(r.Cert.Acks) > MaxCommittee {
			t.Fatal("oversized record accepted")
		}
	})
}

// FuzzWireMessages feeds bytes to every decoder of ProtoBlob messages, as a
// node (requests) and as a client (replies) reads them.
func FuzzWireMessages(f *testing.F) {
	x, _ := encode([]byte("wire"), 4)
	for _, v := range []any{
		request{Op: opStore, ID: x.id, Index: 2, Store: &storeHeader{Enc: x.enc, Length: x.length, Root: x.root, Proof: x.proofs[2], LifetimeMs: 10}},
		request{Op: opFetch, ID: x.id, Index: 1},
		request{Op: opList, ID: x.id, HasAfter: true},
		fetchHeader{Found: true, Enc: x.enc, Length: x.length, Root: x.root, Proof: x.proofs[0]},
		storeReply{Ack: &Ack{Index: 1, Sig: []byte{1}}},
		listReply{Entries: []listEntry{{Cert: Certificate{ID: x.id}}}, More: true},
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
			if size, err := checkHeader(x.id, 0, fh.Enc, fh.Length, fh.Root, fh.Proof); err == nil && size != x.enc.SliverSize(x.length) {
				t.Fatal("header of another blob accepted")
			}
		}
		var sr storeReply
		_ = codec.ReadMsg(bytes.NewReader(b), replyLimit, &sr)
		var lr listReply
		if codec.ReadMsg(bytes.NewReader(b), listLimit, &lr) == nil {
			_ = slices.Clone(lr.Entries)
		}
	})
}
