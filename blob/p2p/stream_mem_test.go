package p2p

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floe-fl/floe/blob"
)

// memChildEnv carries the job of TestStreamMemoryBound's child process.
const memChildEnv = "FLOE_TEST_STREAM_MEM_CHILD"

type memJob struct {
	Committee string // committee file text
	In, Out   string // files to put and get into
	Size      int64
}

type memResult struct {
	ID                  blob.ID
	BaseRSSMiB          float64 // VmHWM before the put
	PutRSSMiB           float64 // VmHWM after the put
	GetRSSMiB           float64 // VmHWM after the get
	PutHeapMiB          float64 // peak heap growth during the put
	GetHeapMiB          float64 // ... during the get
	PutSeconds, GetSecs float64
}

// TestStreamMemoryBound puts a 128 MiB file with PutFrom and reads it back
// with GetTo in a child process that runs only the client (the nodes run
// here), and checks the child's peak resident memory and heap stay below
// 64 MiB: memory independent of the blob's size (Put and Get hold 2.3x and
// 1x the blob).
func TestStreamMemoryBound(t *testing.T) {
	if job := os.Getenv(memChildEnv); job != "" {
		streamMemChild(t, job)
		return
	}
	if testing.Short() {
		t.Skip("128 MiB streamed put and get skipped in -short mode")
	}
	const size = 128 << 20
	c := newCluster(t, 7)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	writeSeeded(t, in, 5, size)
	var com strings.Builder
	for _, m := range c.com.Members {
		fmt.Fprintf(&com, "%s/p2p/%s\n", m.Addrs[0], m.ID)
	}
	job, _ := json.Marshal(memJob{Committee: com.String(), In: in, Out: out, Size: size})
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamMemoryBound$", "-test.count=1")
	cmd.Env = append(os.Environ(), memChildEnv+"="+string(job), "GOMEMLIMIT=40MiB")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var r memResult
	_, line, ok := strings.Cut(stdout.String(), "RESULT ")
	line, _, _ = strings.Cut(line, "\n")
	if !ok || json.Unmarshal([]byte(line), &r) != nil {
		t.Fatalf("child printed no result:\n%s", stdout.String())
	}
	t.Logf("%d MiB on n=7, client process: peak RSS %.1f MiB before, %.1f after PutFrom (%.1fs), %.1f after GetTo (%.1fs); peak heap %.1f MiB (put), %.1f MiB (get)",
		size>>20, r.BaseRSSMiB, r.PutRSSMiB, r.PutSeconds, r.GetRSSMiB, r.GetSecs, r.PutHeapMiB, r.GetHeapMiB)
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := blob.CommitFrom(f, size, 7)
	if err != nil || r.ID != want.ID {
		t.Fatalf("child's ID %s, want %s (%v)", r.ID, want.ID, err)
	}
	sameFiles(t, in, out)
	if r.GetRSSMiB >= 64 || r.PutHeapMiB >= 64 || r.GetHeapMiB >= 64 {
		t.Fatalf("client memory for a %d MiB blob: peak RSS %.1f MiB, heap %.1f/%.1f MiB; bound is 64 MiB", size>>20, r.GetRSSMiB, r.PutHeapMiB, r.GetHeapMiB)
	}
}

// writeSeeded writes size pseudo-random bytes to path through a 1 MiB buffer.
func writeSeeded(t *testing.T, path string, seed uint64, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyBuffer(f, seededStream(seed, size), make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
}

// sameFiles fails unless files a and b hold the same bytes.
func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	ra, rb := bufio.NewReaderSize(fa, 1<<20), bufio.NewReaderSize(fb, 1<<20)
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := 0; ; off += len(ba) {
		na, ea := io.ReadFull(ra, ba)
		nb, eb := io.ReadFull(rb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			t.Fatalf("%s and %s differ in the MiB at %d", a, b, off)
		}
		if ea != nil || eb != nil {
			return
		}
	}
}

// streamMemChild is the child process: a client that puts job.In with
// PutFrom and reads it back into job.Out with GetTo.
func streamMemChild(t *testing.T, text string) {
	var job memJob
	if err := json.Unmarshal([]byte(text), &job); err != nil {
		t.Fatal(err)
	}
	com, err := blob.ParseCommittee([]byte(job.Committee))
	if err != nil {
		t.Fatal(err)
	}
	h := tcpHost(t, seededKey(t, 2000))
	defer h.Close()
	cl, err := NewClient(h, com)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	in, err := os.Open(job.In)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(job.Out)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx := ctxT(t)
	var r memResult
	r.BaseRSSMiB = vmHWM(t)
	start := time.Now()
	r.PutHeapMiB = float64(peakHeap(func() {
		r.ID, _, err = cl.PutFrom(ctx, in, job.Size, WithWaitAll())
	})) / (1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	r.PutSeconds = time.Since(start).Seconds()
	r.PutRSSMiB = vmHWM(t)
	start = time.Now()
	var got int64
	r.GetHeapMiB = float64(peakHeap(func() { got, err = cl.GetTo(ctx, r.ID, out) })) / (1 << 20)
	if err != nil || got != job.Size {
		t.Fatalf("GetTo: %d bytes, %v", got, err)
	}
	r.GetSecs = time.Since(start).Seconds()
	r.GetRSSMiB = vmHWM(t)
	b, _ := json.Marshal(r)
	fmt.Printf("RESULT %s\n", b)
}

// vmHWM returns this process's peak resident memory in MiB.
func vmHWM(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}
