package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/floe-fl/floe/sims"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// freeAddr returns a loopback TCP address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape reads addr's /metrics with the Prometheus text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	waitFor(t, "metrics at "+addr, 20*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err = p.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("parse metrics of %s: %v", addr, err)
		}
		return true
	})
	return fams
}

// sample returns the value of the series of fams[name] whose labels include
// labels (pairs): a counter's or gauge's value, a histogram's count.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
series:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
			}
			if !found {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func hasPrefix(fams map[string]*dto.MetricFamily, prefix string) bool {
	for n := range fams {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// checkSnake fails on any JSON object key (outside data maps, listed in
// dataMaps) that is not snake_case.
func checkSnake(t *testing.T, v any, path string, dataMaps map[string]bool) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if !dataMaps[path] && !snakeKey.MatchString(k) {
				t.Errorf("JSON key %s.%s is not snake_case", path, k)
			}
			checkSnake(t, e, path+"."+k, dataMaps)
		}
	case []any:
		for _, e := range x {
			checkSnake(t, e, path+"[]", dataMaps)
		}
	}
}

const statusJob = `name: status-e2e
model: logreg:60-10
seed: 3
rounds: 1000
cohort_size: 3
quorum: 2
min_participants: 3
deadline: 20s
train: {epochs: 1, batch_size: 10, lr: 0.05}
aggregation: {rule: fedavg}
privacy: sealed
`

