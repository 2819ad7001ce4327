package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floe-fl/floe/blob"
	"github.com/floe-fl/floe/blob/walrus/walrustest"
)

const walrusJob = `name: walrus-e2e
model: logreg:60-10
seed: 3
rounds: 3
cohort_size: 3
quorum: 2
min_participants: 3
deadline: 20s
train: {epochs: 1, batch_size: 10, lr: 0.05}
aggregation: {rule: fedavg}
privacy: plain
store: walrus
`

// TestCLIWalrusFlags: the store flags are usage errors (exit 2, one line)
// when they do not fit together, before anything starts.
func TestCLIWalrusFlags(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	os.WriteFile(f, []byte("x"), 0o644)
	id := strings.Repeat("A", 43)
	w := []string{"--store", "walrus", "--publisher", "http://127.0.0.1:1", "--aggregator", "http://127.0.0.1:1"}
	sim := []string{"sim", "--quiet", "--out", filepath.Join(dir, "out"), "--store", "walrus"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"coordinator", "--key", "k", "--data", "d", "--job", "j", "--store", "walrus", "--aggregator", "http://a"}, "--publisher URL and --aggregator URL"},
		{append([]string{"coordinator", "--key", "k", "--data", "d", "--job", "j", "--committee", "c"}, w...), "takes no --committee"},
		{[]string{"coordinator", "--key", "k", "--data", "d", "--job", "j"}, "--committee FILE is required (or --store walrus"},
		{[]string{"participant", "--key", "k", "--coordinator", "c", "--committee", "c", "--publisher", "http://a"}, "--publisher is for --store walrus"},
		{append([]string{"participant", "--key", "k", "--coordinator", "c", "--epochs", "0"}, w...), "--epochs"},
		{[]string{"audit", "--head", id, "--store", "walrus"}, "needs --aggregator URL"},
		{[]string{"audit", "--head", id, "--store", "s3", "--aggregator", "http://a"}, `--store "s3"`},
		{[]string{"audit", "--head", id, "--store", "walrus", "--aggregator", "ftp://a"}, `--aggregator "ftp://a"`},
		{[]string{"audit", "--head", id, "--store", "walrus", "--aggregator", "http://a", "--epochs", "3"}, "-epochs"},
		{[]string{"models", "list", "--head", id, "--store", "walrus"}, "--aggregator"},
		{append(append([]string{"blob", "put", "--wait-all"}, w...), f), "--wait-all"},
		{[]string{"blob", "put", "--store", "walrus", "--aggregator", "http://a", f}, "--publisher"},
		{[]string{"blob", "get", "--store", "walrus", "--committee", "c", "-o", "x", id}, "takes no --committee"},
		{append(sim, "--nodes", "7"), "--nodes"},
		{append(sim, "--dead-nodes", "1"), "--dead-nodes"},
		{append(sim, "--publisher", "http://a"), "both"},
		{[]string{"sim", "--quiet", "--out", filepath.Join(dir, "out"), "--aggregator", "http://a", "--publisher", "http://a"}, "need --store walrus"},
	} {
		_, stderr, code := floeRun(t, c.args...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("floe %s: exit %d, stderr %q; want exit 2 and one line with %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}

	// The job file and the flags must agree on the store, before anything
	// is stored.
	walrusFile, plainFile := filepath.Join(dir, "walrus.yaml"), filepath.Join(dir, "plain.yaml")
	os.WriteFile(walrusFile, []byte(walrusJob), 0o644)
	os.WriteFile(plainFile, []byte(strings.Replace(walrusJob, "store: walrus\n", "", 1)), 0o644)
	com := filepath.Join(dir, "committee")
	writeCommittee(t, com, []string{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"})
	for _, c := range []struct {
		args []string
		want string
	}{
		{append([]string{"--job", plainFile}, w...), "keeps its blobs on floe's storage nodes"},
		{[]string{"--job", walrusFile, "--committee", com}, "keeps its blobs on Walrus (store: walrus): run with --store walrus"},
	} {
		args := append([]string{"coordinator", "--key", filepath.Join(dir, "coord.key"), "--data", filepath.Join(dir, "coord"), "--listen", "/ip4/127.0.0.1/tcp/0"}, c.args...)
		_, stderr, code := floeRun(t, args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("floe %s: exit %d, stderr %q; want exit 2 saying %q", strings.Join(args, " "), code, stderr, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "coord", "job")); err == nil {
			t.Fatalf("a coordinator refused for its store made a job")
		}
	}
}

// TestCLIWalrusJob runs a job on Walrus (an in-process test server) as
// separate processes: a coordinator and three participants with --store
// walrus and no storage node. The chain then lists, fetches and audits from
// the aggregator alone, blob put/get/stat work on it, and when the
// aggregator answers other bytes for round 2's model the audit fails there.
func TestCLIWalrusJob(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	srv := walrustest.New()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	job := filepath.Join(dir, "job.yaml")
	os.WriteFile(job, []byte(walrusJob), 0o644)
	w := []string{"--store", "walrus", "--publisher", srv.URL, "--aggregator", srv.URL}
	headFile := filepath.Join(dir, "head")
	coord := startProc(t, append([]string{"coordinator", "--key", filepath.Join(dir, "coord.key"), "--data", filepath.Join(dir, "coord"),
		"--job", job, "--listen", "/ip4/127.0.0.1/tcp/0", "--addr-file", filepath.Join(dir, "coord.addrs"), "--head-file", headFile,
		"--eval-dataset", "synthetic", "--eval-clients", "3", "--eval-data-seed", "3", "--epochs", "5"}, w...)...)
	var caddr string
	waitFor(t, "coordinator address", 30*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "coord.addrs"))
		caddr, _, _ = strings.Cut(string(b), "\n")
		return caddr != ""
	})
	var parts []*proc
	for i := 0; i < 3; i++ {
		parts = append(parts, startProc(t, append([]string{"participant", "--key", filepath.Join(dir, fmt.Sprintf("p%d.key", i)), "--coordinator", caddr,
			"--dataset", "synthetic", "--clients", "3", "--index", fmt.Sprint(i), "--data-seed", "3"}, w...)...))
	}
	waitFor(t, "job done", 2*time.Minute, func() bool { return strings.Contains(coord.stdout.String(), "job done") })
	for i, p := range parts {
		select {
		case <-p.done:
			if p.err != nil {
				t.Fatalf("participant %d: %v\n%s", i, p.err, tail(p.stderr.String(), 2000))
			}
		case <-time.After(time.Minute):
			t.Fatalf("participant %d did not finish", i)
		}
	}
	agg := []string{"--store", "walrus", "--aggregator", srv.URL}
	list, errOut, code := floeRun(t, append([]string{"models", "list", "--head", headFile}, agg...)...)
	if code != 0 || strings.Count(list, " ok ") != 3 {
		t.Fatalf("models list: exit %d\n%s%s", code, list, errOut)
	}
	model := filepath.Join(dir, "m3.safetensors")
	if _, errOut, code := floeRun(t, append([]string{"models", "get", "--head", headFile, "--version", "3", "-o", model}, agg...)...); code != 0 {
		t.Fatalf("models get: %s", errOut)
	}
	out, errOut, code := floeRun(t, append([]string{"audit", "--head", headFile}, agg...)...)
	if code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("audit: exit %d\n%s%s", code, out, errOut)
	}

	// blob put, get and stat on Walrus.
	in := filepath.Join(dir, "in")
	os.WriteFile(in, []byte("a blob on walrus"), 0o644)
	certFile := filepath.Join(dir, "cert")
	idOut, errOut, code := floeRun(t, append([]string{"blob", "put", "--cert-out", certFile, "--lifetime", "48h", in}, w...)...)
	if code != 0 {
		t.Fatalf("blob put: exit %d: %s", code, errOut)
	}
	id := strings.TrimSpace(idOut)
	if c, err := os.ReadFile(certFile); err != nil || len(c) == 0 {
		t.Fatalf("certificate: %v", err)
	}
	got, errOut, code := floeRun(t, append([]string{"blob", "get", id, "-o", "-"}, agg...)...)
	if code != 0 || got != "a blob on walrus" {
		t.Fatalf("blob get: exit %d, %q %s", code, got, errOut)
	}
	st, errOut, code := floeRun(t, append([]string{"blob", "stat", "--json", id}, agg...)...)
	var stat struct {
		Readable bool `json:"readable"`
		Bytes    int  `json:"bytes"`
	}
	if code != 0 || json.Unmarshal([]byte(st), &stat) != nil || !stat.Readable || stat.Bytes != 16 {
		t.Fatalf("blob stat: exit %d, %s %s", code, st, errOut)
	}

	// The aggregator alters round 2's model: the audit fails at round 2.
	var m2 string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "2" {
			m2 = f[1]
		}
	}
	mid, err := blob.ParseID(m2)
	if err != nil {
		t.Fatalf("round 2's model in %q: %v", list, err)
	}
	if !srv.Corrupt(mid) {
		t.Fatal("the Walrus server does not hold round 2's model")
	}
	out, errOut, code = floeRun(t, append([]string{"audit", "--head", headFile}, agg...)...)
	if code != 1 || !strings.Contains(out+errOut, "round 2") {
		t.Fatalf("audit of an altered model: exit %d\n%s%s", code, out, errOut)
	}
}

// TestCLISimWalrus: `floe sim --store walrus` runs on an in-process Walrus
// server, leaves no storage nodes nor committee, and audits its chain.
func TestCLISimWalrus(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := floeRun(t, "sim", "--quiet", "--store", "walrus", "--rounds", "3", "--participants", "5", "--cohort", "4", "--crashes", "1", "--out", out)
	if code != 0 || !strings.Contains(stdout, "audit: verified") || !strings.Contains(stdout, "blobs on Walrus") {
		t.Fatalf("sim exit %d:\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"committee", "nodes"} {
		if _, err := os.Stat(filepath.Join(out, f)); !os.IsNotExist(err) {
			t.Fatalf("walrus sim left %s (%v)", f, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Options struct {
			Store string `json:"store"`
			Nodes int    `json:"nodes"`
		} `json:"options"`
	}
	if err := json.Unmarshal(b, &sum); err != nil || sum.Options.Store != "walrus" || sum.Options.Nodes != 0 {
		t.Fatalf("summary options %+v (%v)", sum.Options, err)
	}
}
