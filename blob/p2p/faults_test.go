package p2p

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/klauspost/reedsolomon"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/transport"
	"github.com/libp2p/go-libp2p/core/network"
)

// sliverFile returns the path of node i's sliver file for id.
func (c *cluster) sliverFile(i int, id blob.ID) string {
	return filepath.Join(c.dirs[i], "slivers", fmt.Sprintf("%s.%d", id, i))
}

// bodyOffset returns where the sliver bytes start in a sliver file.
func bodyOffset(t *testing.T, path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := readSliverHeader(f); err != nil {
		t.Fatal(err)
	}
	off, _ := f.Seek(0, 1)
	// readSliverHeader reads the frame byte by byte, so the offset is exact.
	return off
}

func TestFaultsDownBeforeWrite(t *testing.T) {
	for _, n := range []int{4, 7, 10} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			c := newCluster(t, n)
			f := c.com.F()
			for i := range f {
				c.stop(n - 1 - i) // the last f members are down
			}
			data := randBytes(11, 50_000)
			ctx := ctxT(t)
			id, cert, err := c.client.Put(ctx, data)
			if err != nil {
				t.Fatalf("put with %d of %d down: %v", f, n, err)
			}
			if err := cert.Verify(c.com); err != nil {
				t.Fatal(err)
			}
			if len(cert.Acks) != n-f {
				t.Fatalf("certificate has %d acks, want %d", len(cert.Acks), n-f)
			}
			got, err := c.client.Get(ctx, id)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get: %v", err)
			}
		})
	}
}

func TestFaultsDownAfterWrite(t *testing.T) {
	for _, n := range []int{4, 7, 10} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			c := newCluster(t, n)
			data := randBytes(12, 40_000)
			ctx := ctxT(t)
			id, _, err := c.client.Put(ctx, data, WithWaitAll())
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.com.F() {
				c.stop(2 * i) // spread the failures over data and parity slivers
			}
			got, err := c.client.Get(ctx, id)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get with f=%d down: %v", c.com.F(), err)
			}
		})
	}
}

func TestFaultsCorruptAndWrongSlivers(t *testing.T) {
	for _, n := range []int{4, 7, 10} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			c := newCluster(t, n)
			ctx := ctxT(t)
			data := randBytes(13, 30_001)
			id, _, err := c.client.Put(ctx, data, WithWaitAll())
			if err != nil {
				t.Fatal(err)
			}
			f := c.com.F()
			var bad []int
			for j := range f {
				i := j // data slivers first: reads must use parity instead
				bad = append(bad, i)
				p := c.sliverFile(i, id)
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				off := bodyOffset(t, p)
				if j%2 == 0 {
					b[off+int64(len(b[off:])/2)] ^= 0x40 // corrupted byte
				} else {
					// wrong sliver: another member's bytes under a valid header
					other, err := os.ReadFile(c.sliverFile(n-1, id))
					if err != nil {
						t.Fatal(err)
					}
					copy(b[off:], other[bodyOffset(t, c.sliverFile(n-1, id)):])
				}
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, rep, err := c.client.GetWithReport(ctx, id)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get with %d bad slivers: %v", f, err)
			}
			for _, i := range rep.Bad() {
				if !slices.Contains(bad, i) {
					t.Fatalf("read reported good sliver %d as bad", i)
				}
			}
			st, err := c.client.Stat(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var invalid []int
			for _, s := range st {
				switch {
				case s.State == SliverInvalid:
					invalid = append(invalid, s.Index)
				case s.State != SliverValid:
					t.Fatalf("stat: node %d %v: %s", s.Index, s.State, s.Err)
				}
			}
			if !slices.Equal(invalid, bad) {
				t.Fatalf("stat reports invalid %v, want %v", invalid, bad)
			}
		})
	}
}

func TestFaultsTooManyDown(t *testing.T) {
	for _, n := range []int{4, 7, 10} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			c := newCluster(t, n)
			ctx := ctxT(t)
			data := randBytes(14, 10_000)
			id, _, err := c.client.Put(ctx, data, WithWaitAll())
			if err != nil {
				t.Fatal(err)
			}
			down := n - c.com.K() + 1 // leaves k-1 alive
			for i := range down {
				c.stop(i)
			}
			got, err := c.client.Get(ctx, id)
			var ne *NotEnoughSliversError
			if !errors.As(err, &ne) || !errors.Is(err, blob.ErrNotEnoughSlivers) || got != nil {
				t.Fatalf("get with %d of %d down: data %d bytes, err %v", down, n, len(got), err)
			}
			if ne.Valid != c.com.K()-1 || ne.Need != c.com.K() {
				t.Fatalf("error counts valid=%d need=%d, want %d and %d", ne.Valid, ne.Need, c.com.K()-1, c.com.K())
			}
			want := fmt.Sprintf("blob: found %d valid slivers of %d needed", c.com.K()-1, c.com.K())
			if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error text %q, want prefix %q on one line", err, want)
			}
			// A put with more than f down cannot certify.
			_, _, err = c.client.Put(ctx, data)
			var pe *PutError
			if !errors.As(err, &pe) || pe.Acks != c.com.K()-1 || pe.Need != n-c.com.F() {
				t.Fatalf("put with %d down: %v", down, err)
			}
		})
	}
}

