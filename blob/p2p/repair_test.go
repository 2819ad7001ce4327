package p2p

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
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
		want, err := os.ReadFile(c.sliverFile(i, id))
		if err != nil {
			t.Fatal(err)
		}
		c.stop(i)
		if err := os.RemoveAll(c.dirs[i]); err != nil {
			t.Fatal(err)
		}
		c.start(i)
		var rep RepairReport
		grew := heapGrowth(t, func() { rep, err = c.nodes[i].RepairWithReport(ctx, c.com) })
		if err != nil || len(rep.Repaired) != 1 || len(rep.Failed) != 0 {
			t.Fatalf("repair of node %d: %+v %v", i, rep, err)
		}
		got, err := os.ReadFile(c.sliverFile(i, id))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("node %d's rebuilt sliver file differs from the one put (%v)", i, err)
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

// heapGrowth runs f with garbage collected often (GOGC 10) and returns how
// far the live heap rose above where it started, sampled every millisecond.
func heapGrowth(t *testing.T, f func()) uint64 {
	t.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base, peak := read(), uint64(0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	if peak < base {
		return 0
	}
	return peak - base
}