// TestCLIStatusAndMetrics runs storage nodes, a coordinator and participants
// as processes with --metrics-addr, reads `floe status --json` and scrapes
// each /metrics before and after a round. The job has more rounds than the
// test waits for, so that no process exits before it is scraped.
func TestCLIStatusAndMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	dir := t.TempDir()
	nodeMetrics := freeAddr(t)
	var addrs []string
	for i := 0; i < 4; i++ {
		n := &nodeProc{key: filepath.Join(dir, fmt.Sprintf("n%d.key", i)), data: filepath.Join(dir, fmt.Sprintf("n%d", i)), addrFile: filepath.Join(dir, fmt.Sprintf("n%d.addrs", i))}
		var extra []string
		if i == 0 {
			extra = []string{"--metrics-addr", nodeMetrics}
		}
		addrs = append(addrs, n.start(t, extra...))
	}
	com := filepath.Join(dir, "committee")
	writeCommittee(t, com, addrs)
	job := filepath.Join(dir, "job.yaml")
	os.WriteFile(job, []byte(statusJob), 0o644)
	coordMetrics := freeAddr(t)
	coord := startProc(t, "coordinator", "--key", filepath.Join(dir, "coord.key"), "--data", filepath.Join(dir, "coord"),
		"--committee", com, "--job", job, "--addr-file", filepath.Join(dir, "coord.addrs"),
		"--eval-dataset", "synthetic", "--eval-clients", "3", "--eval-data-seed", "3", "--metrics-addr", coordMetrics)
	var caddr string
	waitFor(t, "coordinator address", 30*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "coord.addrs"))
		caddr, _, _ = strings.Cut(string(b), "\n")
		return caddr != ""
	})

	status := func() (map[string]any, statusJSON) {
		t.Helper()
		out, errOut, code := floeRun(t, "status", "--coordinator", caddr, "--json")
		if code != 0 {
			t.Fatalf("floe status --json: exit %d: %s", code, errOut)
		}
		var raw map[string]any
		var v statusJSON
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("floe status --json printed %q: %v", out, err)
		}
		json.Unmarshal([]byte(out), &v)
		checkSnake(t, raw, "", map[string]bool{".submissions_by_status": true, ".rounds_recent[].metrics": true})
		return raw, v
	}
	raw, st := status()
	for _, k := range []string{"job_id", "job_name", "rounds", "round", "phase", "cohort", "quorum", "submissions_received",
		"submissions_by_status", "time_to_deadline_seconds", "head", "rounds_recent", "deadline_seconds"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("floe status --json lacks %q", k)
		}
	}
	if st.JobName != "status-e2e" || st.Rounds != 1000 || st.Quorum != 2 || st.Round != 0 || st.Phase != "waiting" || st.DeadlineSeconds != 20 {
		t.Fatalf("status before participants: %+v", st)
	}
	if text, errOut, code := floeRun(t, "status", "--coordinator", caddr); code != 0 || !strings.Contains(text, "status-e2e") {
		t.Fatalf("floe status: exit %d\n%s%s", code, text, errOut)
	}

	cm := scrape(t, coordMetrics)
	for _, name := range []string{"floe_rounds_total", "floe_round_phase_seconds", "floe_journal_sync_seconds", "floe_round",
		"floe_blob_put_seconds", "floe_blob_put_bytes_total", "floe_blob_get_seconds", "floe_blob_get_bytes_total"} {
		if _, ok := cm[name]; !ok {
			t.Errorf("coordinator metrics lack %s", name)
		}
	}
	if !hasPrefix(cm, "libp2p_rcmgr_") {
		t.Errorf("coordinator metrics lack libp2p's resource-manager metrics")
	}
	if v, _ := sample(cm, "floe_rounds_total", "status", "ok"); v != 0 {
		t.Errorf("floe_rounds_total{status=ok} = %v before any round", v)
	}
	putsBefore, _ := sample(cm, "floe_blob_put_seconds")

	partMetrics := freeAddr(t)
	for i := 0; i < 3; i++ {
		args := []string{"participant", "--key", filepath.Join(dir, fmt.Sprintf("p%d.key", i)), "--coordinator", caddr,
			"--committee", com, "--dataset", "synthetic", "--clients", "3", "--index", fmt.Sprint(i), "--data-seed", "3"}
		if i == 0 {
			args = append(args, "--metrics-addr", partMetrics)
		}
		startProc(t, args...)
	}
	waitFor(t, "round 1 committed", 90*time.Second, func() bool { return strings.Contains(coord.stdout.String(), "round 1 ok") })
	line := ""
	for _, l := range strings.Split(coord.stdout.String(), "\n") {
		if strings.HasPrefix(l, "round 1 ok head ") {
			line = l
		}
	}
	if !strings.Contains(line, " accuracy ") || !strings.Contains(line, " loss ") || !strings.Contains(line, " accepted ") {
		t.Errorf("commit line %q lacks the round's counts and metrics", line)
	}

	_, st = status()
	if len(st.RoundsRecent) == 0 {
		t.Fatalf("status after round 1 lists no recent round: %+v", st)
	}
	r1 := st.RoundsRecent[0]
	if r1.Round != 1 || r1.Status != "ok" || r1.Accepted < 2 || r1.Metrics["accuracy"] <= 0 || !strings.Contains(line, r1.Head) {
		t.Errorf("round 1 in status: %+v (commit line %q)", r1, line)
	}
	if st.Round < 2 && st.Phase != "done" {
		t.Errorf("status after round 1: round %d phase %s", st.Round, st.Phase)
	}

	cm = scrape(t, coordMetrics)
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"floe_rounds_total", []string{"status", "ok"}, 1},
		{"floe_submissions_total", []string{"status", "accepted"}, 2},
		{"floe_update_bytes_total", nil, 1},
		{"floe_round", nil, 1},
		{"floe_round_metric", []string{"name", "accuracy"}, 1e-9},
		{"floe_round_phase_seconds", []string{"phase", "collecting"}, 1},
		{"floe_round_phase_seconds", []string{"phase", "folding"}, 1},
		{"floe_round_phase_seconds", []string{"phase", "committing"}, 1},
		{"floe_journal_sync_seconds", nil, 1},
		{"floe_blob_get_bytes_total", nil, 1},
		{"floe_blob_put_seconds", nil, putsBefore + 1},
	} {
		if v, ok := sample(cm, c.name, c.labels...); !ok || v < c.min {
			t.Errorf("coordinator %s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	nm := scrape(t, nodeMetrics)
	for _, c := range []struct {
		name string
		min  float64
	}{{"floe_slivers_stored_total", 3}, {"floe_slivers_served_total", 1}, {"floe_slivers_repaired_total", 0}, {"floe_slivers_invalid_total", 0}} {
		if v, ok := sample(nm, c.name); !ok || v < c.min {
			t.Errorf("storage node %s = %v (present %v), want at least %v", c.name, v, ok, c.min)
		}
	}
	if !hasPrefix(nm, "libp2p_rcmgr_") {
		t.Errorf("storage node metrics lack libp2p's resource-manager metrics")
	}
	pm := scrape(t, partMetrics)
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"floe_submissions_total", []string{"status", "accepted"}, 1},
		{"floe_update_bytes_total", nil, 1},
		{"floe_train_seconds", nil, 1},
		{"floe_blob_put_seconds", nil, 1},
		{"floe_blob_put_bytes_total", nil, 1},
		{"floe_blob_get_bytes_total", nil, 1},
	} {
		if v, ok := sample(pm, c.name, c.labels...); !ok || v < c.min {
			t.Errorf("participant %s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	if !hasPrefix(pm, "libp2p_rcmgr_") {
		t.Errorf("participant metrics lack libp2p's resource-manager metrics")
	}
}

// TestSimSummaryOptionsSchema: summary.json's options follow the JSON
// convention (snake_case keys, durations in seconds, no logger).
func TestSimSummaryOptionsSchema(t *testing.T) {
	o := sims.DefaultOptions()
	o.Logger = slog.Default()
	b, err := json.Marshal(newSummaryOptions(o))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	checkSnake(t, raw, "", map[string]bool{".rule_params": true})
	if raw["deadline_seconds"] != o.Deadline.Seconds() {
		t.Errorf("deadline_seconds = %v, want %v", raw["deadline_seconds"], o.Deadline.Seconds())
	}
	if _, ok := raw["logger"]; ok {
		t.Error("summary options hold the logger")
	}
}
