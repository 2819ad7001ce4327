package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floe-fl/floe/sims"
)

// TestCLISimScenario runs floe sim --scenario with flags on top: the flags
// override the file's fields, the resolved scenario is printed and written
// to OUT/scenario.yaml, and running that file again makes the same chain
// (memory network). A scenario with an unknown field is a usage error that
// names it.
func TestCLISimScenario(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "small.yaml")
	const src = `# a small attacked federation
seed: 9
net: memory
participants: 5
cohort: 4
rounds: 5
rule: trimmedmean
rule_params: {beta: 0.2}
attackers: 1
attack: gaussian
dropout: 0.2
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out1 := filepath.Join(dir, "out1")
	stdout, stderr, code := floeRun(t, "sim", "--quiet", "--scenario", file, "--rounds", "2", "--seed", "11", "--out", out1)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	if !strings.Contains(stdout, "floe sim: scenario "+file+", resolved:\nseed: 11\nnet: memory\n") || !strings.Contains(stdout, "\nrounds: 2\n") {
		t.Fatalf("the resolved scenario is not printed first:\n%s", stdout)
	}
	s, err := sims.LoadScenario(filepath.Join(out1, "scenario.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Seed != 11 || s.Rounds != 2 || s.Participants != 5 || s.Cohort != 4 || s.Rule != "trimmedmean" || s.RuleParams["beta"] != 0.2 ||
		s.Attackers != 1 || s.Attack != "gaussian" || s.Dropout != 0.2 || s.Net != "memory" {
		t.Fatalf("OUT/scenario.yaml is not the file with the flags on top: %+v", s)
	}
	head1 := chainHead(t, stdout)
	if got := readHead(t, out1); got != head1 {
		t.Fatalf("OUT/head %s, printed %s", got, head1)
	}
	if n := len(metricsRows(t, out1)); n != 2 {
		t.Fatalf("%d rounds in metrics.csv, want 2", n)
	}

	out2 := filepath.Join(dir, "out2")
	stdout, stderr, code = floeRun(t, "sim", "--quiet", "--scenario", filepath.Join(out1, "scenario.yaml"), "--out", out2)
	if code != 0 {
		t.Fatalf("rerun: exit %d: %s\n%s", code, stderr, stdout)
	}
	if head2 := chainHead(t, stdout); head2 != head1 {
		t.Fatalf("rerunning OUT/scenario.yaml made head %s, the first run %s", head2, head1)
	}
	b1, _ := os.ReadFile(filepath.Join(out1, "scenario.yaml"))
	b2, _ := os.ReadFile(filepath.Join(out2, "scenario.yaml"))
	if strip := func(b []byte) string { _, rest, _ := strings.Cut(string(b), "\n"); return rest }; strip(b1) != strip(b2) {
		t.Fatalf("the rerun resolved another scenario:\n%s\n%s", b1, b2)
	}

	// --rule replaces the rule and its parameters; --rule-param the parameters.
	out3 := filepath.Join(dir, "out3")
	stdout, stderr, code = floeRun(t, "sim", "--quiet", "--scenario", file, "--rounds", "1", "--rule", "median", "--attackers", "0", "--out", out3)
	if code != 0 {
		t.Fatalf("--rule: exit %d: %s\n%s", code, stderr, stdout)
	}
	if s, err := sims.LoadScenario(filepath.Join(out3, "scenario.yaml")); err != nil || s.Rule != "median" || len(s.RuleParams) != 0 || s.Attackers != 0 {
		t.Fatalf("--rule median --attackers 0 resolved to %+v (%v)", s, err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(src+"participantz: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = floeRun(t, "sim", "--scenario", bad, "--out", filepath.Join(dir, "out4"))
	if code != 2 || !strings.Contains(stderr, `unknown field "participantz"`) || !strings.Contains(stderr, bad) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("unknown field: exit %d, stderr %q", code, stderr)
	}
}

// TestCLISimInterrupt interrupts a long floe sim (SIGINT, as Ctrl-C) once
// it printed round 2: it exits 130 and leaves metrics.csv, summary.json
// (marked interrupted) and accuracy.png of the rounds it finished, and
// their audit.
func TestCLISimInterrupt(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	p := startProc(t, "sim", "--quiet", "--net", "memory", "--participants", "4", "--cohort", "4", "--rounds", "1000", "--out", out)
	round2 := regexp.MustCompile(`(?m)^\s+2\s+ok\s`)
	waitFor(t, "round 2 in floe sim's output", time.Minute, func() bool { return round2.MatchString(p.stdout.String()) })
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatal("floe sim still runs a minute after SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want status %d\n%s", p.err, exitInterrupted, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "interrupted after") {
		t.Fatalf("stderr %q", p.stderr.String())
	}
	rows := metricsRows(t, out)
	if len(rows) < 2 || len(rows) >= 1000 {
		t.Fatalf("%d rounds in metrics.csv, want the 2 or more finished", len(rows))
	}
	var sum struct {
		Interrupted bool   `json:"interrupted"`
		Head        string `json:"head"`
		Rounds      []struct {
			Round  uint64 `json:"round"`
			Status string `json:"status"`
		} `json:"rounds"`
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || len(sum.Rounds) != len(rows) || sum.Head != rows[len(rows)-1][8] || sum.Head != readHead(t, out) {
		t.Fatalf("summary.json: interrupted %v, %d rounds (metrics.csv %d), head %s", sum.Interrupted, len(sum.Rounds), len(rows), sum.Head)
	}
	for i, r := range sum.Rounds {
		if r.Round != uint64(i+1) || r.Status != "ok" {
			t.Fatalf("summary.json round %d: %+v", i+1, r)
		}
	}
	if st, err := os.Stat(filepath.Join(out, "accuracy.png")); err != nil || st.Size() == 0 {
		t.Fatalf("accuracy.png: %v", err)
	}
	if !strings.Contains(p.stdout.String(), "audit: verified") {
		t.Fatalf("the finished rounds were not audited:\n%s", tail(p.stdout.String(), 1000))
	}
}

// chainHead is the head floe sim printed.
func chainHead(t *testing.T, stdout string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^chain head (\S+)$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no chain head in:\n%s", stdout)
	}
	return m[1]
}

func readHead(t *testing.T, out string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "head"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// metricsRows are metrics.csv's rows after the header.
func metricsRows(t *testing.T, out string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(out, "metrics.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 || rows[0][0] != "round" {
		t.Fatalf("metrics.csv: %v (%d rows)", err, len(rows))
	}
	return rows[1:]
}
