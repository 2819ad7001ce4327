package p2p

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/floe-fl/floe/codec"
	"github.com/floe-fl/floe/internal/memtest"
)

// TestRepairStreamsBigBlob wipes a data member (1) and a parity member (5)
// of a committee of 7 holding a 48 MiB blob (many stripes), repairs both,
// and requires each rebuilt sliver file to be byte for byte the one put,
// and the repair to hold a small part of the blob in memory: its heap grows
// by less than 24 MiB, half the blob (read whole, then encoded, it grew by 54 MiB).
func TestRepairStreamsBigBlob(t *testing.T) {
	if testing.Short() {
		t.Skip("48 MiB repair skipped in -short mode")
	}
	c := newCluster(t, 7)
	ctx := ctxT(t)
	data := randBytes(77, 48<<20)
	id, _, err := c.client.Put(ctx, data, WithWaitAll())
	if err != nil {
		t.Fatal(err)
	}
	data = nil
	for _, i := range []int{1, 5} {
		want, err := sliverContent(c.sliverFile(i, id))
		if err != nil {
			t.Fatal(err)
		}
		c.stop(i)
		if err := os.RemoveAll(c.dirs[i]); err != nil {
			t.Fatal(err)
		}
		c.start(i)
		var rep RepairReport
		grew := memtest.HeapGrowth(func() { rep, err = c.nodes[i].RepairWithReport(ctx, c.com) })
		if err != nil || len(rep.Repaired) != 1 || len(rep.Failed) != 0 {
			t.Fatalf("repair of node %d: %+v %v", i, rep, err)
		}
		got, err := sliverContent(c.sliverFile(i, id))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("node %d's rebuilt sliver differs from the one put (%v)", i, err)
		}
		t.Logf("node %d: repair grew the heap by %.1f MiB", i, float64(grew)/(1<<20))
		if grew > 24<<20 {
			t.Fatalf("node %d: repair grew the heap by %d MiB, want under 24", i, grew>>20)
		}
	}
	if st, err := c.client.Stat(ctx, id); err != nil || st[1].State != SliverValid || st[5].State != SliverValid {
		t.Fatalf("stat after repair: %+v %v", st, err)
	}
}

// sliverContent returns a sliver file's header, re-encoded, followed by its
// sliver bytes: what the file holds, whichever of its formats it is in (a
// put writes FLOESLV2 files, a repair FLOESLV1).
func sliverContent(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	meta, err := readSliverHeader(f)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := codec.WriteMsg(&b, meta); err != nil {
		return nil, err
	}
	if _, err := io.Copy(&b, f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
