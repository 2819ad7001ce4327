package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/floe-fl/floe/blob"
)

var (
	blobBinOnce sync.Once
	blobBinPath string
	blobBinErr  error
)

// blobCLIBinary builds the floe binary once per test process.
func blobCLIBinary(t *testing.T) string {
	t.Helper()
	blobBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "floe-cli-blob-")
		if err != nil {
			blobBinErr = err
			return
		}
		blobBinPath = filepath.Join(dir, "floe")
		out, err := exec.Command("go", "build", "-o", blobBinPath, ".").CombinedOutput()
		if err != nil {
			blobBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if blobBinErr != nil {
		t.Fatal(blobBinErr)
	}
	return blobBinPath
}

// floeRun runs the binary and returns stdout, stderr and the exit code.
func floeRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(blobCLIBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

type nodeProc struct {
	key, data, addrFile string
	cmd                 *exec.Cmd
	stderr              bytes.Buffer
}

func (p *nodeProc) start(t *testing.T, extra ...string) string {
	t.Helper()
	os.Remove(p.addrFile)
	p.stderr.Reset()
	args := append([]string{"storage-node", "--key", p.key, "--data", p.data,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--addr-file", p.addrFile}, extra...)
	p.cmd = exec.Command(blobCLIBinary(t), args...)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := p.cmd
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var addr string
	waitFor(t, "addr file "+p.addrFile, 20*time.Second, func() bool {
		b, err := os.ReadFile(p.addrFile)
		if err != nil {
			return false
		}
		addr, _, _ = strings.Cut(string(b), "\n")
		return addr != ""
	})
	return addr
}

func (p *nodeProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

func writeCommittee(t *testing.T, path string, addrs []string) {
	t.Helper()
	text := "# test committee\n\n" + strings.Join(addrs, "  # a node\n") + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCLIBlobKill9 runs four storage-node processes, stores a file with
// `floe blob put`, SIGKILLs every node right after the put returned, restarts
// them on the same keys and data directories and reads the file back.
func TestCLIBlobKill9(t *testing.T) {
	dir := t.TempDir()
	const n = 4
	nodes := make([]*nodeProc, n)
	addrs := make([]string, n)
	for i := range nodes {
		p := &nodeProc{key: filepath.Join(dir, fmt.Sprintf("n%d.key", i)), data: filepath.Join(dir, fmt.Sprintf("d%d", i)), addrFile: filepath.Join(dir, fmt.Sprintf("n%d.addrs", i))}
		out, stderr, code := floeRun(t, "keygen", "--out", p.key)
		if code != 0 || !strings.HasPrefix(out, "12D3KooW") {
			t.Fatalf("keygen: code %d out %q err %q", code, out, stderr)
		}
		if st, err := os.Stat(p.key); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", st.Mode(), err)
		}
		nodes[i] = p
		addrs[i] = p.start(t)
		if !strings.Contains(addrs[i], "/p2p/"+strings.TrimSpace(out)) {
			t.Fatalf("addr file %q does not name peer %s", addrs[i], out)
		}
	}
	if _, stderr, code := floeRun(t, "keygen", "--out", nodes[0].key); code == 0 || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("keygen over an existing key: code %d, stderr %q", code, stderr)
	}
	com := filepath.Join(dir, "committee.txt")
	writeCommittee(t, com, addrs)

	data := make([]byte, 3<<20+17)
	r := rand.New(rand.NewPCG(9, 9))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	in := filepath.Join(dir, "in.bin")
	os.WriteFile(in, data, 0o644)
	certPath := filepath.Join(dir, "in.cert")
	out, stderr, code := floeRun(t, "blob", "put", "--committee", com, "--cert-out", certPath, in)
	if code != 0 {
		t.Fatalf("put: code %d: %s", code, stderr)
	}
	for _, p := range nodes {
		p.kill9(t)
	}
	idText := strings.TrimSpace(out)
	id, err := blob.ParseID(idText)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := blob.ComputeID(data, n); want != id {
		t.Fatalf("put printed %s, want %s", id, want)
	}
	comm, err := blob.ReadCommitteeFile(com)
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := os.ReadFile(certPath)
	cert, err := blob.ParseCertificate(cb)
	if err != nil || cert.Verify(comm) != nil || cert.ID != id {
		t.Fatalf("certificate file: %v", err)
	}

	for i, p := range nodes {
		addrs[i] = p.start(t)
	}
	writeCommittee(t, com, addrs)
	outPath := filepath.Join(dir, "out.bin")
	if _, stderr, code := floeRun(t, "blob", "get", "--committee", com, idText, "-o", outPath); code != 0 {
		t.Fatalf("get after kill -9 and restart: code %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(outPath); !bytes.Equal(got, data) {
		t.Fatal("get after restart returned other bytes")
	}
	// -o /dev/null writes to the device; it is not renamed over (we may run
	// as root, where a rename would replace the device with a regular file).
	if st, err := os.Lstat(os.DevNull); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		if _, stderr, code := floeRun(t, "blob", "get", "--committee", com, idText, "-o", os.DevNull); code != 0 {
			t.Fatalf("get -o %s: code %d: %s", os.DevNull, code, stderr)
		}
		if after, err := os.Lstat(os.DevNull); err != nil || after.Mode() != st.Mode() || !os.SameFile(st, after) {
			t.Fatalf("after get -o %s it is %v (was %v), err %v", os.DevNull, after.Mode(), st.Mode(), err)
		}
	}
	if stdout, stderr, code := floeRun(t, "blob", "get", "--committee", com, idText, "-o", "-"); code != 0 || stdout != string(data) {
		t.Fatalf("get -o -: code %d, %d bytes on stdout: %s", code, len(stdout), stderr)
	}
	out, stderr, code = floeRun(t, "blob", "stat", "--committee", com, idText)
	if code != 0 || !strings.Contains(out, "4 of 4 slivers valid") {
		t.Fatalf("stat: code %d out %q err %q", code, out, stderr)
	}

	// Node 0 loses its disk and comes back with --committee: it repairs.
	nodes[0].kill9(t)
	if err := os.RemoveAll(nodes[0].data); err != nil {
		t.Fatal(err)
	}
	addrs[0] = nodes[0].start(t, "--committee", com)
	writeCommittee(t, com, addrs)
	waitFor(t, "node 0 to repair its sliver", 20*time.Second, func() bool {
		out, _, code := floeRun(t, "blob", "stat", "--committee", com, "--json", idText)
		return code == 0 && strings.Contains(out, `"valid": 4`)
	})

	// k = 2: with three nodes gone the blob is unreadable, said in one line.
	for _, p := range nodes[:3] {
		p.kill9(t)
	}
	_, stderr, code = floeRun(t, "blob", "get", "--committee", com, idText, "-o", outPath)
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "found 1 valid slivers of 2 needed") {
		t.Fatalf("get with 3 of 4 down: code %d stderr %q", code, stderr)
	}
	// The failed get streamed into a temporary file beside out.bin: it is
	// gone, and out.bin is untouched.
	if got, _ := os.ReadFile(outPath); !bytes.Equal(got, data) {
		t.Fatal("a failed get changed the output file")
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".out.bin.tmp-*")); len(tmps) != 0 {
		t.Fatalf("a failed get left %v", tmps)
	}
	if _, stderr, code := floeRun(t, "blob", "get", "--committee", com, idText); code != 2 || !strings.Contains(stderr, "-o") {
		t.Fatalf("get without -o: code %d stderr %q", code, stderr)
	}
	if _, stderr, code := floeRun(t, "blob", "put", "--committee", filepath.Join(dir, "missing.txt"), in); code != 1 || !strings.Contains(stderr, "committee") {
		t.Fatalf("put with a missing committee file: code %d stderr %q", code, stderr)
	}
}

// TestMain removes the floe binary that blobCLIBinary built, if any.
func TestMain(m *testing.M) {
	code := m.Run()
	if blobBinPath != "" {
		os.RemoveAll(filepath.Dir(blobBinPath))
	}
	os.Exit(code)
}