func TestRepairWipedNode(t *testing.T) {
	c := newCluster(t, 7)
	ctx := ctxT(t)
	var ids []blob.ID
	var blobs [][]byte
	for i := range 3 {
		data := randBytes(uint64(20+i), 20_000*(i+1))
		id, _, err := c.client.Put(ctx, data, WithWaitAll())
		if err != nil {
			t.Fatal(err)
		}
		ids, blobs = append(ids, id), append(blobs, data)
	}
	// Node 1 loses its disk.
	c.stop(1)
	if err := os.RemoveAll(c.dirs[1]); err != nil {
		t.Fatal(err)
	}
	c.start(1)
	for _, id := range ids {
		if c.nodes[1].Has(id, 1) {
			t.Fatal("wiped node still has a sliver")
		}
	}
	rep, err := c.nodes[1].RepairWithReport(ctx, c.com)
	if err != nil || len(rep.Failed) > 0 {
		t.Fatalf("repair: %v %v", err, rep.Failed)
	}
	if rep.Certified != 3 || len(rep.Repaired) != 3 {
		t.Fatalf("repair report %+v, want 3 certified and repaired", rep)
	}
	for _, id := range ids {
		st, err := c.client.Stat(ctx, id)
		if err != nil || st[1].State != SliverValid {
			t.Fatalf("after repair node 1: %+v %v", st[1], err)
		}
	}
	// Now lose two other members (f = 2): node 1's rebuilt sliver is needed.
	c.stop(0)
	c.stop(2)
	for i, id := range ids {
		got, err := c.client.Get(ctx, id)
		if err != nil || !bytes.Equal(got, blobs[i]) {
			t.Fatalf("blob %d after repair: %v", i, err)
		}
	}
	// A second repair, with f members down, finds nothing to do.
	rep, err = c.nodes[1].RepairWithReport(ctx, c.com)
	if err != nil || rep.Held != 3 || len(rep.Repaired) != 0 || len(rep.Failed) != 0 {
		t.Fatalf("second repair: %+v %v", rep, err)
	}
}

