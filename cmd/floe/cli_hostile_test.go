package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/floe-fl/floe/blob"
)

// TestCLIBadNumbers: a bad number in a flag is a one-line usage error (exit
// 2) naming the flag, before anything starts (no hang, no half run).
func TestCLIBadNumbers(t *testing.T) {
	dir := t.TempDir()
	sim := []string{"sim", "--quiet", "--out", filepath.Join(dir, "out")}
	for _, c := range []struct {
		args []string
		want string
	}{
		{append(sim, "--epochs", "-1"), "--epochs"},
		{append(sim, "--batch", "0"), "--batch"},
		{append(sim, "--lr", "-1"), "lr"},
		{append(sim, "--lr", "NaN"), "lr"},
		{append(sim, "--mu", "-1"), "mu"},
		{append(sim, "--alpha", "-1"), "--alpha"},
		{append(sim, "--beta", "Inf"), "--beta"},
		{append(sim, "--dirichlet-alpha", "0"), "--dirichlet-alpha"},
		{append(sim, "--dropout", "NaN"), "--dropout"},
		{append(sim, "--dropout", "1"), "dropout"},
		{append(sim, "--rule-param", "beta=NaN"), "--rule-param"},
		{append(sim, "--participants", "-1"), "participant"},
		{append(sim, "--participants", "1000000000"), "--participants"},
		{append(sim, "--rounds", "0"), "rounds"},
		{append(sim, "--nodes", "0"), "storage nodes"},
		{append(sim, "--deadline", "-1s"), "deadline"},
		{append(sim, "--norm-bound", "-1"), "norm_bound"},
		{append(sim, "--quorum", "-1"), "quorum"},
		{append(sim, "--initial-model", filepath.Join(dir, "missing.safetensors")), "--initial-model"},
		{append(sim, "--eval", `python3 "unterminated`), "--eval"},
		{[]string{"participant", "--key", "k", "--coordinator", "c", "--committee", "c", "--update-lifetime", "-1s"}, "--update-lifetime"},
		{[]string{"storage-node", "--key", "k", "--data", "d", "--memory-mib", "0"}, "--memory-mib"},
		{[]string{"storage-node", "--key", "k", "--data", "d", "--gc-interval", "0s"}, "--gc-interval"},
		{[]string{"blob", "get", "--committee", "c", "--timeout", "0s", "-o", "x", strings.Repeat("A", 43)}, "--timeout"},
		{[]string{"blob", "put", "--committee", "c", "--lifetime", "-1h", "f"}, "--lifetime"},
		{[]string{"models", "list", "--committee", "c", "--head", "h", "--timeout", "-1s"}, "--timeout"},
		{[]string{"audit", "--committee", "c", "--head", "h", "--timeout", "0s"}, "--timeout"},
		{[]string{"coordinator", "--key", "k", "--data", "d", "--job", "j", "--committee", "c", "--eval", `python3 "unterminated`}, "--eval"},
	} {
		_, stderr, code := floeRun(t, c.args...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("floe %s: exit %d, stderr %q; want exit 2 and one line naming %s", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

// TestCLIHeadArgument: audit and models read --head the same way (an ID or
// a file holding one) and refuse the all-zero ID with a clear error.
func TestCLIHeadArgument(t *testing.T) {
	dir := t.TempDir()
	zero := blob.ID{}.String()
	zeroFile := filepath.Join(dir, "head")
	os.WriteFile(zeroFile, []byte(zero+"\n"), 0o644)
	for _, args := range [][]string{
		{"audit", "--committee", "c", "--head", zero},
		{"audit", "--committee", "c", "--head", zeroFile},
		{"models", "list", "--committee", "c", "--head", zero},
		{"models", "list", "--committee", "c", "--head", zeroFile},
		{"models", "get", "--committee", "c", "--head", zeroFile, "--version", "0", "-o", "-"},
	} {
		_, stderr, code := floeRun(t, args...)
		if code != 2 || !strings.Contains(stderr, "all-zero ID is not a chain head") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("floe %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("not an id\n"), 0o644)
	for _, cmd := range [][]string{{"audit"}, {"models", "list"}} {
		args := append(cmd, "--committee", "c", "--head", bad)
		if _, stderr, code := floeRun(t, args...); code != 2 || !strings.Contains(stderr, "--head file "+bad) {
			t.Errorf("floe %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
}

// TestParseInterspersed: positional blob IDs may start with '-' (one in 64
// does); a flag's value that looks like an ID stays its value; "--" ends the
// flags.
func TestParseInterspersed(t *testing.T) {
	dash := "-" + strings.Repeat("A", 42)
	for _, c := range []struct {
		args      []string
		pos       []string
		out, comm string
	}{
		{[]string{dash, "-o", "f"}, []string{dash}, "f", ""},
		{[]string{"--committee", "c", dash, "-o", "f"}, []string{dash}, "f", "c"},
		{[]string{"-o", dash, "x"}, []string{"x"}, dash, ""},
		{[]string{"-o", "f", "--", dash}, []string{dash}, "f", ""},
		{[]string{"-o", "f", "--", "-x", "-o"}, []string{"-x", "-o"}, "f", ""},
		{[]string{"a", "--committee=c", "b"}, []string{"a", "b"}, "", "c"},
		{[]string{"-o", "--", dash}, []string{dash}, "--", ""},
	} {
		fs := newFlagSet("t", "", "")
		out := fs.String("o", "", "")
		comm := fs.String("committee", "", "")
		fs.Bool("json", false, "")
		pos, err := parseInterspersed(fs, c.args)
		if err != nil || fmt.Sprint(pos) != fmt.Sprint(c.pos) || *out != c.out || *comm != c.comm {
			t.Errorf("%q: pos %q o %q committee %q err %v; want %q %q %q", c.args, pos, *out, *comm, err, c.pos, c.out, c.comm)
		}
	}
	fs := newFlagSet("t", "", "")
	if _, err := parseInterspersed(fs, []string{"-" + strings.Repeat("A", 41)}); err == nil {
		t.Error("a dash argument that is not a blob ID was taken as positional")
	}
}

func startCluster(t *testing.T, dir string, n int) ([]*nodeProc, string) {
	t.Helper()
	nodes := make([]*nodeProc, n)
	addrs := make([]string, n)
	for i := range nodes {
		nodes[i] = &nodeProc{key: filepath.Join(dir, fmt.Sprintf("n%d.key", i)), data: filepath.Join(dir, fmt.Sprintf("d%d", i)), addrFile: filepath.Join(dir, fmt.Sprintf("n%d.addrs", i))}
	}
	for i, p := range nodes {
		addrs[i] = p.start(t)
	}
	com := filepath.Join(dir, "committee.txt")
	writeCommittee(t, com, addrs)
	return nodes, com
}

// TestCLIBlobDashIDAndFIFO: a blob whose ID starts with '-' is read and
// stat'ed with its ID as a plain positional argument (and after "--"), and
// `blob get -o` writes into a FIFO in place.
func TestCLIBlobDashIDAndFIFO(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	dir := t.TempDir()
	const n = 4
	_, com := startCluster(t, dir, n)
	var data []byte
	var id blob.ID
	for i := 0; ; i++ {
		data = []byte(fmt.Sprintf("floe blob whose ID starts with a dash, try %d", i))
		id, _ = blob.ComputeID(data, n)
		if strings.HasPrefix(id.String(), "-") {
			break
		}
	}
	in := filepath.Join(dir, "in")
	os.WriteFile(in, data, 0o644)
	out, stderr, code := floeRun(t, "blob", "put", "--committee", com, in)
	if code != 0 || strings.TrimSpace(out) != id.String() {
		t.Fatalf("put: exit %d, %q %q, want %s", code, out, stderr, id)
	}
	if out, stderr, code := floeRun(t, "blob", "stat", "--committee", com, id.String()); code != 0 || !strings.Contains(out, "4 of 4 slivers valid") {
		t.Fatalf("stat %s: exit %d\n%s%s", id, code, out, stderr)
	}
	got := filepath.Join(dir, "got")
	if _, stderr, code := floeRun(t, "blob", "get", "--committee", com, "-o", got, "--", id.String()); code != 0 {
		t.Fatalf("get -- %s: exit %d: %s", id, code, stderr)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data) {
		t.Fatalf("get -- ID wrote %q", b)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	read := make(chan []byte)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until the writer opens it
		read <- b
	}()
	if _, stderr, code := floeRun(t, "blob", "get", "--committee", com, id.String(), "-o", fifo); code != 0 {
		t.Fatalf("get %s -o FIFO: exit %d: %s", id, code, stderr)
	}
	if b := <-read; !bytes.Equal(b, data) {
		t.Fatalf("FIFO got %q", b)
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", st.Mode(), err)
	}
}

// TestCLIBlobPutFullNode: a node whose data directory is full answers the
// put with its error and logs it; the put succeeds with n - f
// acknowledgements and says on stderr which node failed and why.
func TestCLIBlobPutFullNode(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as a full data directory")
	}
	dir := t.TempDir()
	full := filepath.Join(dir, "d3")
	os.MkdirAll(full, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", full).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", full).Run() })
	nodes, com := startCluster(t, dir, 4)
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	in := filepath.Join(dir, "in")
	os.WriteFile(in, data, 0o644)
	out, stderr, code := floeRun(t, "blob", "put", "--committee", com, in)
	if code != 0 {
		t.Fatalf("put: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "3 of 4 nodes acknowledged") || !strings.Contains(stderr, "node 3") || !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("put stderr does not name the full node and its error:\n%s", stderr)
	}
	if _, err := blob.ParseID(strings.TrimSpace(out)); err != nil {
		t.Fatalf("put stdout %q: %v", out, err)
	}
	nodes[3].kill9(t)
	if log := nodes[3].stderr.String(); !strings.Contains(log, "cannot store sliver") || !strings.Contains(log, "no space left on device") {
		t.Fatalf("the full node logged no error:\n%s", log)
	}
}
