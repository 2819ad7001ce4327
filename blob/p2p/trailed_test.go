package p2p

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/codec"
)

// TestStoreTrailed sends opStoreTrailed requests by hand: a node keeps and
// acknowledges a sliver whose trailer holds the blob's root and its proof,
// and refuses (keeping nothing, acknowledging nothing) a header that names
// a blob ID, root or proof, a trailer whose root or proof the bytes do not
// match, and a trailer whose proof has the wrong depth. The sliver it kept
// reads back, and a second, shorter-lived store does not shorten it.
func TestStoreTrailed(t *testing.T) {
	c := newCluster(t, 4)
	ctx := ctxT(t)
	x, err := blob.Encode(randBytes(61, 3<<20+17), 4)
	if err != nil {
		t.Fatal(err)
	}
	const i = 1
	send := func(req request, body []byte, tr *storeTrailer) storeReply {
		t.Helper()
		s, stop, err := c.client.openStream(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		if err := codec.WriteMsg(s, req); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(body); err != nil {
			t.Fatal(err)
		}
		if tr != nil {
			if err := codec.WriteMsg(s, *tr); err != nil {
				t.Fatal(err)
			}
		}
		_ = s.CloseWrite()
		var rep storeReply
		if err := codec.ReadMsg(s, replyLimit, &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	header := func() *storeHeader { return &storeHeader{Enc: x.Encoding, Length: x.Length, LifetimeMs: 60_000} }
	good := storeTrailer{Root: x.Root, Proof: x.Proofs[i]}
	badRoot := good
	badRoot.Root[0] ^= 1
	otherProof := storeTrailer{Root: x.Root, Proof: x.Proofs[i+1]}
	short := storeTrailer{Root: x.Root, Proof: x.Proofs[i][:len(x.Proofs[i])-1]}
	withID := request{Op: opStoreTrailed, ID: x.ID, Index: i, Store: header()}
	withProof := request{Op: opStoreTrailed, Index: i, Store: header()}
	withProof.Store.Proof = x.Proofs[i]
	flipped := bytes.Clone(x.Data[i])
	flipped[len(flipped)/3] ^= 1
	for _, tc := range []struct {
		name string
		req  request
		body []byte
		tr   *storeTrailer
		want string
	}{
		// Refused at the header: the node answers without reading further.
		{"ID in the header", withID, nil, nil, "blob ID, root or proof before the sliver"},
		{"proof in the header", withProof, nil, nil, "blob ID, root or proof before the sliver"},
		{"another root", request{Op: opStoreTrailed, Index: i, Store: header()}, x.Data[i], &badRoot, "does not match its proof"},
		{"another sliver's proof", request{Op: opStoreTrailed, Index: i, Store: header()}, x.Data[i], &otherProof, "does not match its proof"},
		{"altered bytes", request{Op: opStoreTrailed, Index: i, Store: header()}, flipped, &good, "does not match its proof"},
		{"short proof", request{Op: opStoreTrailed, Index: i, Store: header()}, x.Data[i], &short, "bad store trailer"},
	} {
		rep := send(tc.req, tc.body, tc.tr)
		if rep.Ack != nil || !strings.Contains(rep.Err, tc.want) {
			t.Fatalf("%s: reply %+v, want a refusal saying %q", tc.name, rep, tc.want)
		}
		if _, err := os.Stat(c.sliverFile(i, x.ID)); err == nil {
			t.Fatalf("%s: the node kept the sliver", tc.name)
		}
	}
	rep := send(request{Op: opStoreTrailed, Index: i, Store: header()}, x.Data[i], &good)
	if rep.Ack == nil {
		t.Fatalf("a good trailed store: %+v", rep)
	}
	if err := blob.VerifyAck(*rep.Ack, x.ID, 60_000, c.com.Members[i].ID); err != nil {
		t.Fatal(err)
	}
	f, meta, err := c.nodes[i].openSliver(x.ID, i)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if meta.Root != x.Root || meta.ExpiresAtMs != c.clock.Now().UnixMilli()+60_000 {
		t.Fatalf("kept header %+v", meta)
	}
	got, err := sliverContent(c.sliverFile(i, x.ID))
	if err != nil || !bytes.HasSuffix(got, x.Data[i]) {
		t.Fatalf("kept sliver differs (%v)", err)
	}
	short2 := header()
	short2.LifetimeMs = 1000
	if rep := send(request{Op: opStoreTrailed, Index: i, Store: short2}, x.Data[i], &good); rep.Ack == nil {
		t.Fatalf("a second store: %+v", rep)
	}
	if _, meta2, err := c.nodes[i].openSliver(x.ID, i); err != nil || meta2.ExpiresAtMs != meta.ExpiresAtMs {
		t.Fatalf("a shorter second store moved the expiry from %d to %d (%v)", meta.ExpiresAtMs, meta2.ExpiresAtMs, err)
	}
}