// TestInconsistentEncoding stores slivers that each verify against the blob
// ID but are not one Reed-Solomon codeword: reads must refuse them.
func TestInconsistentEncoding(t *testing.T) {
	c := newCluster(t, 4)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name  string
		build func() *blob.Slivers
	}{
		{"random slivers", func() *blob.Slivers {
			e, _ := blob.EncodingFor(4)
			length := uint64(2000)
			sl := make([][]byte, 4)
			for i := range sl {
				sl[i] = randBytes(uint64(100+i), int(e.SliverSize(length)))
			}
			return blob.Commit(e, length, sl)
		}},
		{"random slivers over several stripes", func() *blob.Slivers {
			e, _ := blob.EncodingFor(4)
			length := uint64(2 * (2*blob.DecodeStripe + 5))
			sl := make([][]byte, 4)
			for i := range sl {
				sl[i] = randBytes(uint64(200+i), int(e.SliverSize(length)))
			}
			return blob.Commit(e, length, sl)
		}},
		{"nonzero padding", func() *blob.Slivers {
			x, _ := blob.Encode(randBytes(5, 1999), 4)
			// Flip a padding byte of the last data shard and recompute parity:
			// a valid codeword of data that is not zero-padded.
			x.Data[1][len(x.Data[1])-1] = 7
			rs, _ := reedsolomon.New(int(x.Encoding.K), int(x.Encoding.N-x.Encoding.K))
			rs.Encode(x.Data)
			return blob.Commit(x.Encoding, x.Length, x.Data)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := tc.build()
			for i := range 4 {
				if _, err := c.client.storeSliver(ctx, x, i, 0); err != nil {
					t.Fatalf("node %d refused a sliver with a valid proof: %v", i, err)
				}
			}
			got, err := c.client.Get(ctx, x.ID)
			if !errors.Is(err, blob.ErrInconsistentEncoding) || got != nil {
				t.Fatalf("get: %d bytes, err %v; want ErrInconsistentEncoding", len(got), err)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	c := newCluster(t, 4)
	ctx := ctxT(t)
	keep, _, err := c.client.Put(ctx, randBytes(30, 5000), WithWaitAll())
	if err != nil {
		t.Fatal(err)
	}
	tmp, cert, err := c.client.Put(ctx, randBytes(31, 5000), WithWaitAll(), WithLifetime(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if cert.LifetimeMs != 3_600_000 || cert.Verify(c.com) != nil {
		t.Fatalf("lifetime certificate: %+v", cert)
	}
	// Storing the kept blob again with a short lifetime must not shorten it.
	keepData := randBytes(30, 5000)
	if _, _, err := c.client.Put(ctx, keepData, WithWaitAll(), WithLifetime(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c.clock.Advance(59 * time.Minute)
	if _, err := c.client.Get(ctx, tmp); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	c.clock.Advance(2 * time.Minute)
	if _, err := c.client.Get(ctx, tmp); !errors.Is(err, blob.ErrNotEnoughSlivers) {
		t.Fatalf("expired blob read: %v", err)
	}
	removed := 0
	for _, nd := range c.nodes {
		r, err := nd.CollectGarbage()
		if err != nil {
			t.Fatal(err)
		}
		removed += r
	}
	if removed != 8 { // a sliver and a certificate on each of 4 nodes
		t.Fatalf("garbage collection removed %d files, want 8", removed)
	}
	if _, err := c.client.Get(ctx, keep); err != nil {
		t.Fatalf("blob without lifetime: %v", err)
	}
}

func TestCertificateVerify(t *testing.T) {
	c := newCluster(t, 4)
	ctx := ctxT(t)
	_, cert, err := c.client.Put(ctx, []byte("hello"), WithWaitAll())
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.Verify(c.com); err != nil {
		t.Fatal(err)
	}
	b, _ := cert.Marshal()
	back, err := blob.ParseCertificate(b)
	if err != nil || back.Verify(c.com) != nil {
		t.Fatalf("round trip: %v", err)
	}
	mut := func(f func(*blob.Certificate)) error {
		x, _ := blob.ParseCertificate(b)
		f(x)
		return x.Verify(c.com)
	}
	cases := map[string]func(*blob.Certificate){
		"bad signature": func(x *blob.Certificate) { x.Acks[0].Sig[3] ^= 1 },
		"other blob":    func(x *blob.Certificate) { x.ID[0] ^= 1 },
		"lifetime":      func(x *blob.Certificate) { x.LifetimeMs = 5 },
		"duplicate":     func(x *blob.Certificate) { x.Acks[1] = x.Acks[0] },
		"unsorted":      func(x *blob.Certificate) { x.Acks[0], x.Acks[1] = x.Acks[1], x.Acks[0] },
		"out of range":  func(x *blob.Certificate) { x.Acks[3].Index = 9 },
		"moved ack":     func(x *blob.Certificate) { x.Acks = x.Acks[1:]; x.Acks[0].Index = 0 },
	}
	for name, f := range cases {
		if err := mut(f); !errors.Is(err, blob.ErrBadCertificate) {
			t.Errorf("%s: %v, want ErrBadCertificate", name, err)
		}
	}
	var qe *blob.QuorumError
	if err := mut(func(x *blob.Certificate) { x.Acks = x.Acks[:2] }); !errors.As(err, &qe) || qe.Have != 2 || qe.Need != 3 {
		t.Errorf("too few acks: %v", err)
	}
	// Nodes keep only certificates of slivers they hold, with their own ack.
	if err := c.client.sendCert(ctx, 0, &blob.Certificate{ID: blob.ID{1}, Acks: []blob.Ack{{Index: 0, Sig: []byte{1}}}}); err == nil {
		t.Error("node stored a certificate of a blob it does not hold")
	}
	forged, _ := blob.ParseCertificate(b)
	forged.Acks[0].Sig[0] ^= 1
	if err := c.client.sendCert(ctx, 0, forged); err == nil {
		t.Error("node stored a certificate with a forged ack of its own")
	}
	if err := c.client.sendCert(ctx, 0, cert); err != nil {
		t.Errorf("node refused a valid certificate: %v", err)
	}
	other := c.com
	other.Members = slices.Clone(c.com.Members)
	other.Members[0], other.Members[1] = other.Members[1], other.Members[0]
	if err := cert.Verify(other); !errors.Is(err, blob.ErrBadCertificate) {
		t.Errorf("reordered committee: %v", err)
	}
}

// TestHungNode replaces member 0's handler with one that accepts streams
// and never answers: a WithWaitAll put still certifies once the per-node
// deadline passes, and a read hedges to another member after the hedge delay.
func TestHungNode(t *testing.T) {
	c := newCluster(t, 4, WithNodeTimeout(300*time.Millisecond, 1<<30), WithHedgeDelay(100*time.Millisecond))
	ctx := ctxT(t)
	data := randBytes(40, 100_000)
	id, _, err := c.client.Put(ctx, data, WithWaitAll())
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	c.hosts[0].SetStreamHandler(transport.ProtoBlob, func(s network.Stream) {
		<-release
		s.Reset()
	})
	start := time.Now()
	got, rep, err := c.client.GetWithReport(ctx, id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get with a hung member: %v", err)
	}
	if rep.Nodes[0].State == SliverValid {
		t.Fatal("hung member reported valid")
	}
	t.Logf("get with a hung member took %v", time.Since(start))
	_, cert, err := c.client.Put(ctx, randBytes(41, 1000), WithWaitAll())
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Acks) != 3 || cert.Acks[0].Index != 1 {
		t.Fatalf("certificate with a hung member: %+v", cert.Acks)
	}
}

// TestPartialWriteLeavesNothing cuts a store off halfway: the node keeps no
// sliver, its partial temporary file is gone after a restart, and the same
// sliver stores fine afterwards.
func TestPartialWriteLeavesNothing(t *testing.T) {
	c := newCluster(t, 4)
	ctx := ctxT(t)
	x, err := blob.Encode(randBytes(50, 3<<20), 4)
	if err != nil {
		t.Fatal(err)
	}
	s, stop, err := c.client.openStream(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	req := request{Op: opStore, ID: x.ID, Index: 0, Store: &storeHeader{Enc: x.Encoding, Length: x.Length, Root: x.Root, Proof: x.Proofs[0]}}
	if err := codec.WriteMsg(s, req); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(x.Data[0][:len(x.Data[0])/2]); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(c.dirs[0], "tmp")
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	}
	waitFor("a partial temporary file", func() bool {
		es, _ := os.ReadDir(tmp)
		return len(es) == 1
	})
	// The node dies mid-write (its handler is left blocked; the files stay).
	c.nodes[0].Close()
	c.nodes[0] = nil
	s.Reset()
	if c.nodesHas(0, x.ID) {
		t.Fatal("a half-received sliver is visible")
	}
	nd, err := NewNode(c.hosts[0], c.dirs[0], WithClock(c.clock))
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[0] = nd
	if es, _ := os.ReadDir(tmp); len(es) != 0 {
		t.Fatalf("restart left %d temporary files", len(es))
	}
	if nd.Has(x.ID, 0) {
		t.Fatal("restarted node holds the half-received sliver")
	}
	if _, err := c.client.storeSliver(ctx, x, 0, 0); err != nil {
		t.Fatalf("store after the cut: %v", err)
	}
	if !nd.Has(x.ID, 0) {
		t.Fatal("sliver missing after a complete store")
	}
}

func (c *cluster) nodesHas(i int, id blob.ID) bool {
	_, err := os.Stat(c.sliverFile(i, id))
	return err == nil
}

// TestReadAllMultiStripe reads with WithReadAll, so parity slivers race the
// data slivers into the first k valid ones (the read's stripe check is used
// only when the data slivers win): either way a multi-stripe blob reads
// back, and with data sliver 1 corrupted the read falls back to decode.
func TestReadAllMultiStripe(t *testing.T) {
	c := newCluster(t, 7, WithReadAll())
	ctx := ctxT(t)
	data := randBytes(91, 3*(2*blob.DecodeStripe+77))
	id, _, err := c.client.Put(ctx, data, WithWaitAll())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got, err := c.client.Get(ctx, id); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read-all get: %d bytes, %v", len(got), err)
		}
	}
	p := c.sliverFile(1, id)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[bodyOffset(t, p)+blob.DecodeStripe+3] ^= 1
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		got, rep, err := c.client.GetWithReport(ctx, id)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read-all get with a corrupted data sliver: %d bytes, %v", len(got), err)
		}
		if bad := rep.Bad(); len(bad) > 1 || (len(bad) == 1 && bad[0] != 1) {
			t.Fatalf("reported bad slivers %v, want at most [1]", bad)
		}
	}
}
