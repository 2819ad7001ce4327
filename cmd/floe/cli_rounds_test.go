package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a process writer and a test reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, valid once done is closed
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(blobCLIBinary(t), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s stderr:\n%s", args[0], tail(p.stderr.String(), 2000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

const e2eJob = `name: e2e
model: logreg:60-10
seed: 3
rounds: 5
cohort_size: 3
quorum: 2
min_participants: 3
deadline: 20s
train: {epochs: 1, batch_size: 10, lr: 0.05}
aggregation: {rule: fedavg}
privacy: sealed
`

// runRoundsScenario runs storage nodes, a coordinator and three participants
// as separate processes, SIGKILLs the coordinator after round 2 is committed
// (while round 3 runs) and restarts it; with killNode, it also SIGKILLs one
// storage node for good. The job must finish with a linear chain of 5 rounds.
func runRoundsScenario(t *testing.T, killNode bool) {
	dir := t.TempDir()
	var nodes []*nodeProc
	var addrs []string
	for i := 0; i < 4; i++ {
		n := &nodeProc{key: filepath.Join(dir, fmt.Sprintf("n%d.key", i)), data: filepath.Join(dir, fmt.Sprintf("n%d", i)), addrFile: filepath.Join(dir, fmt.Sprintf("n%d.addrs", i))}
		addrs = append(addrs, n.start(t))
		nodes = append(nodes, n)
	}
	com := filepath.Join(dir, "committee")
	writeCommittee(t, com, addrs)
	job := filepath.Join(dir, "job.yaml")
	os.WriteFile(job, []byte(e2eJob), 0o644)
	coordArgs := []string{"coordinator", "--key", filepath.Join(dir, "coord.key"), "--data", filepath.Join(dir, "coord"),
		"--committee", com, "--job", job, "--listen", "/ip4/127.0.0.1/tcp/0", "--addr-file", filepath.Join(dir, "coord.addrs"),
		"--head-file", filepath.Join(dir, "head"), "--eval-dataset", "synthetic", "--eval-clients", "3", "--eval-data-seed", "3"}
	coord := startProc(t, coordArgs...)
	var caddr string
	waitFor(t, "coordinator address", 30*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "coord.addrs"))
		caddr, _, _ = strings.Cut(string(b), "\n")
		return caddr != ""
	})
	var parts []*proc
	for i := 0; i < 3; i++ {
		parts = append(parts, startProc(t, "participant", "--key", filepath.Join(dir, fmt.Sprintf("p%d.key", i)), "--coordinator", caddr,
			"--committee", com, "--dataset", "synthetic", "--clients", "3", "--index", fmt.Sprint(i), "--data-seed", "3"))
	}
	waitFor(t, "round 2 committed", 90*time.Second, func() bool { return strings.Contains(coord.stdout.String(), "round 2 ok") })
	if killNode {
		nodes[3].kill9(t)
	}
	coord.cmd.Process.Signal(syscall.SIGKILL)
	<-coord.done
	// Restart on a fixed port so participants find it at the same address.
	port := strings.Split(caddr, "/")[4]
	coordArgs[10] = "/ip4/127.0.0.1/tcp/" + port
	coord2 := startProc(t, coordArgs...)
	select {
	case <-coord2.done:
		if coord2.err != nil {
			t.Fatalf("restarted coordinator: %v\n%s", coord2.err, tail(coord2.stderr.String(), 3000))
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("job did not finish after the restart")
	}
	out := coord.stdout.String() + coord2.stdout.String()
	if !strings.Contains(out, "job done, chain head") {
		t.Fatalf("no final head in coordinator output:\n%s", out)
	}
	for _, p := range parts {
		select {
		case <-p.done:
			if p.err != nil {
				t.Fatalf("participant: %v\n%s", p.err, tail(p.stderr.String(), 2000))
			}
		case <-time.After(time.Minute):
			t.Fatal("participant did not finish")
		}
	}
	// No round committed twice: each round number appears once across both runs.
	for r := 1; r <= 5; r++ {
		if n := strings.Count(out, fmt.Sprintf("round %d ok", r)); n != 1 {
			t.Fatalf("round %d committed %d times:\n%s", r, n, out)
		}
	}
	head, _ := os.ReadFile(filepath.Join(dir, "head"))
	list, errOut, code := floeRun(t, "models", "list", "--committee", com, "--head", strings.TrimSpace(string(head)))
	if code != 0 {
		t.Fatalf("models list: %s", errOut)
	}
	if got := strings.Count(list, " ok "); got != 5 {
		t.Fatalf("chain lists %d ok rounds, want 5:\n%s", got, list)
	}
	model := filepath.Join(dir, "m5.safetensors")
	if _, errOut, code := floeRun(t, "models", "get", "--committee", com, "--head", strings.TrimSpace(string(head)), "--version", "5", "-o", model); code != 0 {
		t.Fatalf("models get: %s", errOut)
	}
}

func TestCLIRoundsCoordinatorKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	runRoundsScenario(t, false)
}

func TestCLIRoundsCoordinatorAndNodeKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	runRoundsScenario(t, true)
}

// TestCLISimThenAudit runs `floe sim`, restarts its storage nodes from
// OUT/nodes/I/{key,data} as separate processes on new ports, and audits the
// chain from another process with the auditor key the sim left behind.
func TestCLISimThenAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := floeRun(t, "sim", "--rounds", "3", "--participants", "5", "--cohort", "4", "--out", out)
	if code != 0 || !strings.Contains(stdout, "audit: verified") {
		t.Fatalf("sim exit %d:\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"metrics.csv", "summary.json", "accuracy.png", "committee", "head", "auditor.hpke"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatalf("sim output %s: %v", f, err)
		}
	}
	var addrs []string
	for i := 0; i < 4; i++ {
		n := &nodeProc{key: filepath.Join(out, "nodes", fmt.Sprint(i), "key"), data: filepath.Join(out, "nodes", fmt.Sprint(i), "data"),
			addrFile: filepath.Join(t.TempDir(), "addrs")}
		addrs = append(addrs, n.start(t))
	}
	com := filepath.Join(t.TempDir(), "committee")
	writeCommittee(t, com, addrs)
	head, _ := os.ReadFile(filepath.Join(out, "head"))
	audit, errOut, code := floeRun(t, "audit", "--committee", com, "--head", strings.TrimSpace(string(head)), "--key", filepath.Join(out, "auditor.hpke"))
	if code != 0 {
		t.Fatalf("audit exit %d:\n%s\n%s", code, audit, errOut)
	}
	// Without the key the auditor says which checks it could not make, and
	// does not claim a full verification.
	_, errOut, code = floeRun(t, "audit", "--committee", com, "--head", strings.TrimSpace(string(head)))
	if code == 0 {
		t.Fatalf("audit without the recipient key exited 0 on a sealed chain")
	}
	if !strings.Contains(errOut, "could not be made") {
		t.Fatalf("audit without key: %s", errOut)
	}
}
