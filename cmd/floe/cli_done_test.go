package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floe-fl/floe/model"
)

const doneJob = `name: done
model: logreg:60-10
seed: 5
rounds: 1
cohort_size: 2
quorum: 2
min_participants: 2
deadline: 20s
train: {epochs: 1, batch_size: 10, lr: 0.05}
aggregation: {rule: fedavg}
privacy: plain
`

// TestCLIParticipantsStopWhenJobDone runs a one-round job as separate
// processes. A participant started after the job finished (while the
// coordinator still answers) exits 0 promptly saying so; one started while
// the finished coordinator is down retries, and exits 0 once a coordinator
// restarted on the finished job answers "done". The chain's model files are
// then checked: version 0 names no job, version 1 names the real one. The
// models commands take --head as a file and write to /dev/null.
func TestCLIParticipantsStopWhenJobDone(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	dir := t.TempDir()
	var addrs []string
	for i := 0; i < 4; i++ {
		n := &nodeProc{key: filepath.Join(dir, fmt.Sprintf("n%d.key", i)), data: filepath.Join(dir, fmt.Sprintf("n%d", i)), addrFile: filepath.Join(dir, fmt.Sprintf("n%d.addrs", i))}
		addrs = append(addrs, n.start(t))
	}
	com := filepath.Join(dir, "committee")
	writeCommittee(t, com, addrs)
	job := filepath.Join(dir, "job.yaml")
	os.WriteFile(job, []byte(doneJob), 0o644)
	headFile := filepath.Join(dir, "head")
	coordArgs := []string{"coordinator", "--key", filepath.Join(dir, "coord.key"), "--data", filepath.Join(dir, "coord"),
		"--committee", com, "--job", job, "--listen", "/ip4/127.0.0.1/tcp/0", "--addr-file", filepath.Join(dir, "coord.addrs"),
		"--head-file", headFile}
	coord := startProc(t, coordArgs...)
	var caddr string
	waitFor(t, "coordinator address", 30*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "coord.addrs"))
		caddr, _, _ = strings.Cut(string(b), "\n")
		return caddr != ""
	})
	participant := func(i int) *proc {
		return startProc(t, "participant", "--key", filepath.Join(dir, fmt.Sprintf("p%d.key", i)), "--coordinator", caddr,
			"--committee", com, "--dataset", "synthetic", "--clients", "4", "--index", fmt.Sprint(i), "--data-seed", "5")
	}
	var parts []*proc
	for i := 0; i < 2; i++ {
		parts = append(parts, participant(i))
	}
	waitFor(t, "job done", 2*time.Minute, func() bool { return strings.Contains(coord.stdout.String(), "job done") })
	exits0 := func(p *proc, what string, within time.Duration) {
		t.Helper()
		select {
		case <-p.done:
		case <-time.After(within):
			t.Fatalf("%s still running %v later", what, within)
		}
		if p.err != nil || !strings.Contains(p.stdout.String(), "job finished after round 1") {
			t.Fatalf("%s: exit %v, stdout:\n%s\nstderr:\n%s", what, p.err, p.stdout.String(), tail(p.stderr.String(), 2000))
		}
	}
	late := participant(2)
	exits0(late, "participant started after the job finished", 8*time.Second)
	for i, p := range parts {
		exits0(p, fmt.Sprintf("participant %d of the job", i), 30*time.Second)
	}

	// The coordinator exits after its linger; a participant started now
	// retries until a coordinator restarted on the finished job answers.
	select {
	case <-coord.done:
	case <-time.After(time.Minute):
		t.Fatal("coordinator did not exit after the job finished")
	}
	backoff := participant(3)
	time.Sleep(2 * time.Second)
	coordArgs[10] = "/ip4/127.0.0.1/tcp/" + strings.Split(caddr, "/")[4]
	startProc(t, coordArgs...)
	exits0(backoff, "participant in backoff when the job finished", 20*time.Second)

	// Version 0 claims no job: the job ID commits to its hash. Version 1
	// names the job the chain's job record has.
	list, errOut, code := floeRun(t, "models", "list", "--committee", com, "--head", headFile)
	if code != 0 || strings.Count(list, " ok ") != 1 {
		t.Fatalf("models list --head FILE: exit %d\n%s%s", code, list, errOut)
	}
	if _, errOut, code := floeRun(t, "models", "get", "--committee", com, "--head", headFile, "--version", "1", "-o", "/dev/null"); code != 0 {
		t.Fatalf("models get -o /dev/null: exit %d: %s", code, errOut)
	}
	meta := func(v int) map[string]string {
		t.Helper()
		out := filepath.Join(dir, fmt.Sprintf("m%d.safetensors", v))
		if _, errOut, code := floeRun(t, "models", "get", "--committee", com, "--head", headFile, "--version", fmt.Sprint(v), "-o", out); code != 0 {
			t.Fatalf("models get --version %d: %s", v, errOut)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		_, m, err := model.UnmarshalSafetensors(b)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if j, ok := meta(0)["floe.job"]; ok {
		t.Fatalf("version 0 claims job %q", j)
	}
	m1 := meta(1)
	if !strings.Contains(coord.stderr.String(), "job="+m1["floe.job"]) || m1["floe.job"] == "" || m1["floe.round"] != "1" {
		t.Fatalf("version 1 metadata %v does not name the coordinator's job (log:\n%s)", m1, tail(coord.stderr.String(), 1500))
	}
}
